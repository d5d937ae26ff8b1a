"""The packed trainer: fit one batch of loss candidates together in one network and score them.

:class:`PackedTrainer` trains ``P`` members (one per trial of a batch) in one packed model. It is
built once per pack size and reused for every batch: between batches it restores the initial
weights and the optimizer's initial state, so the compiled training function (and the data,
resident on the device as backend tensors) is reused rather than rebuilt.

One epoch is one compiled call with no per-step Python work: the batch order is a ``(steps,
batch)`` index matrix (:func:`~sweeper.training.batch_order`; the last batch padded and masked,
so every step has the same shape), and the loop over steps runs inside the compiled function:
``tf.function`` compiled with XLA on TensorFlow, ``jax.jit`` with ``lax.scan`` on JAX. The step
is written once per backend (:func:`_compile_steps`, as Keras splits its own trainer by
backend), built from one :class:`_Pass` (the network, the optimizer, the loss, the resident
data): the loss of :func:`_step_loss`, each member's gradient clipped on its own, one
optimizer update. Resident and streamed data are two ways of fetching a step's rows into it
(:func:`_resident_epoch` gathers them on the device, :func:`_streamed_epoch` sends blocks of
them), and the validation loss is one compiled sum per backend over one chunk or many
(:func:`_validation_loss`).

Thresholds and every figure are computed from the returned scores, in :mod:`sweeper.evaluation`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from sweeper import holds
from sweeper.config import ModelConfig, Task
from sweeper.data import Features, Splits
from sweeper.data._rows import block_rows
from sweeper.evaluation import probabilities
from sweeper.training._batches import batch_order
from sweeper.training._interface import BatchScores, Trainer, TrainingProgress
from sweeper.training._losses import LossParameters, TrainingLoss, as_loss_parameters, loss_for
from sweeper.training._models import (
    ModelFactory,
    VmappedMembers,
    build_packed_model,
    dtype_policy,
    model_input_dtype,
)
from sweeper.training._optimizers import MemberDecay, build_optimizer, clip_per_member

__all__ = ["PackedTrainer", "train_and_score"]


def label_array(y: np.ndarray, task: Task) -> np.ndarray:
    """Labels as a user's ``fit`` takes them: 0/1 floats per label, or int32 class ids."""
    return y.astype(np.float32 if task.sigmoid else np.int32)


def narrow_labels(y: np.ndarray, task: Task) -> np.ndarray:
    """Labels as the packed trainer holds them, on the host and the device: 0/1 as uint8 per
    label (a quarter of float32's bytes; each batch is cast to the logits' dtype on the
    device, :func:`~sweeper.remedies._losses.loss_targets`), or int32 class ids. No copy
    where ``y`` already has that dtype (a validated multi-label ``y`` has)."""
    return np.asarray(y, dtype=np.uint8 if task.sigmoid else np.int32)


@dataclass(frozen=True)
class _Pass:
    """What a compiled epoch and the validation loss need, handed to the backend's loop
    explicitly (the loops read nothing else of the trainer)."""

    network: keras.Model
    optimizer: keras.optimizers.Optimizer
    loss: TrainingLoss
    X: Any
    """Training features, resident (a backend tensor) in their own dtype (uint8 pixels stay
    uint8 on the device)."""
    input_dtype: str
    """What the network takes: each batch is cast to it on the device."""
    y: Any
    member_rows: Any
    """``(rows, network members)``: the rows each member learns from under cross-validation;
    ``None`` when every member learns from every row."""
    clip: Callable[[Sequence[Any]], list[Any]]
    """Each member's gradient clipped on its own (:func:`clip_per_member`)."""
    decay: MemberDecay
    """Each member's searched weight decay, applied by the optimizer's update."""


