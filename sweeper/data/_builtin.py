"""The built-in data sets: the two seed problems and a long-tailed set with a known posterior.

Their generative models are known, so their Bayes-optimal scores are too (the posteriors below):
``benchmarks/quality.py`` measures the sweeper's front against the best any model can reach.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sweeper.config import Task
from sweeper.data._dataset import Dataset
from sweeper.evaluation import sigmoid

__all__ = [
    "BUILTIN_SOURCES",
    "LongtailSpec",
    "longtail_spec",
    "make_longtail_multilabel",
    "make_seed_multiclass",
    "make_seed_multilabel",
    "make_shapes_longtail",
    "seed_multilabel_optimal_hypervolume",
    "seed_multilabel_posterior",
]

SEED_MULTICLASS_COUNTS = (198, 436, 710, 272)


def make_seed_multilabel(
    *, n_rows: int = 30_000, n_labels: int = 30, signal: float = 0.1, seed: int = 0
) -> Dataset:
    """Seed 000: independent labels, each positive with probability ``1/n_labels``.

    Feature ``j`` is 1 for a positive label ``j`` with probability ``signal`` (10%), else 0, so
    90% of positives are indistinguishable from negatives and an unweighted model predicts
    (almost) all zeros.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random((n_rows, n_labels)) < 1.0 / n_labels).astype(np.uint8)
    X = (y.astype(bool) & (rng.random((n_rows, n_labels)) < signal)).astype(np.float32)
    labels = tuple(f"Class{j + 1}" for j in range(n_labels))
    return Dataset(X=X, y=y, task=Task.MULTILABEL, labels=labels)


def seed_multilabel_posterior(X: np.ndarray, *, signal: float = 0.1) -> np.ndarray:
    """``P(y_j = 1 | x)`` of ``builtin:seed-multilabel``, in closed form.

    Feature ``j`` is 1 only for a positive, so ``x_j = 1`` means ``y_j = 1`` surely; otherwise,
    with prior ``p = 1/L``, Bayes gives ``p (1 - signal) / (p (1 - signal) + 1 - p)`` (0.0301 for
    30 labels). The other features say nothing about label ``j``.
    """
    prior = 1.0 / X.shape[1]
    hidden = prior * (1 - signal) / (prior * (1 - signal) + 1 - prior)
    return np.where(np.asarray(X) > 0, 1.0, hidden)


def seed_multilabel_optimal_hypervolume(dataset: Dataset) -> float:
    """Hypervolume (reference 0, 0) of the Bayes-optimal micro PR curve of a seed-multilabel
    split, in closed form.

    The posterior takes two values, so the optimal ranking has two tied groups: the ``A`` pairs
    with ``x_j = 1`` (all positive: recall ``A/P`` at precision 1), then every other pair, which
    a threshold can only take in a random order. Taking a fraction ``l`` of that group gives
    ``TP = A + l b`` and ``TP + FP = A + l t`` (``b = P - A`` positives, ``t`` pairs in it), so
    precision falls monotonically and the area is ``A/P + (b/P) * integral_0^1 TP/(TP+FP) dl``
    ``= A/P + (b/P) [b/t + (A - b A/t) ln(1 + t/A) / t]``.
    """
    signalled = float(np.count_nonzero(np.asarray(dataset.X) > 0))
    positives = float(dataset.y.sum())
    rest_positives = positives - signalled
    rest = float(dataset.y.size) - signalled
    integral = rest_positives / rest + (
        (signalled - rest_positives * signalled / rest) * np.log1p(rest / signalled) / rest
    )
    return signalled / positives + rest_positives / positives * integral


def make_seed_multiclass(
    *,
    counts: tuple[int, ...] = SEED_MULTICLASS_COUNTS,
    n_features: int = 8,
    separation: float = 1.5,
    seed: int = 0,
) -> Dataset:
    """Seed 001: four classes of 198/436/710/272 samples with overlapping Gaussian features.

    Class ``c`` has mean ``separation * e_c`` (a unit vector per class in the first ``K`` features)
    and unit variance in every feature, so neighbouring classes overlap and an unweighted model
    sacrifices the small classes to the large one.
    """
    rng = np.random.default_rng(seed)
    n_classes = len(counts)
    if n_features < n_classes:
        raise ValueError(f"`n_features >= {n_classes}` must hold, but got {n_features=}.")
    y = np.repeat(np.arange(n_classes), counts)
    rng.shuffle(y)
    means = np.zeros((n_classes, n_features))
    means[np.arange(n_classes), np.arange(n_classes)] = separation
    X = (means[y] + rng.standard_normal((y.size, n_features))).astype(np.float32)
    labels = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[c] for c in range(n_classes))
    return Dataset(X=X, y=y.astype(np.int64), task=Task.MULTICLASS, labels=labels)


