"""Keras losses built from a weight vector, written in ``keras.ops`` for every Keras backend.

Multi-label: :class:`WeightedBinaryCrossentropy` is ``tf.nn.weighted_cross_entropy_with_logits``
with one ``pos_weight`` per label, averaged over labels and rows (the model's last layer is
linear: it outputs logits), and optionally a ``neg_weight`` per label on the negatives' term
(scikit-learn's "balanced" rule weights both). Keras's ``fit(class_weight=...)`` is never used
for multi-label targets, since it weights each row by the class of its argmax, which is
meaningless for a multi-hot row.

Multi-class: :class:`WeightedSparseCategoricalCrossentropy` is softmax cross-entropy on logits
with each row weighted by the weight of its true class (integer class ids as targets), averaged
over rows. :class:`CostSensitiveSparseCategoricalCrossentropy` generalises it with a ``(K, K)``
matrix ``M``: a row of true class ``y`` is weighted by ``sum_k M[y, k] p_k``, the expected weight
under the model's current prediction ``p`` (held constant: the weight steers the gradient, it is
not itself minimised). ``M[y, k] = w_y`` is true-class weighting, ``M[y, k] = w_k`` weighting by
the predicted class, ``M[y, k] = w_y C[y, k]`` a cost matrix (see :mod:`sweeper.search`).

All are serialisable (``get_config``/``from_config``, registered under the ``sweeper`` package),
so a model compiled with them saves and loads. :func:`packed_loss_per_row` is the internal form
used to train several weight candidates at once: the model outputs ``(batch, members, labels)``
logits, and the loss is the *sum* over members of each member's own loss, so each member's
gradient is exactly the gradient it would get alone.

**The loss registry** (:data:`LOSSES`, :func:`loss_for`, :func:`register_loss`): each entry is a
:class:`TrainingLoss`, the loss of a task in both forms, the packed per-member one and a Keras
loss object for one member, so the packed trainer, a user's own training step and production
training from an export use one definition. A new loss is one entry (and its tests).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from sweeper.config import Task

__all__ = [
    "LOSSES",
    "REMEDY_PARAMETERS",
    "CostSensitiveSparseCategoricalCrossentropy",
    "FocalBinaryCrossentropy",
    "FocalSparseCategoricalCrossentropy",
    "LogitAdjustedBinaryCrossentropy",
    "LogitAdjustedSparseCategoricalCrossentropy",
    "LossParameters",
    "SigmoidCrossEntropy",
    "SoftmaxCrossEntropy",
    "TrainingLoss",
    "WeightedBinaryCrossentropy",
    "WeightedSparseCategoricalCrossentropy",
    "as_loss_parameters",
    "cost_weighted_softmax_cross_entropy",
    "focal_factor",
    "focal_sigmoid_cross_entropy",
    "loss_for",
    "packed_loss_per_row",
    "packed_member_losses",
    "register_loss",
    "weighted_sigmoid_cross_entropy",
    "weighted_softmax_cross_entropy",
]


def weighted_sigmoid_cross_entropy(
    labels: Any, logits: Any, pos_weight: Any, neg_weight: Any = 1.0
) -> Any:
    """Element-wise ``tf.nn.weighted_cross_entropy_with_logits``, in its overflow-safe form,
    with a weight ``r`` on the negatives' term as well.

    ``z q softplus(-x) + (1 - z) r softplus(x)``, written as
    ``r (1 - z) x + (r (1 - z) + q z) (log(1 + exp(-|x|)) + max(-x, 0))`` with labels ``z``,
    logits ``x``, ``pos_weight`` ``q`` and ``neg_weight`` ``r`` (1: TensorFlow's function);
    arguments broadcast against each other.
    """
    negative = neg_weight * (1.0 - labels)
    softplus_of_negative = ops.log1p(ops.exp(-ops.abs(logits))) + ops.relu(-logits)
    return negative * logits + (negative + pos_weight * labels) * softplus_of_negative


def focal_sigmoid_cross_entropy(
    labels: Any, logits: Any, pos_weight: Any, neg_weight: Any, gamma: Any
) -> Any:
    """Element-wise focal loss (Lin et al. 2017) with a weight per term:
    ``z q (1 - p)^gamma softplus(-x) + (1 - z) r p^gamma softplus(x)``, ``p = sigmoid(x)``:
    ``w (1 - p_t)^gamma CE`` with ``w`` the positives' weight ``q`` or the negatives' ``r``.

    The factors are written ``exp(-gamma softplus(+-x))`` (``log(1 - p) = -softplus(x)``), so
    they and their gradients stay finite for any logit, and ``gamma = 0`` gives exactly
    :func:`weighted_sigmoid_cross_entropy`'s terms. Keras's
    ``BinaryFocalCrossentropy(from_logits=True, gamma=g, apply_class_balancing=True, alpha=a)``
    is ``q = a``, ``r = 1 - a`` on every label (tests hold the two equal).
    """
    softplus_of_negative = ops.log1p(ops.exp(-ops.abs(logits))) + ops.relu(-logits)
    softplus_of_logits = softplus_of_negative + logits
    positive = pos_weight * labels * ops.exp(-gamma * softplus_of_logits)
    negative = neg_weight * (1.0 - labels) * ops.exp(-gamma * softplus_of_negative)
    return negative * softplus_of_logits + positive * softplus_of_negative


def focal_factor(one_hot: Any, logits: Any, gamma: Any) -> Any:
    """``(1 - p_y)^gamma`` per row (the last axis dropped), ``p = softmax(logits)``.

    ``log(1 - p_y)`` is ``logsumexp`` over the other classes minus ``logsumexp`` over all, so
    the factor and its gradient stay finite when ``p_y`` reaches 1 and ``gamma = 0`` gives 1.
    ``gamma`` broadcasts against the result.
    """
    others = ops.logsumexp(logits - 1e9 * one_hot, axis=-1)
    return ops.exp(gamma * (others - ops.logsumexp(logits, axis=-1)))


def weighted_softmax_cross_entropy(one_hot: Any, logits: Any, class_weight: Any) -> Any:
    """Per-row softmax cross-entropy times the weight of the row's true class.

    ``one_hot`` has the logits' shape (or broadcasts to it); ``class_weight`` broadcasts along the
    last axis. The result drops the last axis.
    """
    per_row = -ops.sum(one_hot * ops.log_softmax(logits, axis=-1), axis=-1)
    return per_row * ops.sum(one_hot * class_weight, axis=-1)


def cost_weighted_softmax_cross_entropy(one_hot: Any, logits: Any, matrix: Any) -> Any:
    """Per-row softmax cross-entropy times ``sum_k M[y, k] p_k`` (``p`` held constant).

    ``one_hot`` is ``(batch, K)``; ``logits`` is ``(batch, K)`` with ``matrix`` ``(K, K)``, or
    ``(batch, members, K)`` with ``matrix`` ``(members, K, K)`` (a packed model). The result drops
    the last axis.
    """
    log_p = ops.log_softmax(logits, axis=-1)
    if len(logits.shape) == 3:
        rows = ops.einsum("by,myk->bmk", one_hot, matrix)
        one_hot = ops.expand_dims(one_hot, 1)
    else:
        rows = ops.matmul(one_hot, matrix)
    row_weight = ops.sum(rows * ops.stop_gradient(ops.exp(log_p)), axis=-1)
    return -ops.sum(one_hot * log_p, axis=-1) * row_weight


def _as_weight_list(weights: Sequence[float] | np.ndarray, name: str) -> list[float]:
    values = np.asarray(weights, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"`{name}` must be a non-empty vector, but got shape {values.shape}.")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"`{name}` must hold finite values >= 0, but got {values.tolist()}.")
    return values.tolist()


def _as_remedy(gamma: float, log_prior: Sequence[float] | np.ndarray | None, tau: float,
               n_outputs: int) -> tuple[float, list[float] | None, float]:
    """The focal and logit-adjustment settings of a Keras loss, checked."""
    gamma, tau = float(gamma), float(tau)
    if not np.isfinite(gamma) or gamma < 0:
        raise ValueError(f"`gamma` must be a finite value >= 0, but got {gamma}.")
    if not np.isfinite(tau):
        raise ValueError(f"`tau` must be finite, but got {tau}.")
    if log_prior is None:
        return gamma, None, tau
    prior = np.asarray(log_prior, dtype=np.float64)
    if prior.shape != (n_outputs,) or not np.all(np.isfinite(prior)):
        raise ValueError(f"`log_prior` must hold {n_outputs} finite values, but got "
                         f"{prior.tolist()}.")
    return gamma, prior.tolist(), tau


@keras.saving.register_keras_serializable(package="sweeper")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Multi-label sigmoid cross-entropy on logits with one ``pos_weight`` per label.

    Args:
        pos_weight: one weight per label, multiplying the loss of that label's positives.
        neg_weight: one weight per label for its negatives; ``None`` is 1 for every label.
        gamma: the focal exponent (0: plain cross-entropy; see
            :func:`focal_sigmoid_cross_entropy`), the weights playing alpha.
        log_prior: one value per label, added times ``tau`` to the logits inside the loss
            (logit-adjusted training: the sweeper passes each label's log prior odds
            ``log(pi / (1 - pi))``); ``None``: no adjustment.
        tau: the strength of that adjustment.
    """

    def __init__(
        self,
        pos_weight: Sequence[float],
        neg_weight: Sequence[float] | None = None,
        name: str = "weighted_binary_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
        *,
        gamma: float = 0.0,
        log_prior: Sequence[float] | None = None,
        tau: float = 0.0,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.pos_weight = _as_weight_list(pos_weight, "pos_weight")
        self.neg_weight = None if neg_weight is None else _as_weight_list(neg_weight, "neg_weight")
        if self.neg_weight is not None and len(self.neg_weight) != len(self.pos_weight):
            raise ValueError(
                f"`neg_weight` must have one value per label ({len(self.pos_weight)}), but got "
                f"{len(self.neg_weight)}."
            )
        self.gamma, self.log_prior, self.tau = _as_remedy(gamma, log_prior, tau,
                                                          len(self.pos_weight))

    def call(self, y_true: Any, y_pred: Any) -> Any:
        pos_weight = ops.convert_to_tensor(self.pos_weight, dtype=y_pred.dtype)
        neg_weight = 1.0 if self.neg_weight is None else ops.convert_to_tensor(
            self.neg_weight, dtype=y_pred.dtype
        )
        labels = ops.cast(y_true, y_pred.dtype)
        # A binary y may come as (batch,) for the model's (batch, 1) logits: as the logits.
        labels = ops.reshape(labels, ops.shape(y_pred))
        logits = y_pred
        if self.log_prior is not None:
            logits = logits + self.tau * ops.convert_to_tensor(self.log_prior, y_pred.dtype)
        if self.gamma:
            per_label = focal_sigmoid_cross_entropy(labels, logits, pos_weight, neg_weight,
                                                    self.gamma)
        else:
            per_label = weighted_sigmoid_cross_entropy(labels, logits, pos_weight, neg_weight)
        return ops.mean(per_label, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pos_weight": list(self.pos_weight),
            "neg_weight": None if self.neg_weight is None else list(self.neg_weight),
            "gamma": self.gamma,
            "log_prior": None if self.log_prior is None else list(self.log_prior),
            "tau": self.tau,
        }


@keras.saving.register_keras_serializable(package="sweeper")
class FocalBinaryCrossentropy(WeightedBinaryCrossentropy):
    """Binary / multi-label focal loss on logits: :class:`WeightedBinaryCrossentropy` with a
    focal exponent ``gamma`` (default 2), ``pos_weight`` and ``neg_weight`` playing alpha."""

    def __init__(
        self,
        pos_weight: Sequence[float],
        neg_weight: Sequence[float] | None = None,
        name: str = "focal_binary_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
        *,
        gamma: float = 2.0,
        log_prior: Sequence[float] | None = None,
        tau: float = 0.0,
    ) -> None:
        super().__init__(pos_weight, neg_weight, name, reduction, dtype, gamma=gamma,
                         log_prior=log_prior, tau=tau)


@keras.saving.register_keras_serializable(package="sweeper")
class LogitAdjustedBinaryCrossentropy(WeightedBinaryCrossentropy):
    """Binary / multi-label logit-adjusted cross-entropy (Menon et al. 2021, for sigmoid
    outputs): the loss of ``logits + tau * log_prior``, ``log_prior`` each label's log prior
    odds ``log(pi / (1 - pi))``; the model itself outputs the unadjusted logits."""

    def __init__(
        self,
        pos_weight: Sequence[float],
        neg_weight: Sequence[float] | None = None,
        name: str = "logit_adjusted_binary_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
        *,
        gamma: float = 0.0,
        log_prior: Sequence[float] | None = None,
        tau: float = 1.0,
    ) -> None:
        if log_prior is None:
            raise ValueError("`log_prior` is required: one log prior odds per label.")
        super().__init__(pos_weight, neg_weight, name, reduction, dtype, gamma=gamma,
                         log_prior=log_prior, tau=tau)


@keras.saving.register_keras_serializable(package="sweeper")
class WeightedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Multi-class softmax cross-entropy on logits, each row weighted by its true class's weight.

    Args:
        class_weight: one weight per class. Targets are integer class ids.
    """

    def __init__(
        self,
        class_weight: Sequence[float],
        name: str = "weighted_sparse_categorical_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.class_weight = _as_weight_list(class_weight, "class_weight")

    def call(self, y_true: Any, y_pred: Any) -> Any:
        class_weight = ops.convert_to_tensor(self.class_weight, dtype=y_pred.dtype)
        ids = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        one_hot = ops.one_hot(ids, len(self.class_weight), dtype=y_pred.dtype)
        return weighted_softmax_cross_entropy(one_hot, y_pred, class_weight)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "class_weight": list(self.class_weight)}


@keras.saving.register_keras_serializable(package="sweeper")
class CostSensitiveSparseCategoricalCrossentropy(keras.losses.Loss):
    """Multi-class softmax cross-entropy on logits, each row weighted by ``sum_k M[y, k] p_k``.

    Args:
        weight_matrix: ``(K, K)``, rows indexed by the true class, columns by the predicted one
            (see the module docstring). Targets are integer class ids.
        gamma: the focal exponent: each row's loss times ``(1 - p_y)^gamma`` (0: none).
        log_prior: one value per class (the sweeper passes ``log pi_k``, each class's share of
            the training rows), added times ``tau`` to the logits inside the loss
            (logit-adjusted training; ``p`` above is then the adjusted softmax); ``None``: none.
        tau: the strength of that adjustment (balanced softmax is ``tau = 1``).
    """

    def __init__(
        self,
        weight_matrix: Sequence[Sequence[float]] | np.ndarray,
        name: str = "cost_sensitive_sparse_categorical_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
        *,
        gamma: float = 0.0,
        log_prior: Sequence[float] | None = None,
        tau: float = 0.0,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        matrix = np.asarray(weight_matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
            raise ValueError(f"`weight_matrix` must be K x K (K >= 2), but got {matrix.shape}.")
        if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
            raise ValueError("`weight_matrix` must hold finite values >= 0.")
        self.weight_matrix = matrix.tolist()
        self.gamma, self.log_prior, self.tau = _as_remedy(gamma, log_prior, tau,
                                                          matrix.shape[0])

    def call(self, y_true: Any, y_pred: Any) -> Any:
        matrix = ops.convert_to_tensor(self.weight_matrix, dtype=y_pred.dtype)
        ids = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        one_hot = ops.one_hot(ids, len(self.weight_matrix), dtype=y_pred.dtype)
        logits = y_pred
        if self.log_prior is not None:
            logits = logits + self.tau * ops.convert_to_tensor(self.log_prior, y_pred.dtype)
        per_row = cost_weighted_softmax_cross_entropy(one_hot, logits, matrix)
        if self.gamma:
            per_row = per_row * focal_factor(one_hot, logits, self.gamma)
        return per_row

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "weight_matrix": [list(r) for r in self.weight_matrix],
            "gamma": self.gamma,
            "log_prior": None if self.log_prior is None else list(self.log_prior),
            "tau": self.tau,
        }


@keras.saving.register_keras_serializable(package="sweeper")
class FocalSparseCategoricalCrossentropy(CostSensitiveSparseCategoricalCrossentropy):
    """Multi-class focal loss on logits: :class:`CostSensitiveSparseCategoricalCrossentropy`
    with a focal exponent ``gamma`` (default 2). With true-class rows ``M[y, k] = alpha_y``
    it is Keras's ``CategoricalFocalCrossentropy(from_logits=True, alpha=alpha, gamma=gamma)``
    on sparse targets."""

    def __init__(
        self,
        weight_matrix: Sequence[Sequence[float]] | np.ndarray,
        name: str = "focal_sparse_categorical_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
        *,
        gamma: float = 2.0,
        log_prior: Sequence[float] | None = None,
        tau: float = 0.0,
    ) -> None:
        super().__init__(weight_matrix, name, reduction, dtype, gamma=gamma,
                         log_prior=log_prior, tau=tau)


@keras.saving.register_keras_serializable(package="sweeper")
class LogitAdjustedSparseCategoricalCrossentropy(CostSensitiveSparseCategoricalCrossentropy):
    """Multi-class logit-adjusted cross-entropy (Menon et al. 2021): the cost-weighted loss of
    ``softmax(logits + tau * log_prior)``, ``log_prior`` the classes' ``log pi``; ``tau = 1``
    (the default) with unit weights is the balanced softmax (Ren et al. 2020)."""

    def __init__(
        self,
        weight_matrix: Sequence[Sequence[float]] | np.ndarray,
        name: str = "logit_adjusted_sparse_categorical_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
        *,
        gamma: float = 0.0,
        log_prior: Sequence[float] | None = None,
        tau: float = 1.0,
    ) -> None:
        if log_prior is None:
            raise ValueError("`log_prior` is required: one log prior per class.")
        super().__init__(weight_matrix, name, reduction, dtype, gamma=gamma,
                         log_prior=log_prior, tau=tau)


LossParameters = Mapping[str, Any]
"""A loss's parameters by name (``weights`` always; a registry entry may read more), each an
array whose first axis is the member (packed form) or, for :meth:`TrainingLoss.keras_loss`,
one member's values without that axis."""


def as_loss_parameters(weights: Any) -> dict[str, np.ndarray]:
    """``weights`` alone (an array) or a mapping of parameters, as a dict of float32 arrays."""
    if isinstance(weights, Mapping):
        if "weights" not in weights:
            raise ValueError("loss parameters must hold `weights`.")
        return {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}
    return {"weights": np.asarray(weights, dtype=np.float32)}


class TrainingLoss(abc.ABC):
    """One entry of the loss registry: the loss of a task, in the two forms training needs.

    The packed trainer calls :meth:`member_losses` on a packed model's logits; a user's own
    training step (and production training from an export) gets :meth:`keras_loss`, a Keras
    loss object for one member. The contract, which tests hold every entry to: for the same
    labels, logits and parameters, ``keras_loss(p_m)(y, logits[:, m])`` equals the mean over
    rows of ``member_losses(y, logits, p)[:, m]``, so a member trained packed and a model
    compiled with its Keras loss minimise the same function.

    Subclasses set :attr:`name` (the registry key) and :attr:`tasks` (the tasks it trains).
    """

    name: ClassVar[str]
    tasks: ClassVar[tuple[Task, ...]]

    def weights_shape(self, n_outputs: int) -> tuple[int, int]:
        """One member's ``weights`` shape for ``n_outputs`` labels or classes."""
        return (2, n_outputs)

    @abc.abstractmethod
    def member_losses(self, y_true: Any, logits: Any, parameters: LossParameters) -> Any:
        """``(batch, members)``: each row's loss under each member's parameters, for
        ``(batch, members, outputs)`` logits, computed in float32 (whatever the logits' dtype:
        under mixed precision they are bfloat16)."""

    @abc.abstractmethod
    def keras_loss(self, parameters: LossParameters) -> keras.losses.Loss:
        """The Keras loss of one member (``parameters`` without the member axis), for a model
        with ``(batch, outputs)`` logits."""


REMEDY_PARAMETERS = ("gamma", "tau_train", "log_prior")
"""The loss parameters beside ``weights`` that both registry entries read, each optional (a
missing one is its neutral value): ``gamma`` ``(members,)``, the focal exponent (0: plain
cross-entropy); ``tau_train`` ``(members,)``, the strength of the training-time logit
adjustment (0: none); ``log_prior`` ``(members, outputs)``, what it adds to the logits times
``tau_train``: each class's ``log pi`` (multi-class) or each label's log prior odds
``log(pi / (1 - pi))`` (binary and multi-label). Every member of a packed batch carries all of
them, so one batch may mix remedies."""


def _member_values(parameters: LossParameters, name: str, dtype: Any) -> Any:
    """A per-member scalar parameter as ``(members, 1)``, broadcasting over the outputs of
    ``(batch, members, outputs)`` logits; ``None`` when absent."""
    if name not in parameters:
        return None
    return ops.expand_dims(ops.cast(parameters[name], dtype), -1)


def _adjusted(logits: Any, parameters: LossParameters) -> Any:
    """Packed logits plus ``tau_train * log_prior`` per member (unchanged without them)."""
    tau = _member_values(parameters, "tau_train", logits.dtype)
    if tau is None or "log_prior" not in parameters:
        return logits
    return logits + tau * ops.cast(parameters["log_prior"], logits.dtype)


def _keras_remedy(parameters: LossParameters) -> tuple[float, list[float] | None, float]:
    """One member's ``gamma``, ``log_prior`` (``None`` when ``tau_train`` is 0) and ``tau``."""
    gamma = float(np.asarray(parameters.get("gamma", 0.0)))
    tau = float(np.asarray(parameters.get("tau_train", 0.0)))
    prior = parameters.get("log_prior")
    if tau == 0.0 or prior is None:
        return gamma, None, 0.0
    return gamma, np.asarray(prior, dtype=np.float64).tolist(), tau


class SigmoidCrossEntropy(TrainingLoss):
    """Binary and multi-label: :func:`weighted_sigmoid_cross_entropy` averaged over labels;
    ``weights`` is ``(2, labels)`` per member, the positives' then the negatives' weights.

    With ``gamma`` the focal form (:func:`focal_sigmoid_cross_entropy`: ``w (1 - p_t)^gamma
    CE`` per label, the weights playing alpha); with ``tau_train`` and ``log_prior`` the
    logits plus ``tau_train * log_prior`` (each label's log prior odds) inside the loss (see
    :data:`REMEDY_PARAMETERS`)."""

    name = "sigmoid_cross_entropy"
    tasks = (Task.BINARY, Task.MULTILABEL)

    def member_losses(self, y_true: Any, logits: Any, parameters: LossParameters) -> Any:
        logits = _adjusted(ops.cast(logits, "float32"), parameters)  # float32 under mixed
        weights = ops.cast(parameters["weights"], logits.dtype)      # precision too
        labels = ops.expand_dims(ops.cast(y_true, logits.dtype), 1)
        gamma = _member_values(parameters, "gamma", logits.dtype)
        if gamma is None:
            per_label = weighted_sigmoid_cross_entropy(
                labels, logits, weights[:, 0, :], weights[:, 1, :]
            )
        else:
            per_label = focal_sigmoid_cross_entropy(
                labels, logits, weights[:, 0, :], weights[:, 1, :], gamma
            )
        return ops.mean(per_label, axis=-1)

    def keras_loss(self, parameters: LossParameters) -> keras.losses.Loss:
        weights = np.asarray(parameters["weights"], dtype=np.float64)
        gamma, prior, tau = _keras_remedy(parameters)
        if prior is not None:
            return LogitAdjustedBinaryCrossentropy(pos_weight=weights[0], neg_weight=weights[1],
                                                   gamma=gamma, log_prior=prior, tau=tau)
        if gamma:
            return FocalBinaryCrossentropy(pos_weight=weights[0], neg_weight=weights[1],
                                           gamma=gamma)
        return WeightedBinaryCrossentropy(pos_weight=weights[0], neg_weight=weights[1])


class SoftmaxCrossEntropy(TrainingLoss):
    """Multi-class: :func:`cost_weighted_softmax_cross_entropy`; ``weights`` is the ``(K, K)``
    matrix ``M`` per member (true-class weighting, predicted-class weighting and cost matrices
    are all such matrices, see :mod:`sweeper.search`).

    With ``gamma`` each row's weighted loss times ``(1 - p_y)^gamma`` (:func:`focal_factor`);
    with ``tau_train`` and ``log_prior`` (each class's ``log pi``) the loss of
    ``softmax(logits + tau_train * log_prior)`` (see :data:`REMEDY_PARAMETERS`)."""

    name = "softmax_cross_entropy"
    tasks = (Task.MULTICLASS,)

    def weights_shape(self, n_outputs: int) -> tuple[int, int]:
        return (n_outputs, n_outputs)

    def member_losses(self, y_true: Any, logits: Any, parameters: LossParameters) -> Any:
        logits = _adjusted(ops.cast(logits, "float32"), parameters)  # float32 under mixed
        weights = ops.cast(parameters["weights"], logits.dtype)      # precision too
        ids = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        one_hot = ops.one_hot(ids, logits.shape[-1], dtype=logits.dtype)
        per_row = cost_weighted_softmax_cross_entropy(one_hot, logits, weights)
        if "gamma" in parameters:
            gamma = ops.cast(parameters["gamma"], logits.dtype)
            per_row = per_row * focal_factor(ops.expand_dims(one_hot, 1), logits, gamma)
        return per_row

    def keras_loss(self, parameters: LossParameters) -> keras.losses.Loss:
        matrix = np.asarray(parameters["weights"])
        gamma, prior, tau = _keras_remedy(parameters)
        if prior is not None:
            return LogitAdjustedSparseCategoricalCrossentropy(matrix, gamma=gamma,
                                                              log_prior=prior, tau=tau)
        if gamma:
            return FocalSparseCategoricalCrossentropy(matrix, gamma=gamma)
        return CostSensitiveSparseCategoricalCrossentropy(matrix)


LOSSES: dict[str, TrainingLoss] = {}
"""The loss registry, by name: what both training paths and the export look losses up in."""
_TASK_LOSSES: dict[Task, str] = {}


def register_loss(loss: TrainingLoss, *, default: bool = False) -> TrainingLoss:
    """Add ``loss`` to the registry under its name; ``default``: the loss of its tasks."""
    if loss.name in LOSSES:
        raise ValueError(f"a loss named {loss.name!r} is registered already.")
    LOSSES[loss.name] = loss
    if default:
        for task in loss.tasks:
            _TASK_LOSSES[task] = loss.name
    return loss


register_loss(SigmoidCrossEntropy(), default=True)
register_loss(SoftmaxCrossEntropy(), default=True)


def loss_for(task: Task | str) -> TrainingLoss:
    """The registry's loss of ``task``."""
    return LOSSES[_TASK_LOSSES[Task(task)]]


def packed_member_losses(task: Task, y_true: Any, logits: Any, weights: Any) -> Any:
    """``(batch, members)``: each row's loss under each member's own weights (the task's
    registry entry, :meth:`TrainingLoss.member_losses`).

    ``logits`` is ``(batch, members, outputs)``; ``weights`` is ``(members, 2, labels)``
    (positive and negative weights) or ``(members, classes, classes)`` (the cost-weight matrix).
    A member's mean over rows is the loss its lone model reports (early stopping watches it on
    the validation rows).
    """
    parameters = weights if isinstance(weights, Mapping) else {"weights": weights}
    return loss_for(task).member_losses(y_true, logits, parameters)


def packed_loss_per_row(task: Task, y_true: Any, logits: Any, weights: Any) -> Any:
    """Per-row loss of a packed model: the sum over members of each member's own loss.

    The mean over rows of the result is ``sum_m mean_rows(loss_m)``: each member's gradient
    equals its lone gradient, and members share nothing but the batch order.
    """
    return ops.sum(packed_member_losses(task, y_true, logits, weights), axis=-1)
