"""Recall, precision, decision rules, Pareto fronts and hypervolume, in pure numpy.

Everything a trial's figures are made of is computed here from stored scores, which is why a
decision rule is never a reason to retrain: :func:`evaluate`, :func:`pr_curve` and
:func:`adjustment_curve` take the scores of an already trained model and any rule. The rules:

- multi-label: ``score >= threshold``, with one global threshold or one per label
  (:func:`fbeta_thresholds` picks each label's threshold that maximises its F-beta);
- multi-class: the argmax of ``log p - offset``, where ``offset = tau * log prior`` is the post-hoc
  logit adjustment of Menon et al. (ICLR 2021); ``tau = 0`` is the plain argmax.

Conventions follow scikit-learn's ``zero_division=0``: a label with no positives has recall 0, a
label with no predicted positives has precision 0.

:func:`ranking_front` is the PR curve of ranking every (row, label) pair by a score, with tied
scores interpolated: applied to a true posterior it is the Bayes-optimal micro-averaged curve.

This module must not import TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sweeper.weights import Task

__all__ = [
    "CURVE_POINTS",
    "Evaluation",
    "PRCurve",
    "adjustment_curve",
    "confusion_counts",
    "curve_thresholds",
    "default_tau_grid",
    "evaluate",
    "fbeta_thresholds",
    "hypervolume_2d",
    "pareto_front",
    "pr_curve",
    "predict",
    "ranking_front",
]

CURVE_POINTS = 96
"""Thresholds a trial's stored PR curve is evaluated at (see :func:`curve_thresholds`)."""


def predict(
    scores: np.ndarray,
    task: Task,
    threshold: float | np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """Decisions from scores (probabilities): ``scores >= threshold`` per label, or the class
    with the largest ``log p - offset``.

    ``threshold`` is a scalar or one value per label (multi-label only). ``offset`` is one value
    per class (multi-class only; ``None`` is the plain argmax).
    """
    if task == "multilabel":
        if threshold is None:
            raise ValueError("a multi-label decision needs a threshold.")
        return scores >= np.asarray(threshold, dtype=scores.dtype)
    if offset is None:
        return np.argmax(scores, axis=-1)
    # Probabilities that underflowed to 0 stay the least likely class, without log(0) warnings.
    log_p = np.log(np.maximum(scores.astype(np.float64), np.finfo(np.float64).tiny))
    return np.argmax(log_p - np.asarray(offset, dtype=np.float64), axis=-1)


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
    offset: np.ndarray | None = None,
) -> Evaluation:
    """Recall and precision (``micro`` or ``macro`` averaged) and their per-label values, at a
    decision rule (see :func:`predict`)."""
    n_outputs = scores.shape[-1]
    decisions = predict(scores, task, threshold, offset)
    tp, fp, fn = confusion_counts(y_true, decisions, task, n_outputs)
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


def _averaged(tp: np.ndarray, predicted: np.ndarray, positives: np.ndarray, average: str):
    """Recall and precision per column of ``(labels, points)`` counts, micro or macro."""
    if average == "micro":
        recall = _ratio(tp.sum(axis=0), np.full(tp.shape[1], positives.sum()))
        precision = _ratio(tp.sum(axis=0), predicted.sum(axis=0))
    elif average == "macro":
        recall = _ratio(tp, np.broadcast_to(positives[:, None], tp.shape)).mean(axis=0)
        precision = _ratio(tp, predicted).mean(axis=0)
    else:
        raise ValueError(f"`average` must be 'micro' or 'macro', but got {average!r}.")
    return recall, precision