@dataclass(frozen=True)
class LongtailSpec:
    """The generative model of ``builtin:longtail-multilabel``.

    Label ``j`` is positive with probability ``priors[j]`` (log-spaced from 1/10 to 1/300),
    independently of the others. Feature ``j`` is Gaussian: ``x_j ~ N(strengths[j] * y_j, 1)``,
    with signal strengths spread from 0.5 (noisy) to 3.0 (clean) and assigned to labels in a
    fixed shuffled order, so rarity and noise do not go together. A few extra features are pure
    noise. The posterior of each label is then known in closed form (:meth:`posterior`).
    """

    priors: np.ndarray
    strengths: np.ndarray
    n_noise: int

    def posterior(self, X: np.ndarray) -> np.ndarray:
        """``P(y_j = 1 | x)`` for every row and label: the Bayes-optimal scores.

        With ``x_j | y_j ~ N(m y_j, 1)`` and ``y_j`` independent of the other features, the
        log-odds are ``log(p/(1-p)) + m x_j - m^2 / 2``.
        """
        n_labels = self.priors.size
        x = np.asarray(X, dtype=np.float64)[:, :n_labels]
        log_odds = (np.log(self.priors / (1 - self.priors)) + self.strengths * x
                    - self.strengths**2 / 2)
        return sigmoid(log_odds)


def longtail_spec(n_labels: int = 30, n_noise: int = 4, seed: int = 0) -> LongtailSpec:
    rng = np.random.default_rng([seed, 7])
    priors = np.geomspace(1 / 10, 1 / 300, n_labels)
    strengths = rng.permutation(np.linspace(0.5, 3.0, n_labels))
    return LongtailSpec(priors=priors, strengths=strengths, n_noise=n_noise)


def make_longtail_multilabel(
    *, n_rows: int = 30_000, n_labels: int = 30, n_noise: int = 4, seed: int = 0
) -> Dataset:
    """Long-tailed multi-label data whose true posterior is known (see :class:`LongtailSpec`)."""
    spec = longtail_spec(n_labels, n_noise, seed)
    rng = np.random.default_rng(seed)
    y = (rng.random((n_rows, n_labels)) < spec.priors).astype(np.uint8)
    signal = spec.strengths * y + rng.standard_normal((n_rows, n_labels))
    noise = rng.standard_normal((n_rows, n_noise))
    X = np.hstack([signal, noise]).astype(np.float32)
    labels = tuple(f"Tail{j + 1}" for j in range(n_labels))
    return Dataset(X=X, y=y, task=Task.MULTILABEL, labels=labels)


SHAPE_NAMES = tuple(
    [f"row{r}" for r in (1, 3, 5, 7)] + [f"col{c}" for c in (1, 3, 5, 7)]
    + ["diagonal", "antidiagonal"]
)


def make_shapes_longtail(
    *, head: int = 500, imbalance: float = 50.0, noise: float = 0.25, seed: int = 0
) -> Dataset:
    """Long-tailed 8x8 grey images, ``(rows, 8, 8, 1)`` uint8 pixels: ten classes, each a bright
    stroke (a row, a column or a diagonal) on noise, from ``head`` images of the first class
    down to ``head / imbalance`` of the last (500 to 10 by default, log-spaced: 1,401
    images). A conv net tells the strokes apart easily; the tail classes are few. The pixels
    stay uint8 (a model rescales them, e.g. ``keras.layers.Rescaling(1 / 255)``)."""
    rng = np.random.default_rng([seed, 11])
    counts = np.round(head * imbalance ** (-np.arange(10) / 9)).astype(int)
    patterns = np.zeros((10, 8, 8))
    for c, line in enumerate((1, 3, 5, 7)):
        patterns[c, line, :] = 1.0
        patterns[4 + c, :, line] = 1.0
    patterns[8] = np.eye(8)
    patterns[9] = np.fliplr(np.eye(8))
    y = rng.permutation(np.repeat(np.arange(10), counts))
    pixels = 0.15 + 0.7 * patterns[y] + noise * rng.standard_normal((y.size, 8, 8))
    X = (np.clip(pixels, 0, 1) * 255).round().astype(np.uint8)[..., None]
    return Dataset(X=X, y=y.astype(np.int64), task=Task.MULTICLASS, labels=SHAPE_NAMES)


BUILTIN_SOURCES: dict[str, Callable[..., Dataset]] = {
    "seed-multilabel": make_seed_multilabel,
    "seed-multiclass": make_seed_multiclass,
    "longtail-multilabel": make_longtail_multilabel,
    "shapes-longtail": make_shapes_longtail,
}

