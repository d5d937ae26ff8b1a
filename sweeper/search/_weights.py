"""Weight vectors for imbalanced labels and classes: families and normalisations, pure numpy.

A *family* turns label statistics into raw weights; a *normalisation* rescales them. The sampler
searches both, so every formula here is explicit and unit-tested against hand-computed values.
The families' registry (:mod:`sweeper.search._families`: their parameters, tables, exports) and
the functions that compose a trial's vector from it (``weight_vector``, ``binary_weight_pair``)
build on these formulas.

Families:

- ``inverse_frequency`` with an ``exponent``. Multi-label (one ``pos_weight`` per label, as in
  ``tf.nn.weighted_cross_entropy_with_logits``): ``(neg_j / pos_j) ** exponent``. Multi-class
  (one weight per class on softmax cross-entropy): ``(n / (K * n_c)) ** exponent``, scikit-learn's
  "balanced" rule. 0 gives no weighting, 1 the full inverse frequency.
- ``effective_number`` with a ``beta`` in (0, 1) (Cui et al., CVPR 2019): ``m`` samples count as
  ``E(m) = (1 - beta**m) / (1 - beta)`` effective samples, which saturates for large ``m``.
  Multi-label: ``E(neg_j) / E(pos_j)``; multi-class: ``n / (K * E(n_c))``. As ``beta -> 1`` this
  is the inverse frequency; as ``beta -> 0`` every weight is equal.

Per-label multipliers (``multipliers = "buckets"`` or ``"per_label"`` in the study file) scale a
family's raw weights before normalisation. With many labels one multiplier per label would
explode the search space, so :func:`frequency_buckets` groups labels by training frequency (tail
to head, the number of buckets configurable) and the sampler searches one multiplier per bucket.

Normalisations (``counts`` are positives per label, or samples per class):

- ``none``: the raw weights.
- ``sum_to_one``: ``w / sum(w)``.
- ``mean_one``: ``K * w / sum(w)``, so the weights sum to the number of labels or classes.
- ``balanced``: ``w * sum(counts) / sum(w * counts)``, so the total weight carried by the
  examples is unchanged: for classes ``sum_c w_c n_c = n``; for labels the positives carry in
  total as much weight as they do unweighted.

Binary (one logit, ``binary_weight_pair``): the family gives the pair ``(neg_weight,
pos_weight)`` over the counts ``(neg, pos)``: inverse frequency ``(1, (neg/pos) ** exponent)``,
effective number ``(1, E(neg) / E(pos))``, scikit-learn's balanced rule
``(n / (2 neg), n / (2 pos))``, a multiplier scaling ``pos_weight``; the
normalisation is then applied to the pair with those counts, as multi-class normalises its two
class weights (normalising a one-element vector would make every normalisation give 1):
``sum_to_one`` makes ``neg_weight + pos_weight = 1``, ``mean_one`` makes it 2, ``balanced``
makes ``neg * neg_weight + pos * pos_weight = n``. ``none`` leaves the pair as it is.

What the loss receives (:func:`multilabel_loss_weights`, :func:`multiclass_loss_weights`):

- multi-label, a ``(2, L)`` array: row 0 multiplies each label's positive term (``pos_weight``),
  row 1 its negative term (1 for every searched candidate; scikit-learn's "balanced" rule sets
  both, see :func:`sklearn_balanced`);
- multi-class, a ``(K, K)`` matrix ``M``: a row with true class ``y`` has its cross-entropy
  multiplied by ``sum_k M[y, k] p_k``, the expected weight under the model's own (constant, not
  differentiated) prediction ``p``. Weighting by the true class is ``M[y, k] = w_y``; by the
  predicted class ``M[y, k] = w_k``; by a cost matrix ``C`` (the cost of predicting ``k`` when
  the truth is ``y``) ``M[y, k] = w_y C[y, k]``.

This module must not import TensorFlow: it is used by reports and exports that never train.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sweeper.config import CLASS_WEIGHTINGS, NORMALISATIONS, Task

__all__ = [
    "effective_number",
    "frequency_buckets",
    "inverse_frequency",
    "multiclass_loss_weights",
    "multilabel_loss_weights",
    "normalise",
    "sklearn_balanced",
]

def _check_counts(counts: np.ndarray, n_samples: int) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"`counts` must be a non-empty vector, but got shape {counts.shape}.")
    if np.any(counts <= 0):
        raise ValueError(f"every count must be > 0, but got {counts.tolist()}.")
    if np.any(counts > n_samples):
        raise ValueError(f"every count must be <= n_samples={n_samples}.")
    return counts


def inverse_frequency(counts: np.ndarray, n_samples: int, task: Task) -> np.ndarray:
    """Raw inverse-frequency weights: ``neg/pos`` per label, or ``n/(K*n_c)`` per class.

    Args:
        counts: positives per label (multi-label) or samples per class (multi-class); all > 0.
        n_samples: rows in the training split.
        task: ``"multilabel"`` or ``"multiclass"``.
    """
    counts = _check_counts(counts, n_samples)
    if task == Task.MULTILABEL:
        return (n_samples - counts) / counts
    if task == Task.MULTICLASS:
        return n_samples / (counts.size * counts)
    raise ValueError(f"`task` must be 'multilabel' or 'multiclass', but got {task!r}.")


def effective_number(counts: np.ndarray, n_samples: int, task: Task, beta: float) -> np.ndarray:
    """Raw effective-number weights (see the module docstring); ``0 < beta < 1``."""
    if not 0.0 < beta < 1.0:
        raise ValueError(f"`0 < beta < 1` must hold, but got {beta=}.")
    counts = _check_counts(counts, n_samples)

    def effective(m: np.ndarray) -> np.ndarray:
        # -expm1(m log beta) = 1 - beta**m, exact for beta close to 1 and large m.
        return -np.expm1(m * np.log(beta)) / (1.0 - beta)

    if task == Task.MULTILABEL:
        return effective(n_samples - counts) / effective(counts)
    if task == Task.MULTICLASS:
        return n_samples / (counts.size * effective(counts))
    raise ValueError(f"`task` must be 'multilabel' or 'multiclass', but got {task!r}.")


def normalise(weights: np.ndarray, counts: np.ndarray, how: str) -> np.ndarray:
    """Rescale ``weights`` by one of :data:`NORMALISATIONS` (see the module docstring)."""
    weights = np.asarray(weights, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    if how == "none":
        return weights.copy()
    if how == "sum_to_one":
        return weights / weights.sum()
    if how == "mean_one":
        return weights * (weights.size / weights.sum())
    if how == "balanced":
        return weights * (counts.sum() / np.dot(weights, counts))
    raise ValueError(f"`how` must be one of {NORMALISATIONS}, but got {how!r}.")


def frequency_buckets(counts: np.ndarray, n_buckets: int) -> np.ndarray:
    """Each label's frequency bucket: 0 holds the rarest labels, ``n_buckets - 1`` the most
    frequent.

    Labels are ordered by training count (ties by position) and cut into ``n_buckets`` groups of
    equal size, or sizes differing by one (the rarer buckets get the extra labels): quantile
    buckets, so every bucket has labels whatever the shape of the frequency distribution.
    """
    counts = np.asarray(counts)
    if not 1 <= n_buckets <= counts.size:
        raise ValueError(
            f"`1 <= n_buckets <= number of labels` must hold, but got ({n_buckets=}, "
            f"labels={counts.size})."
        )
    order = np.argsort(counts, kind="stable")
    buckets = np.empty(counts.size, dtype=np.int64)
    for bucket, members in enumerate(np.array_split(order, n_buckets)):
        buckets[members] = bucket
    return buckets


def sklearn_balanced(counts: np.ndarray, n_samples: int, task: Task) -> np.ndarray:
    """scikit-learn's ``class_weight="balanced"``: ``n / (n_classes * count)``.

    Multi-label, each label is its own binary problem: a ``(2, L)`` array of the weights of its
    positives, ``n / (2 pos)``, and of its negatives, ``n / (2 neg)``. Multi-class, one weight per
    class, ``n / (K n_c)`` (the inverse-frequency family at exponent 1).
    """
    counts = _check_counts(counts, n_samples)
    if task == Task.MULTILABEL:
        return np.stack([n_samples / (2 * counts), n_samples / (2 * (n_samples - counts))])
    return inverse_frequency(counts, n_samples, task)


def multilabel_loss_weights(
    pos_weight: np.ndarray, neg_weight: np.ndarray | None = None
) -> np.ndarray:
    """The ``(2, L)`` array the multi-label loss takes: positive weights, then negative ones."""
    pos_weight = np.asarray(pos_weight, dtype=np.float64)
    if neg_weight is None:
        neg_weight = np.ones_like(pos_weight)
    return np.stack([pos_weight, np.asarray(neg_weight, dtype=np.float64)])


def multiclass_loss_weights(
    class_weight: np.ndarray,
    weighting: str = "true_class",
    cost_matrix: np.ndarray | Sequence[Sequence[float]] | None = None,
) -> np.ndarray:
    """The ``(K, K)`` matrix ``M`` the multi-class loss takes (see the module docstring)."""
    class_weight = np.asarray(class_weight, dtype=np.float64)
    n_classes = class_weight.size
    if weighting == "true_class":
        return np.repeat(class_weight[:, None], n_classes, axis=1)
    if weighting == "predicted_class":
        return np.repeat(class_weight[None, :], n_classes, axis=0)
    if weighting == "cost_matrix":
        if cost_matrix is None:
            raise ValueError("the cost_matrix weighting needs `cost_matrix`.")
        cost_matrix = np.asarray(cost_matrix, dtype=np.float64)
        if cost_matrix.shape != (n_classes, n_classes) or np.any(cost_matrix < 0):
            raise ValueError(
                f"`cost_matrix` must be a {n_classes} x {n_classes} matrix of values >= 0, "
                f"but got shape {cost_matrix.shape}."
            )
        return class_weight[:, None] * cost_matrix
    raise ValueError(f"`weighting` must be one of {CLASS_WEIGHTINGS}, but got {weighting!r}.")
