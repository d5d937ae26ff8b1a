"""Recall, precision, thresholds, Pareto fronts and hypervolume, in pure numpy.

Everything a trial's figures are made of is computed here from stored scores, which is why a
threshold is never a reason to retrain: :func:`evaluate` and :func:`pr_curve` take the scores of an
already trained model and any threshold. Conventions follow scikit-learn's ``zero_division=0``:
a label with no positives has recall 0, a label with no predicted positives has precision 0.

This module must not import TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sweeper.weights import Task

__all__ = [
    "Evaluation",
    "PRCurve",
    "confusion_counts",
    "default_threshold_grid",
    "evaluate",
    "hypervolume_2d",
    "pareto_front",
    "pr_curve",
    "predict",
]


def predict(scores: np.ndarray, task: Task, threshold: float | np.ndarray | None) -> np.ndarray:
    """Decisions from scores: ``scores >= threshold`` per label, or the argmax class.

    ``threshold`` is a scalar or one value per label (multi-label); it is ignored for multi-class.
    """
    if task == "multilabel":
        if threshold is None:
            raise ValueError("a multi-label decision needs a threshold.")
        return scores >= np.asarray(threshold, dtype=scores.dtype)
    return np.argmax(scores, axis=-1)


def confusion_counts(
    y_true: np.ndarray, y_pred: np.ndarray, task: Task, n_outputs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives per label or class."""
    if task == "multilabel":
        truth = y_true.astype(bool)
        decided = y_pred.astype(bool)
        tp = np.count_nonzero(truth & decided, axis=0)
        fp = np.count_nonzero(~truth & decided, axis=0)
        fn = np.count_nonzero(truth & ~decided, axis=0)
        return tp, fp, fn
    tp = np.bincount(y_true[y_true == y_pred], minlength=n_outputs)
    predicted = np.bincount(y_pred, minlength=n_outputs)
    actual = np.bincount(y_true, minlength=n_outputs)
    return tp, predicted - tp, actual - tp


def _rounded(values: Sequence[float]) -> list[float]:
    """Six decimals: exact enough for any figure, and a third of the stored JSON."""
    return [round(float(value), 6) for value in values]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(
        numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0
    )


