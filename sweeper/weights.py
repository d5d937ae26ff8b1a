"""Weight vectors for imbalanced labels and classes: families and normalisations, pure numpy.

A *family* turns label statistics into raw weights; a *normalisation* rescales them. The sampler
searches both, so every formula here is explicit and unit-tested against hand-computed values.

Families:

- ``inverse_frequency`` with an ``exponent``. Multi-label (one ``pos_weight`` per label, as in
  ``tf.nn.weighted_cross_entropy_with_logits``): ``(neg_j / pos_j) ** exponent``. Multi-class
  (one weight per class on softmax cross-entropy): ``(n / (K * n_c)) ** exponent``, scikit-learn's
  "balanced" rule. 0 gives no weighting, 1 the full inverse frequency.
- ``effective_number`` with a ``beta`` in (0, 1) (Cui et al., CVPR 2019): ``m`` samples count as
  ``E(m) = (1 - beta**m) / (1 - beta)`` effective samples, which saturates for large ``m``.
  Multi-label: ``E(neg_j) / E(pos_j)``; multi-class: ``n / (K * E(n_c))``. As ``beta -> 1`` this
  is the inverse frequency; as ``beta -> 0`` every weight is equal.

Normalisations (``counts`` are positives per label, or samples per class):

- ``none``: the raw weights.
- ``sum_to_one``: ``w / sum(w)``.
- ``mean_one``: ``K * w / sum(w)``, so the weights sum to the number of labels or classes.
- ``balanced``: ``w * sum(counts) / sum(w * counts)``, so the total weight carried by the
  examples is unchanged: for classes ``sum_c w_c n_c = n``; for labels the positives carry in
  total as much weight as they do unweighted.

This module must not import TensorFlow: it is used by reports and exports that never train.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "FAMILIES",
    "NORMALISATIONS",
    "Task",
    "effective_number",
    "inverse_frequency",
    "normalise",
    "weight_vector",
]

Task = Literal["multilabel", "multiclass"]
NORMALISATIONS = ("none", "sum_to_one", "mean_one", "balanced")
FAMILIES = ("inverse_frequency", "effective_number")


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
    if task == "multilabel":
        return (n_samples - counts) / counts
    if task == "multiclass":
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

    if task == "multilabel":
        return effective(n_samples - counts) / effective(counts)
    if task == "multiclass":
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


def weight_vector(
    *,
    counts: np.ndarray,
    n_samples: int,
    task: Task,
    normalisation: str,
    family: str = "inverse_frequency",
    exponent: float | None = None,
    beta: float | None = None,
) -> np.ndarray:
    """The weight vector of one trial: a family's raw weights, then normalised."""
    if family == "inverse_frequency":
        if exponent is None or not exponent >= 0:
            raise ValueError(f"`exponent >= 0` must hold, but got {exponent=}.")
        raw = inverse_frequency(counts, n_samples, task) ** exponent
    elif family == "effective_number":
        if beta is None:
            raise ValueError("the effective_number family needs `beta`.")
        raw = effective_number(counts, n_samples, task, beta)
    else:
        raise ValueError(f"`family` must be one of {FAMILIES}, but got {family!r}.")
    return normalise(raw, counts, normalisation)
