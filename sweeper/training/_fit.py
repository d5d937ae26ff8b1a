"""A training step of the user's own: :class:`FitTrainer` trains each candidate with the user's
``fit`` function instead of the packed trainer.

The contract of a training step (``[model] fit = "module:function"``, or ``model={"fit":
function}`` in the API)::

    def fit(model: keras.Model, loss: keras.losses.Loss, arguments: FitArguments) -> keras.Model

- ``model`` is a fresh, uncompiled model: the user's factory's (``[model] factory``) or the
  built-in MLP (:func:`~sweeper.training.build_mlp`), built with the study's seed, so every
  candidate starts from the same weights;
- ``loss`` is the candidate's weighted loss, a Keras loss object from the loss registry (the
  same function the packed trainer minimises for that candidate), for ``(batch, outputs)``
  logits;
- ``arguments`` (:class:`FitArguments`) holds the training rows ``x``, ``y``, the
  ``validation_data`` (the member's own fold under cross-validation), the epoch budget, the
  batch size, the seed, and helpers for the study's optimizer and early stopping;
- it trains the model its own way (``model.compile`` + ``model.fit`` with any callbacks and
  arguments, or a loop of its own) and returns the trained model, whose logits the sweeper
  then scores on the validation and test rows exactly as it scores packed members.

A deferred candidate (deferred re-weighting) calls the step twice on the same model: first
with the unweighted loss up to its switch epoch (``arguments.epochs`` is the switch, and
``arguments.early_stopping()`` never stops: the packed trainer does not judge a deferred member
before its switch), then with the weighted loss from ``arguments.initial_epoch`` (the switch)
to the end of its deferral length (``arguments.epochs``), with the first call's optimizer
and its state (``arguments.optimizer()`` returns it), as a lone model recompiled with the
weighted loss trains. A step passes
``initial_epoch=arguments.initial_epoch`` to ``fit`` (0 for every other call).

Trials on this path are not packed: each candidate (each fold member under cross-validation)
is one model trained on its own, so a batch costs one ``fit`` per member.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from sweeper.config import ModelConfig, Task
from sweeper.data import Features, Splits
from sweeper.errors import FactoryError, one_line
from sweeper.evaluation import probabilities
from sweeper.training._interface import BatchScores, Trainer, TrainingProgress
from sweeper.training._losses import TrainingLoss, as_loss_parameters, loss_for
from sweeper.training._models import (
    ModelFactory,
    build_mlp,
    dtype_policy,
    model_input_dtype,
)
from sweeper.training._optimizers import build_optimizer
from sweeper.training._packed import fold_scores, label_array, score_chunk

__all__ = ["FitArguments", "FitStep", "FitTrainer", "check_fit"]

FitStep = Callable[[keras.Model, keras.losses.Loss, "FitArguments"], keras.Model]
"""``fit(model, loss, arguments) -> trained model`` (see the module docstring)."""


@dataclass
class FitArguments:
    """What a training step gets besides the model and the loss: the rows, the budget, and
    the study's training settings as ready-made Keras objects."""

    x: np.ndarray
    """Training features (standardised as the study says)."""
    y: np.ndarray
    """Training labels: 0/1 floats per label (binary, multi-label) or int32 class ids."""
    validation_data: tuple[np.ndarray, np.ndarray]
    """``(x, y)`` of the rows this model is judged on: the validation split, or the member's
    own fold under cross-validation."""
    epochs: int
    """The epoch to train up to, as Keras's ``fit(epochs=...)``: the epoch budget (``[model]
    epochs``, ``"auto"`` resolved), or a deferred candidate's switch in its first call."""
    batch_size: int
    seed: int
    model_config: ModelConfig = field(repr=False)
    """The study's ``[model]`` settings."""
    initial_epoch: int = 0
    """The epoch this call starts at (Keras's ``fit(initial_epoch=...)``): 0, or a deferred
    candidate's switch in its second call."""
    judged: bool = True
    """Whether :meth:`early_stopping` may stop this call (not before a deferred switch)."""
    schedule_epochs: int | None = None
    """The trial's epochs the learning-rate schedule spans (default: :attr:`epochs`)."""
    weight_decay: float | None = None
    """The trial's searched weight decay (``[search] weight_decay``), which
    :meth:`optimizer` sets; ``None``: the optimizer's own."""
    carried_optimizer: keras.optimizers.Optimizer | None = field(default=None, repr=False)
    """A deferred candidate's first-call optimizer, which its second call trains on with."""
    built_optimizers: list[keras.optimizers.Optimizer] = field(
        default_factory=list, repr=False
    )
    early_stopping_callbacks: list[keras.callbacks.EarlyStopping] = field(
        default_factory=list, repr=False
    )

    def optimizer(self) -> keras.optimizers.Optimizer:
        """A fresh optimizer of ``[model] optimizer``, with its learning rate, schedule over
        the trial's epochs, clipping and the trial's weight decay: what a packed member trains
        with. In a deferred candidate's second call, the first call's optimizer, its state
        carried on."""
        if self.carried_optimizer is not None:
            return self.carried_optimizer
        steps = -(-self.x.shape[0] // self.batch_size)
        built = build_optimizer(self.model_config, steps_per_epoch=steps,
                                epochs=self.schedule_epochs or self.epochs,
                                weight_decay=self.weight_decay)
        self.built_optimizers.append(built)
        return built

    def early_stopping(self) -> keras.callbacks.EarlyStopping:
        """Keras's ``EarlyStopping`` on ``val_loss`` with ``[model] patience`` and the best
        weights restored, as the packed trainer stops; the sweeper records its best epoch.
        Before a deferred candidate's switch (its first call) one that never stops."""
        if not self.judged:
            return keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.epochs + 1)
        callback = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=max(self.model_config.patience, 1),
            restore_best_weights=True,
        )
        self.early_stopping_callbacks.append(callback)
        return callback

    def trained_epochs(self, model: keras.Model) -> int | None:
        """The epochs the returned model's weights trained for: early stopping's best epoch
        (+1) when :meth:`early_stopping` was used and restored it, else the last epoch (+1)
        Keras's history of the last ``fit`` ran; ``None`` when neither is known (a loop of
        its own)."""
        for callback in self.early_stopping_callbacks:
            best_epoch = getattr(callback, "best_epoch", None)
            if best_epoch is not None and getattr(callback, "best_weights", None) is not None:
                return int(best_epoch) + 1
        history = getattr(model, "history", None)
        epochs = getattr(history, "epoch", None)
        return int(epochs[-1]) + 1 if epochs else None


