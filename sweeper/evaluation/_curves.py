"""PR curves of one trained model: over global thresholds (multi-label) or over the
logit-adjustment strength tau (multi-class), computed from stored scores in one pass.

:func:`curve_thresholds` places a trial's stored thresholds along its exact validation curve;
:func:`fbeta_thresholds` picks each label's F-beta-optimal threshold; :func:`ranking_front` is
the PR curve of ranking every (row, label) pair by a score, with tied scores interpolated: applied
to a true posterior it is the Bayes-optimal micro-averaged curve.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweeper.evaluation._calibration import BLOCK_VALUES
from sweeper.evaluation._decision import fbeta, log_probability_blocks
from sweeper.evaluation._metrics import averaged, fold_spread, rounded

__all__ = [
    "CURVE_POINTS",
    "PRCurve",
    "adjustment_curve",
    "curve_thresholds",
    "default_tau_grid",
    "fbeta_thresholds",
    "pr_curve",
    "ranking_front",
    "validation_curve",
]

CURVE_POINTS = 96
"""Thresholds a trial's stored PR curve is evaluated at (see :func:`curve_thresholds`)."""


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
    recall_spread: tuple[float, ...] | None = None
    """Cross-validation: the standard deviation of recall across folds at each value."""
    precision_spread: tuple[float, ...] | None = None
    """Cross-validation: the standard deviation of precision across folds at each value."""

    def with_spread(self, folds: Sequence[PRCurve]) -> PRCurve:
        """This (pooled) curve with the spread across the same curve of each fold."""
        return dataclasses.replace(
            self,
            recall_spread=tuple(fold_spread([c.recall for c in folds]).tolist()),
            precision_spread=tuple(fold_spread([c.precision for c in folds]).tolist()),
        )

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "parameter": self.parameter,
            "values": rounded(self.values),
            "recall": rounded(self.recall),
            "precision": rounded(self.precision),
        }
        if self.recall_spread is not None and self.precision_spread is not None:
            data["recall_spread"] = rounded(self.recall_spread)
            data["precision_spread"] = rounded(self.precision_spread)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PRCurve:
        spreads = data.get("recall_spread"), data.get("precision_spread")
        return cls(
            parameter=str(data["parameter"]),
            values=tuple(data["values"]),
            recall=tuple(data["recall"]),
            precision=tuple(data["precision"]),
            recall_spread=None if spreads[0] is None else tuple(spreads[0]),
            precision_spread=None if spreads[1] is None else tuple(spreads[1]),
        )