@dataclass(frozen=True)
class PRCurve:
    """Recall and precision of one trained model at each value of a decision parameter.

    ``parameter`` is ``"threshold"`` (multi-label: a global threshold on the scores) or ``"tau"``
    (multi-class: the strength of the logit adjustment).
    """

    parameter: str
    values: tuple[float, ...]
    recall: tuple[float, ...]
    precision: tuple[float, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "parameter": self.parameter,
            "values": _rounded(self.values),
            "recall": _rounded(self.recall),
            "precision": _rounded(self.precision),
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PRCurve:
        return cls(
            parameter=str(data["parameter"]),
            values=tuple(data["values"]),
            recall=tuple(data["recall"]),
            precision=tuple(data["precision"]),
        )


def _ranked(y_true: np.ndarray, scores: np.ndarray):
    """Every (row, label) pair ranked by decreasing score, grouped by distinct score: per group
    its score and the cumulative true-positive and predicted counts at its end."""
    flat = scores.ravel()
    order = np.argsort(-flat, kind="stable")
    ranked_scores = flat[order]
    hits = np.cumsum(y_true.ravel()[order], dtype=np.float64)
    ends = np.flatnonzero(np.r_[ranked_scores[1:] != ranked_scores[:-1], True])
    return ranked_scores[ends], hits[ends], (ends + 1).astype(np.float64)


def curve_thresholds(y_true: np.ndarray, scores: np.ndarray, n_points: int = CURVE_POINTS):
    """Thresholds spread evenly along the validation PR curve, for a trial's stored curve.

    The exact micro-averaged curve of ``scores`` (one point per distinct score) is walked by its
    length in the (recall, precision) plane and cut into ``n_points`` equal pieces, so the
    stored points follow the curve where it bends (a fixed grid of thresholds crowds where scores
    are dense and skips the high-precision end). The thresholds are score values, increasing.
    """
    distinct, tp, predicted = _ranked(y_true, scores)
    positives = max(float(tp[-1]), 1.0)
    recall, precision = tp / positives, tp / predicted
    length = np.r_[0.0, np.cumsum(np.hypot(np.diff(recall), np.diff(precision)))]
    cuts = np.searchsorted(length, np.linspace(0.0, length[-1], n_points))
    return np.unique(distinct[np.clip(cuts, 0, distinct.size - 1)])


def pr_curve(
    y_true: np.ndarray, scores: np.ndarray, thresholds: Sequence[float], *, average: str
) -> PRCurve:
    """Multi-label recall and precision over an increasing sequence of global thresholds.

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
    positives = y_true.sum(axis=0).astype(np.float64)
    recall, precision = _averaged(tp, predicted, positives, average)
    return PRCurve(
        parameter="threshold",
        values=tuple(float(t) for t in grid),
        recall=tuple(recall.tolist()),
        precision=tuple(precision.tolist()),
    )


def default_tau_grid() -> np.ndarray:
    """Logit-adjustment strengths of a multi-class trial's stored curve: 0 to 3 by 0.1."""
    return np.round(np.linspace(0.0, 3.0, 31), 6)


def adjustment_curve(
    y_true: np.ndarray,
    scores: np.ndarray,
    log_prior: np.ndarray,
    taus: Sequence[float],
    *,
    average: str,
) -> PRCurve:
    """Multi-class recall and precision of ``argmax(log p - tau * log prior)`` for each tau."""
    n_classes = scores.shape[-1]
    tp, predicted = [], []
    for tau in taus:
        decided = predict(scores, "multiclass", offset=tau * np.asarray(log_prior))
        true_positive, false_positive, _ = confusion_counts(y_true, decided, "multiclass",
                                                            n_classes)
        tp.append(true_positive)
        predicted.append(true_positive + false_positive)
    positives = np.bincount(y_true, minlength=n_classes).astype(np.float64)
    recall, precision = _averaged(
        np.asarray(tp, np.float64).T, np.asarray(predicted, np.float64).T, positives, average
    )
    return PRCurve(
        parameter="tau",
        values=tuple(float(t) for t in taus),
        recall=tuple(recall.tolist()),
        precision=tuple(precision.tolist()),
    )


def fbeta_thresholds(y_true: np.ndarray, scores: np.ndarray, beta: float) -> np.ndarray:
    """Per label, the threshold that maximises that label's F-beta on these scores.

    For each label the scores are ranked; predicting the top ``k`` gives
    ``F = (1 + beta^2) TP_k / (beta^2 P + k)``, evaluated at every distinct score. The threshold
    is the midpoint between the last score predicted positive and the next lower score (half the
    lowest score when every row is predicted positive), so it is strictly inside (0, 1) and not
    tuned to one score's float bits. Ties in F go to the higher threshold (fewer positives). A
    label without positives gets 0.5. ``beta > 1`` favours recall, ``beta < 1`` precision.
    """
    if not beta > 0:
        raise ValueError(f"`beta > 0` must hold, but got {beta=}.")
    scores = np.asarray(scores, dtype=np.float64)
    thresholds = np.full(scores.shape[1], 0.5)
    weight = beta**2
    for label in range(scores.shape[1]):
        truth = y_true[:, label]
        positives = float(truth.sum())
        if positives == 0:
            continue
        distinct, tp, predicted = _ranked(truth, scores[:, label])
        fbeta = (1 + weight) * tp / (weight * positives + predicted)
        best = int(np.argmax(fbeta))  # the first maximum: the highest such threshold
        below = distinct[best + 1] if best + 1 < distinct.size else 0.0
        thresholds[label] = (distinct[best] + below) / 2
    return np.clip(thresholds, 1e-12, 1 - 1e-12)


def ranking_front(y_true: np.ndarray, scores: np.ndarray, *, tie_steps: int = 1000):
    """The PR curve of ranking every (row, label) pair by ``scores``, as ``(n, 2)`` points of
    (micro recall, precision).

    Tied scores are one group that a threshold takes or leaves whole; a tie-break at random
    reaches, in expectation, the points on the straight line between the group's ends in
    (true positives, false positives), which is what a model whose scores differ slightly inside
    the group achieves. Each group larger than one pair is therefore cut into up to
    ``tie_steps`` steps along that line. With the true posterior as ``scores`` this is the
    Bayes-optimal curve, and its :func:`hypervolume_2d` the best any model can reach.
    """
    _, tp, predicted = _ranked(y_true, scores)
    positives = float(tp[-1])
    if positives == 0:
        raise ValueError("`y_true` has no positive: recall is undefined.")
    start_tp, start_predicted = np.r_[0.0, tp[:-1]], np.r_[0.0, predicted[:-1]]
    sizes = predicted - start_predicted
    steps = np.minimum(sizes, tie_steps).astype(np.int64)
    group = np.repeat(np.arange(tp.size), steps)
    # Fraction of each group taken at each of its steps: 1/s, 2/s, ..., 1.
    position = np.arange(group.size) - np.repeat(np.cumsum(steps) - steps, steps) + 1
    fraction = position / steps[group]
    hit = start_tp[group] + fraction * (tp - start_tp)[group]
    taken = start_predicted[group] + fraction * sizes[group]
    return np.column_stack([hit / positives, hit / taken])


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates, both coordinates maximised.

    A point is dominated when another is at least as good in both coordinates and better in one.
    Duplicates of a front point are all kept. Returned in order of decreasing first coordinate.
    Runs in O(n log n) without a Python loop: sort by the first coordinate (then the second), and
    keep each point whose second coordinate beats the running maximum of those before it.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"`points` must have shape (n, 2), but got {points.shape}.")
    if points.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((-points[:, 1], -points[:, 0]))
    first, second = points[order, 0], points[order, 1]
    best_before = np.r_[-np.inf, np.maximum.accumulate(second)[:-1]]
    strict = second > best_before
    # A run of identical points shares the verdict of its first member.
    repeated = np.r_[False, (first[1:] == first[:-1]) & (second[1:] == second[:-1])]
    run_start = np.maximum.accumulate(np.where(repeated, 0, np.arange(order.size)))
    return order[strict[run_start]].astype(np.int64)


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