def _function_name(function: Callable[..., Any]) -> str:
    return getattr(function, "__name__", "the training step")


class FitTrainer(Trainer):
    """Trains each member with the user's training step (:data:`FitStep`), one model at a time.

    Args:
        splits: the study's splits (cross-validation: one model per fold and candidate).
        model: the study's ``[model]`` settings.
        members: candidates per batch.
        seed: every model's initialisation seed (the factory is called after
            ``keras.utils.set_random_seed(seed)``; the built-in MLP is built from it).
        fit: the training step.
        factory: the user's model factory, or ``None`` for the built-in MLP.
        loss: the loss to train with (default: the task's, each member's remedy's).
    """

    def __init__(
        self,
        splits: Splits,
        model: ModelConfig,
        *,
        members: int,
        seed: int,
        fit: FitStep,
        factory: ModelFactory | None = None,
        loss: TrainingLoss | None = None,
    ) -> None:
        self.splits = splits
        self.spec, _ = model.fitted_to(splits.rows_per_model)
        self.members = members
        self.seed = seed
        self.fit = fit
        self.factory = factory
        self.task: Task = splits.train.task
        self.loss = loss_for(self.task) if loss is None else loss

    def fresh_model(self) -> keras.Model:
        """A new, uncompiled model from the study's seed: the factory's or the built-in MLP."""
        train = self.splits.train
        keras.utils.set_random_seed(self.seed)
        with dtype_policy(self.spec.precision):
            if self.factory is not None:
                return self.factory(train.input_shape, train.n_outputs)
            assert self.spec.layers is not None  # no factory: the built-in MLP
            if len(train.input_shape) > 1:
                return flattened(build_mlp(train.n_features, train.n_outputs,
                                           self.spec.layers, seed=self.seed),
                                 train.input_shape)
            return build_mlp(train.n_features, train.n_outputs, self.spec.layers,
                             seed=self.seed)

    @functools.cached_property
    def validation_data(self) -> tuple[np.ndarray, np.ndarray]:
        """The validation split's ``(x, y)`` as arrays, read once for every model the trainer
        trains (a memory map's view is read here, not once per member)."""
        validation = self.splits.validation
        return np.asarray(validation.X), label_array(validation.y, self.task)

    def fold_rows(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per fold member, the training rows it learns from and the rows it is judged on."""
        train = self.splits.train
        if self.splits.folds is None:
            return [(np.arange(train.X.shape[0]), np.array([], dtype=np.int64))]
        return [(np.flatnonzero(self.splits.folds != k), np.flatnonzero(self.splits.folds == k))
                for k in range(self.splits.n_folds)]

    def train_one(self, parameters: Mapping[str, np.ndarray], learn: np.ndarray,
                  judge: np.ndarray, switch: int = 0, until: int = 0,
                  weight_decay: float | None = None) -> tuple[keras.Model, int | None]:
        """One model trained by the user's step with one member's loss parameters; a deferred
        one (``switch > 0``) in two calls, unweighted up to its switch, then weighted up to
        ``until`` (its deferral length; 0: the trial's epochs)."""
        assert self.spec.epochs is not None and self.spec.batch_size is not None
        train = self.splits.train
        y = label_array(train.y, self.task)
        # The user's step takes NumPy arrays (Keras's fit): a memory map's view is read here.
        held = self.validation_data if self.splits.folds is None else (train.X[judge], y[judge])
        epochs = min(until, self.spec.epochs) if until > 0 else self.spec.epochs
        arguments = FitArguments(
            x=train.X[learn], y=y[learn], validation_data=held, epochs=epochs,
            batch_size=self.spec.batch_size, seed=self.seed, model_config=self.spec,
            schedule_epochs=self.spec.epochs,  # the packed members' schedule spans these
            weight_decay=weight_decay,
        )
        model = self.fresh_model()
        if switch > 0:
            unweighted = {**parameters, "weights": np.ones_like(parameters["weights"])}
            first = dataclasses.replace(arguments, epochs=switch, judged=False)
            model = call_fit(self.fit, model, self.loss.keras_loss(unweighted), first)
            arguments = dataclasses.replace(
                arguments, initial_epoch=switch,
                carried_optimizer=first.built_optimizers[-1] if first.built_optimizers
                else None)
        trained = call_fit(self.fit, model, self.loss.keras_loss(parameters), arguments)
        return trained, arguments.trained_epochs(trained)

    def train_and_score(self, parameters: Mapping[str, Any]) -> BatchScores:
        """Train every member (every fold member) with the user's step and score it."""
        started = time.perf_counter()
        parameters = as_loss_parameters(parameters)
        switches, untils = (
            np.broadcast_to(np.asarray(parameters.pop(name, 0), dtype=np.int64), (self.members,))
            for name in ("switch", "until"))
        decays = parameters.pop("weight_decay", None)
        folds = self.fold_rows()
        n_outputs = self.splits.train.n_outputs
        shape = lambda split: (self.members, len(folds), split.X.shape[0], n_outputs)  # noqa: E731
        validation = np.zeros(shape(self.splits.validation), np.float32)
        test = np.zeros(shape(self.splits.test), np.float32)
        epochs: list[int | None] = []
        models = self.members * len(folds)
        for member in range(self.members):
            one = {name: value[member] for name, value in parameters.items()}
            for k, (learn, judge) in enumerate(folds):
                trained, trained_epochs = self.train_one(
                    one, learn, judge, switch=int(switches[member]), until=int(untils[member]),
                    weight_decay=None if decays is None else float(decays[member]))
                epochs.append(trained_epochs)
                done = len(epochs)
                self.report(TrainingProgress(epoch=done, epochs=models, training=models - done,
                                             members=models, unit="model"))
                for split, out in ((self.splits.validation, validation),
                                   (self.splits.test, test)):
                    out[member, k] = probabilities(
                        scored_logits(trained, split.X, n_outputs, self.fit), self.task
                    )
        known = None if any(e is None for e in epochs) else np.asarray(epochs)
        return fold_scores(validation, test, self.splits, known, time.perf_counter() - started)


def flattened(mlp: keras.Model, input_shape: tuple[int, ...]) -> keras.Model:
    """The built-in MLP on samples of ``input_shape``, flattened first (as the packed MLP
    does)."""
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, mlp(keras.layers.Flatten()(inputs)))


def call_fit(fit: FitStep, model: keras.Model, loss: keras.losses.Loss,
             arguments: FitArguments) -> keras.Model:
    """The user's step called; what it returns must be a Keras model."""
    trained = fit(model, loss, arguments)
    if not isinstance(trained, keras.Model):
        raise FactoryError(
            f"[model] fit: {_function_name(fit)} returned {type(trained).__name__}, not a "
            "keras.Model; return the model it trained.", key="fit",
        )
    return trained


def scored_logits(model: keras.Model, X: Features, n_outputs: int, fit: FitStep,
                  chunk: int | None = None) -> np.ndarray:
    """``(rows, outputs)`` logits of a trained model, by direct calls in chunks (default:
    :func:`~sweeper.training._packed.score_chunk`'s, so a memory-mapped split is read a chunk
    at a time)."""
    dtype = model_input_dtype(model, X.dtype)
    chunk = score_chunk(X) if chunk is None else chunk
    parts = [keras.ops.convert_to_numpy(model(keras.ops.cast(X[start:start + chunk], dtype),
                                              training=False))
             for start in range(0, X.shape[0], chunk)]
    logits = np.concatenate(parts, axis=0) if parts else np.zeros((0, n_outputs), np.float32)
    if logits.shape != (X.shape[0], n_outputs):
        raise FactoryError(
            f"[model] fit: the model {_function_name(fit)} returned outputs of shape "
            f"{logits.shape}, expected ({X.shape[0]}, {n_outputs}) logits.", key="fit",
        )
    return logits


def check_fit(fit: FitStep, splits: Splits, model: ModelConfig, *,
              factory: ModelFactory | None, seed: int, probe_rows: int) -> None:
    """Run the user's step once on a few rows for one epoch, unweighted, before a study exists:
    an exception it raises, or a return that is not a trained Keras model with ``(batch,
    outputs)`` logits, is one line naming ``[model] fit``."""
    fitted, _ = model.fitted_to(splits.rows_per_model)
    probe = _probe_splits(splits, probe_rows)
    trainer = FitTrainer(probe, dataclasses.replace(fitted, epochs=1), members=1, seed=seed,
                         fit=fit, factory=factory)
    ones = np.ones((1, *trainer.loss.weights_shape(splits.train.n_outputs)), np.float32)
    try:
        trainer.train_and_score({"weights": ones})
    except FactoryError:
        raise
    except (Exception, SystemExit) as error:
        raise FactoryError(
            f"[model] fit: {_function_name(fit)} raised {one_line(error)} on a probe of "
            f"{probe.train.X.shape[0]} training rows.", key="fit",
        ) from None


def _probe_splits(splits: Splits, rows: int) -> Splits:
    """The first ``rows`` of each split, without cross-validation: enough to call a step."""
    head = np.arange(min(rows, splits.train.X.shape[0]))
    validation = splits.validation
    return dataclasses.replace(
        splits, train=splits.train.subset(head),
        validation=validation.subset(np.arange(min(rows, validation.X.shape[0]))),
        test=splits.test.subset(np.arange(min(rows, splits.test.X.shape[0]))), folds=None,
    )