class _RankedPairs:
    """Every (row, label) pair's score, sorted once, split by truth: the positives' scores and
    the negatives' scores, each increasing (4 bytes a pair in all).

    Walking the ranking then needs no rank order: at a score ``s`` the true positives are the
    positives scoring at least ``s`` and the predicted pairs are those plus the negatives
    scoring at least ``s``, each one ``searchsorted`` in a sorted array. An ``argsort`` of the
    pairs would hold 8 bytes a pair for the order and 4 for the negated scores it sorts, three
    times as much, and sorting the scores themselves is several times faster (issue 30)."""

    def __init__(self, y_true: np.ndarray, scores: np.ndarray) -> None:
        flat = np.asarray(scores).reshape(-1)
        positive = np.asarray(y_true).reshape(-1) > 0  # as pr_curve counts hits
        self.positives = flat[positive]
        np.logical_not(positive, out=positive)
        self.negatives = flat[positive]
        self.had_nan = False
        for side in (self.positives, self.negatives):
            missing = np.isnan(side)
            if missing.any():  # a diverged model's NaN: ranked last
                self.had_nan = True
                side[missing] = -np.inf
            side.sort()

    def at_least(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True positives and predicted pairs of ``score >= value`` for each value (float64)."""
        tp = self.positives.size - np.searchsorted(self.positives, values, side="left")
        false = self.negatives.size - np.searchsorted(self.negatives, values, side="left")
        return tp.astype(np.float64), (tp + false).astype(np.float64)

    def groups(self, step: int | None = None):
        """The distinct scores, decreasing, in blocks of about ``step`` ranks (default
        :data:`BLOCK_VALUES`): per block, its distinct scores with the cumulative true-positive
        and predicted counts at each (float64). The counts are exact integers, the same
        whatever the blocks; a run of tied scores longer than a block is one block alone."""
        step = BLOCK_VALUES if step is None else max(1, step)
        sides = (self.positives, self.negatives)
        above = [array.size for array in sides]  # each array's pairs not yet walked: [:above]
        while any(above):
            # The next ``step`` scores of each side. A chunk that stops short of its side's
            # lowest score bounds what is complete: every score above the highest such chunk's
            # lowest is (nothing left below a chunk exceeds it); with none, everything is.
            chunks = [array[max(0, top - step):top]
                      for array, top in zip(sides, above, strict=True)]
            floor = max((chunk[0] for chunk, top in zip(chunks, above, strict=True)
                         if top > step), default=None)
            distinct = np.unique(np.concatenate(
                chunks if floor is None else [chunk[chunk > floor] for chunk in chunks]))
            if distinct.size == 0:  # a tie at the floor spans the chunks: that group alone
                distinct = np.asarray([floor], dtype=self.positives.dtype)
                tp, predicted = self.at_least(distinct)
            else:  # every pair scoring at least ``distinct[0]`` is in a chunk or walked
                tp, false = (
                    array.size - top + chunk.size - np.searchsorted(chunk, distinct, side="left")
                    for array, top, chunk in zip(sides, above, chunks, strict=True))
                tp, predicted = tp.astype(np.float64), (tp + false).astype(np.float64)
            above = [0, 0] if floor is None else [
                int(np.searchsorted(array, distinct[0], side="left")) for array in sides]
            yield distinct[::-1], tp[::-1], predicted[::-1]


def _ranked(y_true: np.ndarray, scores: np.ndarray):
    """Every group of :meth:`_RankedPairs.groups` at once: distinct scores (decreasing), and the
    cumulative true-positive and predicted counts at each."""
    groups = list(_RankedPairs(y_true, scores).groups())
    return tuple(np.concatenate([group[part] for group in groups]) for part in range(3))


def _curve_lengths(ranked: _RankedPairs, positives: float):
    """Per block of :meth:`_RankedPairs.groups`, its scores and the length of the
    micro-averaged (recall, precision) curve from its first group to each: the sums run on
    from block to block exactly as one ``cumsum`` over every group would."""
    carry, previous = 0.0, None
    for distinct, tp, predicted in ranked.groups():
        recall, precision = tp / positives, tp / predicted
        if previous is not None:
            recall, precision = np.r_[previous[0], recall], np.r_[previous[1], precision]
        lengths = np.cumsum(np.r_[carry, np.hypot(np.diff(recall), np.diff(precision))])
        yield distinct, lengths[-distinct.size:]
        carry, previous = float(lengths[-1]), (recall[-1], precision[-1])


def curve_thresholds(y_true: np.ndarray, scores: np.ndarray, n_points: int = CURVE_POINTS):
    """Thresholds spread evenly along the validation PR curve, for a trial's stored curve.

    The exact micro-averaged curve of ``scores`` (one point per distinct score) is walked by its
    length in the (recall, precision) plane and cut into ``n_points`` equal pieces, so the
    stored points follow the curve where it bends (a fixed grid of thresholds crowds where scores
    are dense and skips the high-precision end). The thresholds are score values, increasing.
    The pairs are sorted once (:class:`_RankedPairs`, 4 bytes a pair) and the curve walked
    twice, a block of ranks at a time (:func:`_curve_lengths`): once for its length, once for
    the cuts (a curve of one block is walked once and kept: a small split's, every trial's).
    """
    return _thresholds_along(_RankedPairs(y_true, scores), n_points)


def _thresholds_along(ranked: _RankedPairs, n_points: int) -> np.ndarray:
    positives = max(float(ranked.positives.size), 1.0)
    pairs = ranked.positives.size + ranked.negatives.size
    kept = list(_curve_lengths(ranked, positives)) if pairs <= BLOCK_VALUES else None
    total = 0.0
    for _, lengths in kept or _curve_lengths(ranked, positives):
        total = float(lengths[-1])
    targets = np.linspace(0.0, total, n_points)
    cuts: list[float] = []
    last = 0.0
    for distinct, lengths in kept or _curve_lengths(ranked, positives):
        found = np.searchsorted(lengths, targets[len(cuts):], side="left")
        cuts.extend(distinct[found[found < lengths.size]].tolist())
        last = float(distinct[-1])
    cuts.extend([last] * (n_points - len(cuts)))
    return np.unique(np.asarray(cuts, dtype=ranked.positives.dtype))


def validation_curve(y_true: np.ndarray, scores: np.ndarray, *, average: str,
                     n_points: int = CURVE_POINTS) -> tuple[np.ndarray, PRCurve]:
    """A trial's stored thresholds (:func:`curve_thresholds`) and its validation curve at them
    (:func:`pr_curve`), from one sort of the pairs: micro-averaged, the counts of ``score >=
    threshold`` are read off the sorted pairs (two ``searchsorted`` per threshold, the same
    integers the bins count); macro-averaged, or with a NaN score, the bins count them."""
    ranked = _RankedPairs(y_true, scores)
    grid = _thresholds_along(ranked, n_points)
    if average != "micro" or ranked.had_nan:
        return grid, pr_curve(y_true, scores, grid, average=average)
    tp, predicted = ranked.at_least(grid)
    positives = np.asarray([float(ranked.positives.size)])
    recall, precision = averaged(tp[None, :], predicted[None, :], positives, average)
    return grid, PRCurve(
        parameter="threshold",
        values=tuple(float(t) for t in grid),
        recall=tuple(recall.tolist()),
        precision=tuple(precision.tolist()),
    )


def pr_curve(
    y_true: np.ndarray, scores: np.ndarray, thresholds: Sequence[float] | np.ndarray, *,
    average: str,
) -> PRCurve:
    """Multi-label recall and precision over an increasing sequence of global thresholds.

    One pass over the scores: each score falls into the bin of the highest threshold it reaches
    (``searchsorted``), the bins are counted per label (all rows, and positive rows), and a
    cumulative sum from the top gives, at every threshold, the predicted and true-positive counts
    of ``score >= threshold``. A whole curve costs about as much as one evaluation. The rows
    are binned a block at a time (:data:`BLOCK_VALUES` scores), so the int64 bins of a split
    of thousands of labels never exist whole.
    """
    grid = np.asarray(thresholds, dtype=scores.dtype)
    if np.any(np.diff(grid) <= 0):
        raise ValueError("`thresholds` must be strictly increasing.")
    n_labels = scores.shape[1]
    n_bins = grid.size + 1
    counts = np.zeros((n_labels, n_bins), np.int64)
    hits = np.zeros((n_labels, n_bins), np.int64)
    offsets = np.arange(n_labels)[None, :] * n_bins
    step = max(1, BLOCK_VALUES // max(n_labels, 1))  # rows per block: the bins are int64
    for start in range(0, scores.shape[0], step):
        # bin b: grid[b-1] <= score < grid[b]
        bins = np.searchsorted(grid, scores[start:start + step], side="right")
        flat = (offsets + bins).ravel()
        counts += np.bincount(flat, minlength=n_labels * n_bins).reshape(n_labels, n_bins)
        positive = flat[np.asarray(y_true[start:start + step]).ravel() > 0]
        hits += np.bincount(positive, minlength=n_labels * n_bins).reshape(n_labels, n_bins)
    # At threshold k (bins k+1 and above): counts of score >= grid[k].
    predicted = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)
    tp = np.cumsum(hits[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)
    positives = y_true.sum(axis=0).astype(np.float64)
    recall, precision = averaged(tp, predicted, positives, average)
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
    taus: Sequence[float] | np.ndarray,
    *,
    average: str,
) -> PRCurve:
    """Multi-class recall and precision of ``argmax(log p - tau * log prior)`` for each tau.

    The rows are read a block at a time (:func:`~sweeper.evaluation.log_probability_blocks`):
    each block's logarithms are taken once and decided at every tau, its counts summed."""
    n_classes = scores.shape[-1]
    taus = np.asarray(taus, dtype=np.float64)
    log_prior = np.asarray(log_prior, dtype=np.float64)
    tp = np.zeros((taus.size, n_classes), np.int64)
    predicted = np.zeros((taus.size, n_classes), np.int64)
    for start, log_p in log_probability_blocks(scores):
        truth = np.asarray(y_true[start:start + log_p.shape[0]])
        for index, tau in enumerate(taus):
            decided = np.argmax(log_p - tau * log_prior, axis=-1)
            tp[index] += np.bincount(truth[truth == decided], minlength=n_classes)
            predicted[index] += np.bincount(decided, minlength=n_classes)
    positives = np.bincount(y_true, minlength=n_classes).astype(np.float64)
    recall, precision = averaged(
        tp.T.astype(np.float64), predicted.T.astype(np.float64), positives, average
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
    thresholds = np.full(scores.shape[1], 0.5)
    for label in range(scores.shape[1]):
        truth = y_true[:, label]
        positives = float(truth.sum())
        if positives == 0:
            continue
        distinct, tp, predicted = _ranked(truth, np.asarray(scores[:, label], np.float64))
        # The first maximum: the highest such threshold.
        best = int(np.argmax(fbeta(tp / positives, tp / predicted, beta)))
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