class PackedTrainer(Trainer):
    """Trains ``members`` loss candidates at once; reusable across batches of trials.

    With K-fold cross-validation (``splits.folds``) each candidate trains K fold members in the
    same pass (``members * K`` in the network, candidate-major): fold ``k``'s member learns from
    the rows of the other folds only (a per-member mask on every batch's loss, over one shared
    batch order) and stops early on its own fold. Its scores on fold ``k`` are the candidate's
    out-of-fold validation scores; its test scores are the mean of its K members'.

    Args:
        splits: the study's train / validation / test data (the training rows become resident).
        model: the study's model section (hidden sizes, epochs, batch size, optimizer, ...).
        members: the pack size ``P``: candidates trained together.
        seed: every member's initialisation seed and the batch-order seed.
        factory: a user model factory, or ``None`` for the built-in :class:`PackedMLP`.
        loss: the loss to train with (default: the task's, :func:`loss_for`: each member's
            remedy's).
    """

    def __init__(
        self,
        splits: Splits,
        model: ModelConfig,
        *,
        members: int,
        seed: int,
        factory: ModelFactory | None = None,
        loss: TrainingLoss | None = None,
    ) -> None:
        self.splits = splits
        self.spec, _ = model.fitted_to(splits.rows_per_model)  # "auto" epochs, batch size
        self.members = members
        self.folds = splits.n_folds
        self.network_members = members * self.folds
        self.seed = seed
        self.task: Task = splits.train.task
        self.loss = loss_for(self.task) if loss is None else loss
        train = splits.train
        keras.utils.set_random_seed(seed)
        with dtype_policy(self.spec.precision):
            self.network = build_packed_model(
                input_shape=train.input_shape,
                n_outputs=train.n_outputs,
                seeds=[seed] * self.network_members,
                hidden=model.layers,
                factory=factory,
                data_dtype=train.X.dtype,
                layout=self.spec.members,
            )
        self.input_dtype = model_input_dtype(self.network, train.X.dtype)
        assert self.spec.batch_size is not None and self.spec.epochs is not None  # fitted_to
        steps_per_epoch = -(-train.X.shape[0] // self.spec.batch_size)
        # Clipped per member by the epoch loops, not by Keras over the packed whole.
        self.optimizer = build_optimizer(self.spec, steps_per_epoch=steps_per_epoch,
                                         epochs=self.spec.epochs, clipping=False)
        self.optimizer.build(self.network.trainable_variables)
        trainable_owners = self.member_owners(self.network.trainable_variables)
        self._initial_model = [keras.ops.convert_to_numpy(v) for v in self.network.variables]
        self._initial_optimizer = [
            keras.ops.convert_to_numpy(v) for v in self.optimizer.variables
        ]
        learns = None  # cross-validation: which rows each network member learns from
        if splits.folds is not None:
            fold_of_member = np.tile(np.arange(self.folds), members)
            learns = (splits.folds[:, None] != fold_of_member[None, :]).astype(np.float32)
        labels = narrow_labels(train.y, self.task)
        self.streamed = streams(self.spec, train.X, labels)
        self._pass = _Pass(
            network=self.network,
            optimizer=self.optimizer,
            loss=self.loss,
            # Resident: every training row read once (from a memory map: its view's blocks,
            # standardised as read), as the device holds them anyway.
            X=None if self.streamed else keras.ops.convert_to_tensor(np.asarray(train.X)),
            input_dtype=self.input_dtype,
            y=None if self.streamed else keras.ops.convert_to_tensor(labels),
            member_rows=None if learns is None or self.streamed
            else keras.ops.convert_to_tensor(learns),
            clip=lambda gradients: clip_per_member(
                gradients, trainable_owners, self.network_members, self.spec
            ),
            decay=MemberDecay(self.optimizer, trainable_owners, self.network_members),
        )
        if self.streamed:
            self._epoch = _streamed_epoch(self._pass, train.X, labels, learns)
        else:
            self._epoch = _resident_epoch(self._pass, reset=self._reset)
        self._validation_loss: Callable[[LossParameters], np.ndarray] | None = None
        self._logits: Callable[[np.ndarray], np.ndarray] | None = None

    def _reset(self) -> None:
        for variable, value in zip(self.network.variables, self._initial_model, strict=True):
            variable.assign(value)
        for variable, value in zip(self.optimizer.variables, self._initial_optimizer, strict=True):
            variable.assign(value)

    def _parameters(self, parameters: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The batch's loss parameters, checked, each repeated for the candidates' fold
        members (candidate-major)."""
        parameters = as_loss_parameters(parameters)
        expected = (self.members, *self.loss.weights_shape(self.splits.train.n_outputs))
        shape = parameters["weights"].shape
        if shape != expected:
            raise ValueError(f"`weights` must have shape {expected}, but got {shape}.")
        return {name: np.repeat(value, self.folds, axis=0) for name, value in parameters.items()}

    def train(self, parameters: Mapping[str, Any]) -> np.ndarray | None:
        """Train every member from its initial state, member ``m`` with its loss parameters
        (``parameters[name][m]``, :mod:`sweeper.training`'s layout): ``weights``
        ``(members, 2, labels)`` or ``(members, classes, classes)`` (see
        :mod:`sweeper.search`), and its remedy's.

        The training loss is each member's weighted loss plus the model's own losses (a
        factory's regularisers), as ``model.fit`` would minimise. With ``patience`` (the model
        config's), each member stops as Keras's
        ``EarlyStopping(monitor="val_loss", restore_best_weights=True)`` would stop it alone:
        after each epoch its own weighted loss on the validation rows is measured (without
        regulariser terms); a member whose loss has not improved for ``patience`` epochs is
        done, and every member ends at the weights of its best epoch. The pass ends when all
        are done or at ``epochs``. Returns the epochs each member's kept weights trained for
        (``None`` without patience).

        Deferred re-weighting (DRW, Cao et al. 2019): a ``switch`` parameter, ``(members,)``
        epochs (0-based; 0 or absent: weighted from the start), trains member ``m``
        unweighted (``weights`` all ones) for its first ``switch[m]`` epochs and with its
        ``weights`` from epoch ``switch[m]`` on. Each epoch's effective parameters are computed
        here, on the host, and passed to the same compiled epoch (same shapes: nothing is
        recompiled). Early stopping judges a member only from its switch on, on the weighted
        validation loss: before it the member is neither counted towards ``patience`` nor
        kept, so its ``wait`` starts at its switch and its kept weights are from an epoch at or
        after it (the first weighted epoch is always kept, its best loss being infinite until
        then), as a lone Keras model trained unweighted for ``switch`` epochs, then recompiled
        with the weighted loss and a fresh ``EarlyStopping`` from ``initial_epoch=switch``.
        An ``until`` parameter, ``(members,)`` epochs (0 or absent: ``epochs``), ends member
        ``m`` after ``until[m]`` epochs, its kept weights the best of those: a deferred
        member's schedule is a share of a length that may be shorter than an early-stopping
        cap (:meth:`ModelConfig.deferral_epochs`), and its weighted phase ends with it (with
        patience; without it the length is ``epochs``).
        """
        parameters = self._parameters(parameters)
        switch = parameters.pop("switch", None)
        until = parameters.pop("until", None)
        self._reset()
        n_rows = self.splits.train.X.shape[0]
        # fitted_to sets both ("auto" is resolved for the rows at hand).
        assert self.spec.batch_size is not None and self.spec.epochs is not None
        orders = batch_order(n_rows, self.spec.batch_size, self.spec.epochs, self.seed)
        stopping = (_EarlyStopping(self, parameters, switch, until) if self.spec.patience
                    else None)
        for epoch, (order, mask) in enumerate(orders):
            current = _deferred(parameters, switch, epoch)
            self._epoch(order, mask, current)
            holds.reach("epoch")
            done = stopping is not None and stopping.after_epoch(epoch, current)
            self.report(TrainingProgress(
                epoch=epoch + 1, epochs=len(orders),
                training=self.network_members - (0 if stopping is None else
                                                 int(stopping.done.sum())),
                members=self.network_members,
                best_loss=None if stopping is None else stopping.lowest(),
            ))
            if done:
                break
        if stopping is None:
            return None
        stopping.restore()
        return stopping.best_epoch + 1

    def validation_loss(self, parameters: Mapping[str, Any]) -> np.ndarray:
        """``(network members,)``: each member's mean weighted loss on its validation rows (its
        own fold under cross-validation), as its lone model's ``val_loss``; the loss
        parameters per network member. Compiled on first use."""
        if self._validation_loss is None:
            self._validation_loss = _validation_loss(self._pass, self.splits, self.members,
                                                     self.task, streamed=self.streamed)
        return self._validation_loss(as_loss_parameters(parameters))

    def member_owners(self, variables: Sequence[Any] | None = None) -> list[int | None]:
        """For each of ``variables`` (default: the network's), the member that owns it whole,
        or ``None`` when its first axis is the member axis (the built-in :class:`PackedMLP`'s)."""
        variables = self.network.variables if variables is None else variables
        members = [layer for layer in self.network.layers if isinstance(layer, keras.Model)]
        if len(members) != self.network_members:  # the PackedMLP: member-major weights
            return [None] * len(variables)
        owner = {id(v): m for m, member in enumerate(members) for v in member.variables}
        return [owner[id(v)] for v in variables]

    def _logits_call(self) -> Callable[[np.ndarray], np.ndarray]:
        """The network's inference logits of one chunk of rows: direct calls, or for vmapped
        members one compiled call each (an eager call of a vmapped conv net runs op by op,
        minutes; compiling packed copies costs more than it saves: 25 s against 1.3 s for
        eight small Conv1D copies on 280 rows, measured on JAX's CPU backend)."""
        if self._logits is None:
            if isinstance(self.network, VmappedMembers):
                self._logits = _compile_logits(self.network, self.input_dtype)
            else:
                network, dtype = self.network, self.input_dtype
                self._logits = lambda rows: keras.ops.convert_to_numpy(
                    network(keras.ops.cast(rows, dtype), training=False))
        return self._logits

    def scores(self, X: Features) -> np.ndarray:
        """``(members, folds, rows, outputs)`` float32 probabilities of every network member,
        member-major, written chunk by chunk (:func:`scoring_chunk`) into the one array that
        holds them: the logits and their float64 probabilities exist for one chunk at a
        time, never for the whole split."""
        rows, outputs = X.shape[0], self.splits.train.n_outputs
        chunk = scoring_chunk(X, self.network_members, outputs)
        call = self._logits_call()
        scores = np.empty((self.network_members, rows, outputs), np.float32)
        for start in range(0, rows, chunk):
            logits = call(np.asarray(X[start : start + chunk]))
            scores[:, start : start + chunk] = np.swapaxes(probabilities(logits, self.task), 0, 1)
        return scores.reshape(self.members, self.folds, rows, outputs)

    def train_and_score(self, parameters: Mapping[str, Any]) -> BatchScores:
        """Train (see :meth:`train`) and score: per candidate, its validation scores (out of
        fold under cross-validation) and its test scores (the mean of its fold members')."""
        started = time.perf_counter()
        epochs = self.train(parameters)
        validation = self.scores(self.splits.validation.X)
        test = self.scores(self.splits.test.X)
        return fold_scores(validation, test, self.splits, epochs, time.perf_counter() - started)


def score_chunk(X: Features) -> int:
    """Rows scored per call: 8,192, fewer when they would take more than
    :data:`~sweeper.data._rows.BLOCK_BYTES` (large images), so scoring a memory-mapped split holds
    one chunk of it in host memory. The same rule for every kind of array, so scores do not
    depend on where the features live."""
    return min(8192, block_rows(X))


CHUNK_LOGITS_BYTES = 8 * 2**20
"""The float32 logits of one scoring or validation-loss call at most: their float64
probabilities and the loss's temporaries grow from these, so many labels or many members are
scored in smaller chunks of rows rather than all at once (issue 30's memory budget)."""


def scoring_chunk(X: Features, members: int, outputs: int) -> int:
    """Rows per scoring or validation-loss call: :func:`score_chunk`'s, fewer when ``members``
    times ``outputs`` logits per row would pass :data:`CHUNK_LOGITS_BYTES`. It depends on the
    shapes alone, so scores do not depend on where the features live."""
    return max(1, min(score_chunk(X), CHUNK_LOGITS_BYTES // (4 * members * outputs)))


STREAM_BLOCK_BYTES = 64 * 2**20
"""A streamed epoch sends its batches to the device in blocks of about this many bytes (and
a streamed trainer's validation loss reads the validation rows in chunks of this size)."""


def streams(model: ModelConfig, X: Features, y: np.ndarray) -> bool:
    """Whether the training rows are streamed to the device (``[model] device_data``): on
    request, or with ``"auto"`` when they take more than a quarter of the device's memory (a
    GPU's free memory, else the host's available memory), the share the pack size leaves
    the data. ``X.nbytes`` is what the rows take once read (a memory map's view: in the dtype
    they are read as), whether or not they are in host memory now."""
    if model.device_data != "auto":
        return model.device_data == "streamed"
    from sweeper.training._packing import MEMORY_SHARE, available_memory_bytes

    memory, _ = available_memory_bytes()
    return X.nbytes + y.nbytes > memory * MEMORY_SHARE


StepsFunction = Callable[[tuple[Any, ...], LossParameters], None]
"""Runs one training step per index of its inputs' first axis, as one compiled call."""
EpochFunction = Callable[[np.ndarray, np.ndarray, LossParameters], None]


def _compile_steps(packed: _Pass, fetch: Callable[..., tuple[Any, Any, Any]], *,
                   reset: Callable[[], None]) -> StepsFunction:
    """The packed training step, written once per backend, run over a sequence of steps.

    ``fetch`` turns one step's slice of the inputs into its ``(features, labels, row mask)``:
    resident rows are gathered on the device from the batch's row indices, streamed ones
    arrive as they are (:func:`_resident_epoch`, :func:`_streamed_epoch`). The step is the
    loss of :func:`_step_loss` plus the model's own losses, each member's gradient clipped on
    its own, one optimizer update; the steps run inside one compiled call, ``jax.lax.scan``
    under ``jax.jit`` on JAX and a ``tf.range`` loop in a ``tf.function`` on TensorFlow (with
    XLA where it pays; ``reset`` restores the initial state when it falls back)."""
    network, optimizer = packed.network, packed.optimizer
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        @jax.jit
        def run(state, inputs, parameters):
            def step(state, inputs_of_step):
                trainable, non_trainable, optimizer_state = state
                x, labels, mask = fetch(*inputs_of_step)

                def loss_of(trainable):
                    logits, new_non_trainable, losses = network.stateless_call(
                        trainable, non_trainable, x.astype(packed.input_dtype),
                        training=True, return_losses=True,
                    )
                    loss = _step_loss(packed.loss, labels, logits, mask, parameters)
                    return loss + _model_losses(losses), new_non_trainable

                (_, new_non_trainable), gradients = jax.value_and_grad(
                    loss_of, has_aux=True)(trainable)
                trainable, optimizer_state = optimizer.stateless_apply(
                    optimizer_state, packed.clip(gradients), trainable
                )
                return (trainable, new_non_trainable, optimizer_state), None

            packed.decay.current = parameters.get("weight_decay")  # each member's, if searched
            state, _ = jax.lax.scan(step, state, inputs)
            packed.decay.current = None
            return state

        def jax_steps(inputs: tuple[Any, ...], parameters: LossParameters) -> None:
            arrays = {name: jnp.asarray(value) for name, value in parameters.items()}
            _jax_assign(network, optimizer, run(_jax_state(network, optimizer),
                                                tuple(jnp.asarray(part) for part in inputs),
                                                arrays))

        return jax_steps
    if backend != "tensorflow":
        raise RuntimeError(f"the sweeper trains on TensorFlow or JAX, not on {backend!r}.")
    import tensorflow as tf

    def steps(inputs, parameters):
        packed.decay.current = parameters.get("weight_decay")  # each member's, if searched
        for index in tf.range(tf.shape(inputs[0])[0]):
            x, labels, mask = fetch(*(part[index] for part in inputs))
            with tf.GradientTape() as tape:
                logits = network(tf.cast(x, packed.input_dtype), training=True)
                loss = _step_loss(packed.loss, labels, logits, mask, parameters)
                loss = loss + _model_losses(network.losses)
            gradients = packed.clip(tape.gradient(loss, network.trainable_variables))
            optimizer.apply(gradients, network.trainable_variables)
        packed.decay.current = None
        return tf.constant(0)

    compiled = _tensorflow_compiled(steps, network, reset)

    def tf_steps(inputs: tuple[Any, ...], parameters: LossParameters) -> None:
        compiled(tuple(tf.constant(part) for part in inputs),
                 {name: tf.constant(value) for name, value in parameters.items()})

    return tf_steps


def _resident_epoch(packed: _Pass, *, reset: Callable[[], None]) -> EpochFunction:
    """An epoch over rows resident on the device: its inputs are the ``(steps, batch)`` row
    indices and their mask, and each step gathers its batch on the device."""

    def fetch(rows: Any, mask: Any) -> tuple[Any, Any, Any]:
        return (keras.ops.take(packed.X, rows, axis=0), keras.ops.take(packed.y, rows, axis=0),
                _member_mask(packed.member_rows, rows, mask))

    steps = _compile_steps(packed, fetch, reset=reset)

    def epoch(order: np.ndarray, mask: np.ndarray, parameters: LossParameters) -> None:
        steps((order, mask), parameters)

    return epoch


def _streamed_epoch(
    packed: _Pass, X: Features, y: np.ndarray, learns: np.ndarray | None
) -> EpochFunction:
    """An epoch whose batches are gathered on the host (from memory or a memory map's view, one
    block of rows read and standardised at a time) and sent to the device in blocks of steps,
    each block one call of the same compiled step as the resident epoch's: the same batch
    order, the same steps, the same loss, for data the device cannot hold."""
    steps = _compile_steps(packed, lambda x, labels, mask: (x, labels, mask),
                           reset=lambda: None)  # nothing ran before the first call
    row_bytes = X[:1].nbytes + y[:1].nbytes

    def epoch(order: np.ndarray, mask: np.ndarray, parameters: LossParameters) -> None:
        n_steps, batch = order.shape
        per_block = max(1, STREAM_BLOCK_BYTES // max(batch * row_bytes, 1))
        for start in range(0, n_steps, per_block):
            rows = order[start:start + per_block]
            block_mask = mask[start:start + per_block]
            if learns is not None:  # (steps, batch, members): each member's own folds
                block_mask = block_mask[:, :, None] * learns[rows]
            steps((np.asarray(X[rows.ravel()]).reshape(*rows.shape, *X.shape[1:]), y[rows],
                   block_mask), parameters)

    return epoch


def _tensorflow_compiled(function: Callable[..., Any], network: keras.Model,
                         reset: Callable[[], None]) -> Callable[..., None]:
    """``function`` as a ``tf.function``, compiled with XLA where it pays
    (:func:`compiles_with_xla`); a model XLA cannot compile falls back, once, to the plain
    ``tf.function`` (``reset`` first restores what a failed call may have changed)."""
    import tensorflow as tf

    compiled = {"xla": tf.function(function, jit_compile=True), "plain": tf.function(function)}
    mode = ["xla" if compiles_with_xla(network) else "plain"]

    def call(*arguments: Any) -> None:
        if mode[0] == "xla":
            try:
                compiled["xla"](*arguments)
                return
            except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as error:
                warnings.warn(
                    f"XLA cannot compile this model ({type(error).__name__}); training without "
                    "XLA.", RuntimeWarning, stacklevel=3,
                )
                mode[0] = "plain"
                reset()
        compiled["plain"](*arguments)

    return call


def _jax_state(network: keras.Model, optimizer: keras.optimizers.Optimizer) -> tuple:
    return (
        [v.value for v in network.trainable_variables],
        [v.value for v in network.non_trainable_variables],
        [v.value for v in optimizer.variables],
    )


def _jax_assign(network: keras.Model, optimizer: keras.optimizers.Optimizer,
                state: tuple) -> None:
    trainable, non_trainable, optimizer_state = state
    for variables, values in (
        (network.trainable_variables, trainable),
        (network.non_trainable_variables, non_trainable),
        (optimizer.variables, optimizer_state),
    ):
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)


def fold_scores(
    validation: np.ndarray,
    test: np.ndarray,
    splits: Splits,
    epochs: np.ndarray | None,
    seconds: float,
) -> BatchScores:
    """Scores per candidate from scores per fold member: ``validation`` and ``test`` are
    ``(candidates, folds, rows, outputs)``; ``epochs`` per fold member, candidate-major. Row
    ``r``'s validation score is that of the member that did not learn from it; test scores and
    epochs are the means over folds (production trains once: the folds' typical length).
    Without folds, each candidate's scores are views of the arrays given, not copies."""
    members, folds = validation.shape[0], validation.shape[1]
    if splits.folds is None:
        validation, test = validation[:, 0], test[:, 0]
    else:
        validation = validation[:, splits.folds, np.arange(validation.shape[2])]
        test = test.mean(axis=1)
        if epochs is not None:
            epochs = np.round(np.asarray(epochs, dtype=np.float64).reshape(members, folds)
                              .mean(axis=1))
    return BatchScores(
        validation=validation,
        test=test,
        seconds=seconds,
        epochs=None if epochs is None else np.asarray(epochs).astype(np.int64),
    )


def _deferred(parameters: dict[str, np.ndarray], switch: np.ndarray | None,
              epoch: int) -> dict[str, np.ndarray]:
    """The loss parameters of ``epoch``: each member's ``weights`` from its ``switch`` epoch
    on, all ones (unweighted) before it (see :meth:`PackedTrainer.train`)."""
    if switch is None:
        return parameters
    weights = parameters["weights"]
    on = (epoch >= switch).reshape(-1, *([1] * (weights.ndim - 1)))
    return {**parameters, "weights": np.where(on, weights, 1.0).astype(weights.dtype)}


class _EarlyStopping:
    """Per-member early stopping of a :class:`PackedTrainer` (see :meth:`PackedTrainer.train`).

    Keras's rule per member: after each epoch, ``wait += 1``; a loss below the best so far
    keeps the weights and resets ``wait``; otherwise ``wait >= patience`` (after the first
    epoch) ends that member. A deferred member (``switch``) is judged from its switch epoch
    on only, as a fresh ``EarlyStopping`` in a second ``fit`` from that epoch would judge it.
    """

    def __init__(self, trainer: PackedTrainer, parameters: LossParameters,
                 switch: np.ndarray | None = None, until: np.ndarray | None = None) -> None:
        self.trainer = trainer
        self.parameters = parameters
        self.switch = (np.zeros(trainer.network_members) if switch is None
                       else np.asarray(switch, dtype=np.float64))
        self.until = (np.zeros(trainer.network_members) if until is None
                      else np.asarray(until, dtype=np.float64))
        self.owners = trainer.member_owners()
        self.best = [keras.ops.convert_to_numpy(v) for v in trainer.network.variables]
        self.best_loss = np.full(trainer.network_members, np.inf)
        self.best_epoch = np.zeros(trainer.network_members, dtype=np.int64)
        self.wait = np.zeros(trainer.network_members, dtype=np.int64)
        self.done = np.zeros(trainer.network_members, dtype=bool)

    def lowest(self) -> float | None:
        """The lowest finite validation loss any member reached so far."""
        finite = self.best_loss[np.isfinite(self.best_loss)]
        return float(finite.min()) if finite.size else None

    def losses(self) -> np.ndarray:
        """Each member's mean weighted loss on the validation rows (one compiled call)."""
        return np.asarray(self.trainer.validation_loss(self.parameters), dtype=np.float64)

    def after_epoch(self, epoch: int, parameters: LossParameters | None = None) -> bool:
        """Judge every member after ``epoch`` (0-based) on that epoch's loss ``parameters``
        (default: the first ones); ``True`` when all are done. Members before their switch
        are not judged (nor done)."""
        if parameters is not None:
            self.parameters = parameters
        loss = self.losses()
        active = ~self.done & (epoch >= self.switch)
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
        self.done |= (self.until > 0) & (epoch + 1 >= self.until)  # its length is over
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


def _step_loss(loss: TrainingLoss, y_batch: Any, logits: Any, mask: Any,
               parameters: LossParameters) -> Any:
    """The batch's training loss: each member's mean over the rows it learns from, summed
    (each member's gradient is then its lone model's).

    ``mask`` is ``(batch,)`` (padding only: every member learns from every row) or
    ``(batch, members)`` (cross-validation: each member's own training folds)."""
    losses = loss.member_losses(y_batch, logits, parameters)
    if len(mask.shape) == 1:
        return keras.ops.sum(keras.ops.sum(losses, axis=-1) * mask) / keras.ops.sum(mask)
    return keras.ops.sum(_mean_over_rows(losses, mask))


def _model_losses(losses: Sequence[Any]) -> Any:
    """The model's own losses (a factory's weight or activity regularisers: each member's own,
    so their sum regularises each member as it would alone), as production training adds
    them; 0 for none."""
    if not losses:
        return 0.0
    return keras.ops.sum(keras.ops.stack([keras.ops.sum(loss) for loss in losses]))


def _member_mask(member_rows: Any, rows: Any, mask: Any) -> Any:
    """A batch's row mask, per member under cross-validation (see :func:`_step_loss`)."""
    if member_rows is None:
        return mask
    return keras.ops.expand_dims(mask, 1) * keras.ops.take(member_rows, rows, axis=0)


def _mean_over_rows(losses: Any, mask: Any) -> Any:
    """``(members,)``: the mean of ``(rows, members)`` losses over each member's rows."""
    if mask is None:
        return keras.ops.mean(losses, axis=0)
    return keras.ops.sum(losses * mask, axis=0) / keras.ops.maximum(
        keras.ops.sum(mask, axis=0), 1.0
    )


def _validation_mask(splits: Splits, members: int) -> np.ndarray | None:
    """``(validation rows, network members)``: the rows each member is judged on (its own
    fold) under cross-validation; ``None`` when every member is judged on every row."""
    if splits.folds is None:
        return None
    fold_of_member = np.tile(np.arange(splits.n_folds), members)
    return (splits.folds[:, None] == fold_of_member[None, :]).astype(np.float32)


def _compile_loss_sums(packed: _Pass) -> Callable[..., np.ndarray]:
    """Each member's summed loss over a chunk of rows, ``(features, labels, mask,
    parameters)`` to ``(members,)``, as one compiled call written once per backend. ``mask``
    is ``(rows, 1)`` or ``(rows, members)``; a masked row adds nothing, not even an inf or NaN
    loss (a padded row's)."""
    network, loss = packed.network, packed.loss

    def summed(logits: Any, labels: Any, mask: Any, parameters: LossParameters) -> Any:
        losses = loss.member_losses(labels, logits, parameters)
        return keras.ops.sum(keras.ops.where(mask > 0, losses * mask, 0.0), axis=0)

    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp

        @jax.jit
        def jax_run(trainable, non_trainable, x, labels, mask, parameters):
            logits, _ = network.stateless_call(trainable, non_trainable,
                                               x.astype(packed.input_dtype), training=False)
            return summed(logits, labels, mask, parameters)

        def run(x: Any, labels: Any, mask: Any, parameters: LossParameters) -> np.ndarray:
            return np.asarray(jax_run(
                [v.value for v in network.trainable_variables],
                [v.value for v in network.non_trainable_variables],
                jnp.asarray(x), jnp.asarray(labels), jnp.asarray(mask),
                {name: jnp.asarray(value) for name, value in parameters.items()}))

        return run
    import tensorflow as tf

    @tf.function
    def tf_run(x, labels, mask, parameters):
        logits = network(tf.cast(x, packed.input_dtype), training=False)
        return summed(logits, labels, mask, parameters)

    def tensorflow_run(x: Any, labels: Any, mask: Any,
                       parameters: LossParameters) -> np.ndarray:
        return tf_run(tf.convert_to_tensor(x), tf.convert_to_tensor(labels),
                      tf.convert_to_tensor(mask),
                      {name: tf.constant(value) for name, value in parameters.items()}).numpy()

    return tensorflow_run


def _validation_loss(packed: _Pass, splits: Splits, members: int, task: Task, *,
                     streamed: bool) -> Callable[[LossParameters], np.ndarray]:
    """Each network member's mean loss on its validation rows (its own fold under
    cross-validation), as its lone model's ``val_loss``: the summed losses of
    :func:`_compile_loss_sums` over the rows, divided on the host by each member's row count.
    The calls take chunks of :func:`scoring_chunk` rows, so the logits and the loss's
    temporaries of one call stay small however many labels and members there are. Resident,
    the rows go to the device once and each call takes a slice of them; streamed, they are
    read (from memory or a memory map's view) and sent in chunks of at most
    :data:`STREAM_BLOCK_BYTES`, the last chunk padded and masked so that every call has one
    shape."""
    sums = _compile_loss_sums(packed)
    validation = splits.validation
    X, n_rows = validation.X, validation.X.shape[0]
    y = narrow_labels(validation.y, task)
    folds = _validation_mask(splits, members)
    mask = np.ones((n_rows, 1), np.float32) if folds is None else folds
    counts = np.maximum(mask.sum(axis=0, dtype=np.float64), 1.0)
    size = min(n_rows, scoring_chunk(X, members * splits.n_folds, validation.n_outputs))
    if not streamed:
        whole = tuple(keras.ops.convert_to_tensor(part) for part in (np.asarray(X), y, mask))

        def chunks() -> Iterator[tuple[Any, Any, Any]]:
            for start in range(0, n_rows, size):
                yield tuple(part[start:start + size] for part in whole)
    else:
        size = max(1, min(size, block_rows(X, STREAM_BLOCK_BYTES)))

        def chunks() -> Iterator[tuple[Any, Any, Any]]:
            for start in range(0, n_rows, size):
                parts = [np.asarray(X[start:start + size]), y[start:start + size],
                         mask[start:start + size]]
                short = size - parts[0].shape[0]
                if short:
                    parts = [np.concatenate([part, np.zeros((short, *part.shape[1:]),
                                                            part.dtype)]) for part in parts]
                yield parts[0], parts[1], parts[2]

    def mean_loss(parameters: LossParameters) -> np.ndarray:
        total = np.zeros(mask.shape[1], np.float64)
        for x, labels, chunk_mask in chunks():
            total = total + sums(x, labels, chunk_mask, parameters)
        return (total / counts).astype(np.float32)

    return mean_loss


def _compile_logits(network: keras.Model, input_dtype: str) -> Callable[[np.ndarray], np.ndarray]:
    """The network's inference logits of a chunk of rows as one compiled call."""
    if keras.backend.backend() == "jax":
        import jax

        @jax.jit
        def run(trainable, non_trainable, X):
            logits, _ = network.stateless_call(trainable, non_trainable,
                                               X.astype(input_dtype), training=False)
            return logits

        return lambda X: np.asarray(run([v.value for v in network.trainable_variables],
                                        [v.value for v in network.non_trainable_variables], X))
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def compiled(X):
        return network(tf.cast(X, input_dtype), training=False)

    return lambda X: compiled(tf.constant(X)).numpy()


CONVOLUTIONS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
)


def compiles_with_xla(network: keras.Model) -> bool:
    """Whether TensorFlow's epoch is compiled with XLA: for dense networks (the built-in MLP:
    one fused loop, measured faster), not for convolutions, which XLA's CPU backend runs far
    slower than TensorFlow's own (oneDNN) kernels: 22.2 s against 1.4 s for 3 epochs of 8
    packed Conv1D copies on 841 rows, 2 cores (eight plain ``fit`` calls: 12.9 s)."""
    return not any(isinstance(layer, CONVOLUTIONS) for layer in network._flatten_layers())


def train_and_score(
    splits: Splits,
    model: ModelConfig,
    parameters: Mapping[str, Any],
    *,
    seed: int,
    factory: ModelFactory | None = None,
) -> BatchScores:
    """One-off convenience: build a trainer for as many members as ``parameters`` holds
    ``weights`` (as :meth:`PackedTrainer.train` takes them) and use it once."""
    parameters = as_loss_parameters(parameters)
    trainer = PackedTrainer(splits, model, members=parameters["weights"].shape[0], seed=seed,
                            factory=factory)
    return trainer.train_and_score(parameters)
