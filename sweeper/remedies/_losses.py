"""The remedies' losses in ``keras.ops``, for every Keras backend: the cross-entropy formulas
the remedy modules compose, the Keras loss classes users compile with, and :class:`RemedyLoss`,
one member's loss of any registered remedy.

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
so a model compiled with them saves and loads. This module imports Keras: the remedy modules
import it inside their loss methods only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from sweeper.config._vocabulary import Task

__all__ = [
    "CostSensitiveSparseCategoricalCrossentropy",
    "FocalBinaryCrossentropy",
    "FocalSparseCategoricalCrossentropy",
    "LogitAdjustedBinaryCrossentropy",
    "LogitAdjustedSparseCategoricalCrossentropy",
    "RemedyLoss",
    "WeightedBinaryCrossentropy",
    "WeightedSparseCategoricalCrossentropy",
    "cost_weighted_softmax_cross_entropy",
    "focal_factor",
    "focal_sigmoid_cross_entropy",
    "loss_targets",
    "softplus_pair",
    "weighted_sigmoid_cross_entropy",
    "weighted_softmax_cross_entropy",
]


def softplus_pair(logits: Any) -> tuple[Any, Any]:
    """``(softplus(-x), softplus(x))``, i.e. ``(-log p, -log(1 - p))`` with ``p = sigmoid(x)``,
    in the overflow-safe form ``log(1 + exp(-|x|)) + max(-x, 0)``."""
    softplus_of_negative = ops.log1p(ops.exp(-ops.abs(logits))) + ops.relu(-logits)
    return softplus_of_negative, softplus_of_negative + logits


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


def _nested(value: Any) -> Any:
    """A parameter as JSON-friendly Python: a float, or nested lists of floats."""
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array.tolist()


@keras.saving.register_keras_serializable(package="sweeper")
class RemedyLoss(keras.losses.Loss):
    """One member's loss under a registered remedy, for a model with ``(batch, outputs)``
    logits: the remedy's own packed loss (:meth:`~sweeper.remedies.Remedy.member_losses`) with
    one member, so a model compiled with it minimises exactly what its packed member did.

    Args:
        task: ``"binary"``, ``"multilabel"`` (0/1 targets, ``(batch,)`` or ``(batch,
            labels)``) or ``"multiclass"`` (integer class ids).
        remedy: the registry name (:data:`sweeper.remedies.REMEDIES`).
        weights: ``(2, labels)`` (the positives' and the negatives' weights) or ``(K, K)``
            (the cost-weight matrix).
        parameters: the remedy's arrays of one member
            (:meth:`~sweeper.remedies.Remedy.member_parameters`).
    """

    def __init__(
        self,
        task: str,
        remedy: str,
        weights: Sequence[Any] | np.ndarray,
        parameters: Mapping[str, Any] | None = None,
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        from sweeper.remedies import remedy_named

        super().__init__(name=name or f"{remedy}_loss", reduction=reduction, dtype=dtype)
        self.task = Task(task)
        self.remedy = remedy_named(remedy).name
        matrix = np.asarray(weights, dtype=np.float64)
        if matrix.ndim != 2 or not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
            raise ValueError(f"`weights` must be a matrix of finite values >= 0, but got "
                             f"shape {matrix.shape}.")
        self.weights = matrix.tolist()
        self.parameters = {key: _nested(value) for key, value in (parameters or {}).items()}

    def call(self, y_true: Any, y_pred: Any) -> Any:
        from sweeper.remedies import remedy_named

        logits = ops.expand_dims(ops.cast(y_pred, "float32"), 1)
        weights = ops.expand_dims(ops.convert_to_tensor(self.weights, "float32"), 0)
        parameters = {key: ops.expand_dims(ops.convert_to_tensor(value, "float32"), 0)
                      for key, value in self.parameters.items()}
        targets = loss_targets(self.task, y_true, logits)
        return remedy_named(self.remedy).member_losses(self.task, targets, logits, weights,
                                                       parameters)[:, 0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "task": self.task.value, "remedy": self.remedy,
                "weights": [list(row) for row in self.weights],
                "parameters": dict(self.parameters)}


def loss_targets(task: Task, y_true: Any, logits: Any) -> Any:
    """What :meth:`~sweeper.remedies.Remedy.member_losses` takes as targets, for packed
    ``(batch, members, outputs)`` logits: sigmoid tasks' 0/1 labels as ``(batch, 1,
    outputs)`` floats (a binary ``y`` may come as ``(batch,)``), multi-class ids one-hot
    ``(batch, classes)``."""
    if Task(task).sigmoid:
        labels = ops.cast(y_true, logits.dtype)
        return ops.reshape(labels, (-1, 1, logits.shape[-1]))
    ids = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    return ops.one_hot(ids, logits.shape[-1], dtype=logits.dtype)
