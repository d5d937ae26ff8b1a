"""Training: fit one batch of weight candidates together and score the validation and test rows.

:class:`PackedTrainer` trains ``P`` members (one per trial of a batch) in one packed model. It is
built once per pack size and reused for every batch: between batches it restores the initial
weights and the optimizer's initial state, so the compiled training function (and the data,
resident on the device as backend tensors) is reused rather than rebuilt.

One epoch is one compiled call with no per-step Python work: the batch order is a ``(steps,
batch)`` index matrix drawn from ``numpy.random.default_rng(seed)`` (the last batch padded and
masked, so every step has the same shape), and the loop over steps runs inside the compiled
function: ``tf.function`` compiled with XLA on TensorFlow, ``jax.jit`` with ``lax.scan`` on JAX.
The model and loss are ``keras.ops`` code shared by both backends.

Thresholds and every figure are computed from the returned scores, in :mod:`sweeper.evaluation`.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from sweeper import holds
from sweeper.config import ModelConfig, Task
from sweeper.data import Splits
from sweeper.evaluation import probabilities
from sweeper.training._losses import packed_loss_per_row, packed_member_losses
from sweeper.training._models import ModelFactory, build_packed_model
from sweeper.training._optimizers import build_optimizer, clip_per_member

__all__ = [
    "PackedScores",
    "PackedTrainer",
    "batch_order",
    "fit_plain",
    "train_and_score",
]


@dataclass(frozen=True)
class PackedScores:
    """Each member's probabilities on the validation and test rows, and the wall time spent."""

    validation: np.ndarray
    """``(members, validation rows, outputs)``"""
    test: np.ndarray
    """``(members, test rows, outputs)``"""
    seconds: float
    epochs: np.ndarray | None = None
    """Per member, the epochs its kept weights trained for (early stopping's best epoch + 1);
    ``None`` when every member trained all epochs."""

    @functools.cached_property
    def diverged(self) -> np.ndarray:
        """Per member: whether training produced non-finite scores (computed once)."""
        finite = np.isfinite(self.validation).all(axis=(1, 2)) & np.isfinite(self.test).all(
            axis=(1, 2)
        )
        return ~finite