@dataclass(frozen=True)
class Evaluation:
    """One model's figures on one split at one decision rule."""

    recall: float
    precision: float
    per_label_recall: tuple[float, ...]
    per_label_precision: tuple[float, ...]

    @property
    def f1(self) -> float:
        total = self.recall + self.precision
        return 0.0 if total == 0 else 2 * self.recall * self.precision / total

    def to_dict(self) -> dict[str, object]:
        return {
            "recall": self.recall,
            "precision": self.precision,
            "f1": self.f1,
            "per_label_recall": _rounded(self.per_label_recall),
            "per_label_precision": _rounded(self.per_label_precision),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Evaluation:
        return cls(
            recall=float(data["recall"]),
            precision=float(data["precision"]),
            per_label_recall=tuple(data["per_label_recall"]),
            per_label_precision=tuple(data["per_label_precision"]),
        )


def evaluate(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    task: Task,
    average: str,
    threshold: float | np.ndarray | None = None,
) -> Evaluation:
    """Recall and precision (``micro`` or ``macro`` averaged) and their per-label values."""
    n_outputs = scores.shape[-1]
    tp, fp, fn = confusion_counts(y_true, predict(scores, task, threshold), task, n_outputs)
    per_recall = _ratio(tp, tp + fn)
    per_precision = _ratio(tp, tp + fp)
    if average == "micro":
        recall = float(_ratio(tp.sum(), (tp + fn).sum()))
        precision = float(_ratio(tp.sum(), (tp + fp).sum()))
    elif average == "macro":
        recall, precision = float(per_recall.mean()), float(per_precision.mean())
    else:
        raise ValueError(f"`average` must be 'micro' or 'macro', but got {average!r}.")
    return Evaluation(
        recall=recall,
        precision=precision,
        per_label_recall=tuple(per_recall.tolist()),
        per_label_precision=tuple(per_precision.tolist()),
    )


@dataclass(frozen=True)
class PRCurve:
    """Recall and precision of one multi-label model at each threshold of a grid."""

    thresholds: tuple[float, ...]
    recall: tuple[float, ...]
    precision: tuple[float, ...]

    def to_dict(self) -> dict[str, list[float]]:
        return {
            "thresholds": _rounded(self.thresholds),
            "recall": _rounded(self.recall),
            "precision": _rounded(self.precision),
        }


def default_threshold_grid() -> np.ndarray:
    """Thresholds evenly spaced in logit space (-7 to 7, steps of 0.25): dense near 0 and 1,
    where rare labels' scores live, and 57 points in all."""
    return 1.0 / (1.0 + np.exp(-np.linspace(-7.0, 7.0, 57)))


def pr_curve(
    y_true: np.ndarray, scores: np.ndarray, thresholds: Sequence[float], *, average: str
) -> PRCurve:
    """Multi-label recall and precision over an increasing grid of global thresholds.

    One pass over the scores: each score falls into the bin of the highest threshold it reaches
    (``searchsorted``), the bins are counted per label (all rows, and positive rows), and a
    cumulative sum from the top gives, at every threshold, the predicted and true-positive counts
    of ``score >= threshold``. A whole curve costs about as much as one evaluation.
    """
    grid = np.asarray(thresholds, dtype=scores.dtype)
    if np.any(np.diff(grid) <= 0):
        raise ValueError("`thresholds` must be strictly increasing.")
    n_labels = scores.shape[1]
    n_bins = grid.size + 1
    bins = np.searchsorted(grid, scores, side="right")  # bin b: grid[b-1] <= score < grid[b]
    flat = (np.arange(n_labels)[None, :] * n_bins + bins).ravel()
    counts = np.bincount(flat, minlength=n_labels * n_bins).reshape(n_labels, n_bins)
    hits = np.bincount(flat, weights=y_true.ravel().astype(np.float64),
                       minlength=n_labels * n_bins).reshape(n_labels, n_bins)
    # At threshold k (bins k+1 and above): counts of score >= grid[k].
    predicted = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)
    tp = np.cumsum(hits[:, ::-1], axis=1)[:, ::-1][:, 1:]
    positives = y_true.sum(axis=0).astype(np.float64)[:, None]
    if average == "micro":
        recall = _ratio(tp.sum(axis=0), np.full(grid.size, positives.sum()))
        precision = _ratio(tp.sum(axis=0), predicted.sum(axis=0))
    elif average == "macro":
        recall = _ratio(tp, np.broadcast_to(positives, tp.shape)).mean(axis=0)
        precision = _ratio(tp, predicted).mean(axis=0)
    else:
        raise ValueError(f"`average` must be 'micro' or 'macro', but got {average!r}.")
    return PRCurve(
        thresholds=tuple(float(t) for t in grid),
        recall=tuple(recall.tolist()),
        precision=tuple(precision.tolist()),
    )


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates, both coordinates maximised.

    A point is dominated when another is at least as good in both coordinates and better in one.
    Duplicates of a front point are all kept. Returned in order of decreasing first coordinate.
    Runs in O(n log n): sort by the first coordinate, then keep each point whose second
    coordinate beats every point before it.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"`points` must have shape (n, 2), but got {points.shape}.")
    if points.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((-points[:, 1], -points[:, 0]))
    front: list[int] = []
    best_second = -np.inf
    best_first_at_best = np.inf
    for index in order:
        first, second = points[index]
        if second > best_second:
            front.append(int(index))
            best_second, best_first_at_best = second, first
        elif second == best_second and first == best_first_at_best:
            front.append(int(index))
    return np.asarray(front, dtype=np.int64)


def hypervolume_2d(points: np.ndarray, reference: tuple[float, float] = (0.0, 0.0)) -> float:
    """Area dominated by ``points`` (both coordinates maximised) and bounded by ``reference``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    points = points[(points[:, 0] > reference[0]) & (points[:, 1] > reference[1])]
    if points.shape[0] == 0:
        return 0.0
    front = points[pareto_front(points)]
    front = front[np.argsort(-front[:, 0])]
    area = 0.0
    previous_second = reference[1]
    for first, second in front:
        area += (first - reference[0]) * (second - previous_second)
        previous_second = second
    return float(area)