def batch_order(
    n_rows: int, batch_size: int, epochs: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per epoch, the shuffled row indices as a ``(steps, batch_size)`` matrix and its mask.

    The last batch is padded with row 0 and masked out, so a masked mean over each batch equals
    Keras's mean over a short last batch.
    """
    rng = np.random.default_rng(seed)
    steps = -(-n_rows // batch_size)
    padding = steps * batch_size - n_rows
    mask = np.concatenate([np.ones(n_rows, np.float32), np.zeros(padding, np.float32)])
    orders = []
    for _ in range(epochs):
        order = np.concatenate([rng.permutation(n_rows), np.zeros(padding, np.int64)])
        orders.append((order.reshape(steps, batch_size).astype(np.int32),
                       mask.reshape(steps, batch_size)))
    return orders


class _SweeperBatches(keras.utils.PyDataset):
    """The sweeper's batch order as a Keras dataset: epoch ``e`` yields the batches of
    :func:`batch_order`'s ``e``-th permutation (the last one short, as Keras's own).

    The epoch is set by a callback at each epoch's start (:meth:`follow`): Keras also calls
    ``on_epoch_end`` after probing the first batches, so counting those calls would drift."""

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, seed: int):
        super().__init__()
        self.X, self.y = X, y
        self.orders = batch_order(X.shape[0], batch_size, epochs, seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.orders[0][0].shape[0]

    def __getitem__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        order, mask = self.orders[min(self.epoch, len(self.orders) - 1)]
        rows = order[step][mask[step] > 0]
        return self.X[rows], self.y[rows]

    def follow(self) -> keras.callbacks.Callback:
        """A callback that points the dataset at the epoch ``fit`` is starting."""
        return keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs=None: setattr(self, "epoch", epoch)
        )


def fit_plain(
    model: keras.Model,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.Model:
    """Train a compiled plain model with the sweeper's batch order (for production training).

    With :func:`sweeper.training.build_mlp`, an exported trial's seed and its ``training``
    epochs, this reproduces the trial's training; any other compiled model trains on the same
    sequence of batches. ``validation_data`` and ``callbacks`` go to ``model.fit`` (Keras's
    ``EarlyStopping(restore_best_weights=True)`` stops as the sweeper's early stopping does).
    """
    batches = _SweeperBatches(X, y, batch_size, epochs, seed)
    model.fit(batches, epochs=epochs, shuffle=False, validation_data=validation_data,
              callbacks=[batches.follow(), *callbacks], verbose=0)
    return model


class PackedTrainer:
    """Trains ``members`` weight candidates at once; reusable across batches of trials.

    With K-fold cross-validation (``splits.folds``) each candidate trains K fold members in the
    same pass (``members * K`` in the network, candidate-major): fold ``k``'s member learns from
    the rows of the other folds only (a per-member mask on every batch's loss, over one shared
    batch order) and stops early on its own fold. Its scores on fold ``k`` are the candidate's
    out-of-fold validation scores; its test scores are the mean of its K members'.

    Args:
        splits: the study's train / validation / test data (the training rows become resident).
        model: the study's model section (hidden sizes, epochs, batch size, learning rate).
        members: the pack size ``P``: candidates trained together.
        seed: every member's initialisation seed and the batch-order seed.
        factory: a user model factory, or ``None`` for the built-in :class:`PackedMLP`.
    """

    def __init__(
        self,
        splits: Splits,
        model: ModelConfig,
        *,
        members: int,
        seed: int,
        factory: ModelFactory | None = None,
    ) -> None:
        self.splits = splits
        self.spec, _ = model.fitted_to(splits.rows_per_model)  # "auto" epochs, batch size
        self.members = members
        self.folds = splits.n_folds
        self.network_members = members * self.folds
        self.seed = seed
        self.task: Task = splits.train.task
        train = splits.train
        keras.utils.set_random_seed(seed)
        self.network = build_packed_model(
            n_features=train.X.shape[1],
            n_outputs=train.n_outputs,
            seeds=[seed] * self.network_members,
            hidden=model.layers,
            factory=factory,
        )
        assert self.spec.batch_size is not None and self.spec.epochs is not None  # fitted_to
        steps_per_epoch = -(-train.X.shape[0] // self.spec.batch_size)
        # Clipped per member by the epoch loops, not by Keras over the packed whole.
        self.optimizer = build_optimizer(self.spec, steps_per_epoch=steps_per_epoch,
                                         epochs=self.spec.epochs, clipping=False)
        self.optimizer.build(self.network.trainable_variables)
        self.trainable_owners = self.member_owners(self.network.trainable_variables)
        self._initial_model = [keras.ops.convert_to_numpy(v) for v in self.network.variables]
        self._initial_optimizer = [
            keras.ops.convert_to_numpy(v) for v in self.optimizer.variables
        ]
        self._X = keras.ops.convert_to_tensor(train.X)
        labels = train.y.astype(np.float32 if self.task.sigmoid else np.int32)
        self._y = keras.ops.convert_to_tensor(labels)
        # Cross-validation: which rows each network member learns from (its training folds).
        self._member_rows = None
        if splits.folds is not None:
            fold_of_member = np.tile(np.arange(self.folds), members)
            learns = splits.folds[:, None] != fold_of_member[None, :]
            self._member_rows = keras.ops.convert_to_tensor(learns.astype(np.float32))
        self._epoch = self._compile_epoch()
        validation = splits.validation
        self._X_validation = keras.ops.convert_to_tensor(validation.X)
        self._y_validation = keras.ops.convert_to_tensor(
            validation.y.astype(np.float32 if self.task.sigmoid else np.int32)
        )
        self._validation_loss: Callable[[np.ndarray], np.ndarray] | None = None

    def _reset(self) -> None:
        for variable, value in zip(self.network.variables, self._initial_model, strict=True):
            variable.assign(value)
        for variable, value in zip(self.optimizer.variables, self._initial_optimizer, strict=True):
            variable.assign(value)

    def _compile_epoch(self) -> Callable[[np.ndarray, np.ndarray, np.ndarray], None]:
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return _tensorflow_epoch(self)
        if backend == "jax":
            return _jax_epoch(self)
        raise RuntimeError(f"the sweeper trains on TensorFlow or JAX, not on {backend!r}.")

    def train(self, weights: np.ndarray) -> np.ndarray | None:
        """Train every member from its initial state, member ``m`` with loss weights
        ``weights[m]``: ``(members, 2, labels)`` or ``(members, classes, classes)`` (see
        :mod:`sweeper.search`).

        The training loss is each member's weighted loss plus the model's own losses (a
        factory's regularisers), as ``model.fit`` would minimise. With ``patience`` (the model
        config's), each member stops as Keras's
        ``EarlyStopping(monitor="val_loss", restore_best_weights=True)`` would stop it alone:
        after each epoch its own weighted loss on the validation rows is measured (without
        regulariser terms); a member
        whose loss has not improved for ``patience`` epochs is done, and every member ends at
        the weights of its best epoch. The pass ends when all are done or at ``epochs``.
        Returns the epochs each member's kept weights trained for (``None`` without patience).
        """
        weights = np.asarray(weights, dtype=np.float32)
        n_outputs = self.splits.train.n_outputs
        expected = (self.members, 2 if self.task.sigmoid else n_outputs, n_outputs)
        if weights.shape != expected:
            raise ValueError(f"`weights` must have shape {expected}, but got {weights.shape}.")
        weights = np.repeat(weights, self.folds, axis=0)  # each candidate's fold members
        self._reset()
        n_rows = self.splits.train.X.shape[0]
        # fitted_to sets both ("auto" is resolved for the rows at hand).
        assert self.spec.batch_size is not None and self.spec.epochs is not None
        orders = batch_order(n_rows, self.spec.batch_size, self.spec.epochs, self.seed)
        stopping = _EarlyStopping(self, weights) if self.spec.patience else None
        for epoch, (order, mask) in enumerate(orders):
            self._epoch(order, mask, weights)
            holds.reach("epoch")
            if stopping is not None and stopping.after_epoch(epoch):
                break
        if stopping is None:
            return None
        stopping.restore()
        return stopping.best_epoch + 1

    def validation_loss(self, weights: np.ndarray) -> np.ndarray:
        """``(network members,)``: each member's mean weighted loss on its validation rows (its
        own fold under cross-validation), as its lone model's ``val_loss``; ``weights`` per
        network member. Compiled on first use (TensorFlow with XLA, or JAX)."""
        if self._validation_loss is None:
            self._validation_loss = _compile_validation_loss(self)
        return self._validation_loss(np.asarray(weights, dtype=np.float32))

    def member_owners(self, variables: Sequence[Any] | None = None) -> list[int | None]:
        """For each of ``variables`` (default: the network's), the member that owns it whole,
        or ``None`` when its first axis is the member axis (the built-in :class:`PackedMLP`'s)."""
        variables = self.network.variables if variables is None else variables
        members = [layer for layer in self.network.layers if isinstance(layer, keras.Model)]
        if len(members) != self.network_members:  # the PackedMLP: member-major weights
            return [None] * len(variables)
        owner = {id(v): m for m, member in enumerate(members) for v in member.variables}
        return [owner[id(v)] for v in variables]

    def clip(self, gradients: Sequence[Any]) -> list[Any]:
        """Each member's gradient clipped as ``[model]`` says (:func:`clip_per_member`)."""
        return clip_per_member(gradients, self.trainable_owners, self.network_members,
                               self.spec)

    def logits(self, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """``(rows, members, outputs)`` logits, by direct calls in chunks."""
        parts = [
            keras.ops.convert_to_numpy(self.network(X[start : start + chunk], training=False))
            for start in range(0, X.shape[0], chunk)
        ]
        return np.concatenate(parts, axis=0)

    def train_and_score(self, weights: np.ndarray) -> PackedScores:
        """Train (see :meth:`train`) and score: per candidate, its validation scores (out of
        fold under cross-validation) and its test scores (the mean of its fold members')."""
        started = time.perf_counter()
        epochs = self.train(weights)
        validation, test = (
            probabilities(self.logits(split.X), self.task).reshape(
                split.X.shape[0], self.members, self.folds, -1
            )
            for split in (self.splits.validation, self.splits.test)
        )
        if self.splits.folds is None:
            validation = validation[:, :, 0]
        else:  # row r's score from the member that did not learn from it
            fold = self.splits.folds[:, None, None, None]
            validation = np.take_along_axis(validation, fold, axis=2)[:, :, 0]
            if epochs is not None:  # production trains once: the folds' typical length
                epochs = np.round(epochs.reshape(self.members, self.folds).mean(axis=1))
        return PackedScores(
            validation=np.moveaxis(validation, 1, 0),
            test=np.moveaxis(test.mean(axis=2), 1, 0),
            seconds=time.perf_counter() - started,
            epochs=None if epochs is None else epochs.astype(np.int64),
        )


class _EarlyStopping:
    """Per-member early stopping of a :class:`PackedTrainer` (see :meth:`PackedTrainer.train`).

    Keras's rule per member: after each epoch, ``wait += 1``; a loss below the best so far
    keeps the weights and resets ``wait``; otherwise ``wait >= patience`` (after the first
    epoch) ends that member.
    """

    def __init__(self, trainer: PackedTrainer, weights: np.ndarray) -> None:
        self.trainer = trainer
        self.weights = weights
        self.owners = trainer.member_owners()
        self.best = [keras.ops.convert_to_numpy(v) for v in trainer.network.variables]
        self.best_loss = np.full(trainer.network_members, np.inf)
        self.best_epoch = np.zeros(trainer.network_members, dtype=np.int64)
        self.wait = np.zeros(trainer.network_members, dtype=np.int64)
        self.done = np.zeros(trainer.network_members, dtype=bool)

    def losses(self) -> np.ndarray:
        """Each member's mean weighted loss on the validation rows (one compiled call)."""
        return np.asarray(self.trainer.validation_loss(self.weights), dtype=np.float64)

    def after_epoch(self, epoch: int) -> bool:
        """Judge every member after ``epoch`` (0-based); ``True`` when all are done."""
        loss = self.losses()
        active = ~self.done
        self.wait[active] += 1
        # NaN never improves: a diverged member keeps its last finite weights.
        improved = active & (loss < self.best_loss)
        if improved.any():
            self.best_loss[improved] = loss[improved]
            self.best_epoch[improved] = epoch
            self.wait[improved] = 0
            self._keep(improved)
        if epoch > 0:
            self.done |= active & ~improved & (self.wait >= self.trainer.spec.patience)
        return bool(self.done.all())

    def _keep(self, members: np.ndarray) -> None:
        """Take the current weights of ``members`` (a boolean mask) as their kept weights."""
        current = [keras.ops.convert_to_numpy(v) for v in self.trainer.network.variables]
        for index, (owner, value) in enumerate(zip(self.owners, current, strict=True)):
            if owner is None:
                self.best[index][members] = value[members]
            elif members[owner]:
                self.best[index] = value

    def restore(self) -> None:
        """Every member back to the weights of its best epoch; a member that never had a
        finite loss keeps its last weights, so its scores show that it diverged."""
        never = ~np.isfinite(self.best_loss)
        if never.any():
            self._keep(never)
        for variable, value in zip(self.trainer.network.variables, self.best, strict=True):
            variable.assign(value)


def _masked_mean_loss(trainer: PackedTrainer, y_batch: Any, logits: Any, mask: Any, weights: Any):
    """The batch's training loss: each member's mean over the rows it learns from, summed.

    ``mask`` is ``(batch,)`` (padding only: every member learns from every row) or
    ``(batch, members)`` (cross-validation: each member's own training folds)."""
    if len(mask.shape) == 1:
        per_row = packed_loss_per_row(trainer.task, y_batch, logits, weights)
        return keras.ops.sum(per_row * mask) / keras.ops.sum(mask)
    losses = packed_member_losses(trainer.task, y_batch, logits, weights)
    return keras.ops.sum(_mean_over_rows(losses, mask))


def _model_losses(losses: Sequence[Any]) -> Any:
    """The model's own losses (a factory's weight or activity regularisers: each member's own,
    so their sum regularises each member as it would alone), as production training adds
    them; 0 for none."""
    if not losses:
        return 0.0
    return keras.ops.sum(keras.ops.stack([keras.ops.sum(loss) for loss in losses]))


def _member_mask(trainer: PackedTrainer, rows: Any, mask: Any) -> Any:
    """A batch's row mask, per member under cross-validation (see :func:`_masked_mean_loss`)."""
    if trainer._member_rows is None:
        return mask
    return keras.ops.expand_dims(mask, 1) * keras.ops.take(trainer._member_rows, rows, axis=0)


def _validation_mask(trainer: PackedTrainer) -> np.ndarray | None:
    """``(validation rows, network members)``: the rows each member is judged on (its own
    fold) under cross-validation; ``None`` when every member is judged on every row."""
    if trainer.splits.folds is None:
        return None
    fold_of_member = np.tile(np.arange(trainer.folds), trainer.members)
    return (trainer.splits.folds[:, None] == fold_of_member[None, :]).astype(np.float32)


def _mean_over_rows(losses: Any, mask: Any) -> Any:
    """``(members,)``: the mean of ``(rows, members)`` losses over each member's rows."""
    if mask is None:
        return keras.ops.mean(losses, axis=0)
    return keras.ops.sum(losses * mask, axis=0) / keras.ops.maximum(
        keras.ops.sum(mask, axis=0), 1.0
    )


def _compile_validation_loss(trainer: PackedTrainer) -> Callable[[np.ndarray], np.ndarray]:
    network, task = trainer.network, trainer.task
    X, y = trainer._X_validation, trainer._y_validation
    mask = _validation_mask(trainer)
    if mask is not None:
        mask = keras.ops.convert_to_tensor(mask)
    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp

        @jax.jit
        def run(trainable, non_trainable, weights):
            logits, _ = network.stateless_call(trainable, non_trainable, X, training=False)
            return _mean_over_rows(packed_member_losses(task, y, logits, weights), mask)

        def jax_loss(weights: np.ndarray) -> np.ndarray:
            trainable = [v.value for v in network.trainable_variables]
            non_trainable = [v.value for v in network.non_trainable_variables]
            return np.asarray(run(trainable, non_trainable, jnp.asarray(weights)))

        return jax_loss
    import tensorflow as tf

    @tf.function
    def compiled(weights):
        logits = network(X, training=False)
        return _mean_over_rows(packed_member_losses(task, y, logits, weights), mask)

    return lambda weights: compiled(tf.constant(weights)).numpy()


def _tensorflow_epoch(trainer: PackedTrainer):
    import tensorflow as tf

    network, optimizer = trainer.network, trainer.optimizer
    X, y = trainer._X, trainer._y

    def run(order: tf.Tensor, mask: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        for step in tf.range(tf.shape(order)[0]):
            rows = order[step]
            with tf.GradientTape() as tape:
                logits = network(tf.gather(X, rows), training=True)
                loss = _masked_mean_loss(trainer, tf.gather(y, rows), logits,
                                         _member_mask(trainer, rows, mask[step]), weights)
                loss = loss + _model_losses(network.losses)
            gradients = trainer.clip(tape.gradient(loss, network.trainable_variables))
            optimizer.apply(gradients, network.trainable_variables)
        return tf.constant(0)

    compiled = {"xla": tf.function(run, jit_compile=True), "plain": tf.function(run)}
    mode = ["xla"]

    def epoch(order: np.ndarray, mask: np.ndarray, weights: np.ndarray) -> None:
        arguments = (tf.constant(order), tf.constant(mask), tf.constant(weights))
        if mode[0] == "xla":
            try:
                compiled["xla"](*arguments)
                return
            except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
                warnings.warn(
                    f"XLA cannot compile this model ({type(error).__name__}); training without "
                    "XLA.", RuntimeWarning, stacklevel=2,
                )
                mode[0] = "plain"
                trainer._reset()
        compiled["plain"](*arguments)

    return epoch


def _jax_epoch(trainer: PackedTrainer):
    import jax
    import jax.numpy as jnp

    network, optimizer = trainer.network, trainer.optimizer
    X, y = trainer._X, trainer._y

    @jax.jit
    def run(state, order, mask, weights):
        def step(state, batch):
            trainable, non_trainable, optimizer_state = state
            rows, batch_mask = batch

            def loss_of(trainable):
                logits, new_non_trainable, losses = network.stateless_call(
                    trainable, non_trainable, X[rows], training=True, return_losses=True
                )
                loss = _masked_mean_loss(trainer, y[rows], logits,
                                         _member_mask(trainer, rows, batch_mask), weights)
                return loss + _model_losses(losses), new_non_trainable

            (_, new_non_trainable), gradients = jax.value_and_grad(loss_of, has_aux=True)(
                trainable
            )
            trainable, optimizer_state = optimizer.stateless_apply(
                optimizer_state, trainer.clip(gradients), trainable
            )
            return (trainable, new_non_trainable, optimizer_state), None

        state, _ = jax.lax.scan(step, state, (order, mask))
        return state

    def epoch(order: np.ndarray, mask: np.ndarray, weights: np.ndarray) -> None:
        state = (
            [v.value for v in network.trainable_variables],
            [v.value for v in network.non_trainable_variables],
            [v.value for v in optimizer.variables],
        )
        trainable, non_trainable, optimizer_state = run(
            state, jnp.asarray(order), jnp.asarray(mask), jnp.asarray(weights)
        )
        for variables, values in (
            (network.trainable_variables, trainable),
            (network.non_trainable_variables, non_trainable),
            (optimizer.variables, optimizer_state),
        ):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    return epoch


def train_and_score(
    splits: Splits,
    model: ModelConfig,
    weights: np.ndarray,
    *,
    seed: int,
    factory: ModelFactory | None = None,
) -> PackedScores:
    """One-off convenience: build a trainer for ``len(weights)`` members and use it once
    (``weights`` as :meth:`PackedTrainer.train` takes them)."""
    weights = np.asarray(weights, dtype=np.float32)
    trainer = PackedTrainer(splits, model, members=weights.shape[0], seed=seed, factory=factory)
    return trainer.train_and_score(weights)
