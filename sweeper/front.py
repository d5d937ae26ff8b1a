"""Operating points, and the front the sweeper reports and exports from.

A trained model can be run at many decisions without retraining: its trial's own rule (the
searched threshold, per-label thresholds, or tau) and every threshold (or tau) of its stored
curves. An :class:`OperatingPoint` is one (trial, decision) pair. The front is the Pareto front of
all operating points on the validation split (where they are chosen), read on the test split
(what to expect), so one trained weight vector can appear several times at different decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sweeper.metrics import hypervolume_2d, pareto_front
from sweeper.records import TrialRecord

__all__ = ["OperatingPoint", "front_hypervolume", "operating_points", "validation_front"]


@dataclass(frozen=True)
class OperatingPoint:
    """A trained trial at one decision: its own rule (``index is None``) or a curve point."""

    record: TrialRecord
    index: int | None = None
    """``None``: the trial's own decision rule; else the position on its stored curves."""

    def figures(self, split: str) -> tuple[float, float]:
        """``(recall, precision)`` on ``"validation"`` or ``"test"``."""
        if self.index is None:
            evaluation = getattr(self.record, split)
            return evaluation.recall, evaluation.precision
        curve = getattr(self.record, f"{split}_curve")
        return curve.recall[self.index], curve.precision[self.index]

    @property
    def validation(self) -> tuple[float, float]:
        return self.figures("validation")

    @property
    def test(self) -> tuple[float, float]:
        return self.figures("test")

    def f1(self, split: str = "validation") -> float:
        recall, precision = self.figures(split)
        return 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)

    @property
    def curve_value(self) -> float | None:
        """The curve's threshold (or tau) at this point; ``None`` for the trial's own rule."""
        if self.index is None:
            return None
        return self.record.validation_curve.values[self.index]

    @property
    def threshold(self) -> float | tuple[float, ...] | None:
        """Multi-label decision threshold(s); ``None`` for a multi-class trial."""
        if self.record.candidate.tau is not None:
            return None
        value = self.curve_value
        return self.record.threshold if value is None else value

    @property
    def tau(self) -> float | None:
        """Multi-class logit-adjustment strength; ``None`` for a multi-label trial."""
        if self.record.candidate.tau is None:
            return None
        value = self.curve_value
        return self.record.candidate.tau if value is None else value

    def decision_summary(self) -> str:
        """``0.412``, ``per-label F2``, ``tau=0.80``; a curve point ends with ``*``."""
        value = self.curve_value
        if value is None:
            return self.record.candidate.decision_summary()
        return f"tau={value:.2f}*" if self.tau is not None else f"{value:.3f}*"


def operating_points(records: Iterable[TrialRecord]) -> list[OperatingPoint]:
    """Every trial's own rule, then every point of its stored curves."""
    points = []
    for record in records:
        points.append(OperatingPoint(record))
        if record.validation_curve is not None:
            points.extend(
                OperatingPoint(record, i) for i in range(len(record.validation_curve.values))
            )
    return points


def _validation_figures(records: Sequence[TrialRecord]):
    """Every operating point's validation (recall, precision), with its record and curve index
    (-1: the trial's own rule), as arrays: a front over a million points needs no objects."""
    figures, owners, indices = [], [], []
    for position, record in enumerate(records):
        own = (record.validation.recall, record.validation.precision)
        curve = record.validation_curve
        size = 0 if curve is None else len(curve.values)
        block = np.empty((size + 1, 2))
        block[0] = own
        if size:
            block[1:, 0], block[1:, 1] = curve.recall, curve.precision
        figures.append(block)
        owners.append(np.full(size + 1, position))
        indices.append(np.arange(-1, size))
    return np.concatenate(figures), np.concatenate(owners), np.concatenate(indices)


def validation_front(
    records: Sequence[TrialRecord],
    *,
    min_precision: float | None = None,
    min_recall: float | None = None,
) -> list[OperatingPoint]:
    """The validation Pareto front of every operating point, from high recall to high precision.

    Points below ``min_precision`` / ``min_recall`` on validation are left out when any point
    meets them (the study's constraints). Of points with exactly the same validation figures
    (every model predicts everything at its lowest threshold) the first is kept: a trial's own
    rule before its curve, earlier trials before later ones.
    """
    figures, owners, indices = _validation_figures(records)
    feasible = np.ones(len(figures), dtype=bool)
    if min_precision is not None:
        feasible &= figures[:, 1] >= min_precision
    if min_recall is not None:
        feasible &= figures[:, 0] >= min_recall
    candidates = np.flatnonzero(feasible) if feasible.any() else np.arange(len(figures))
    front, seen = [], set()
    on_front = candidates[pareto_front(figures[candidates])]
    for index in sorted(on_front, key=lambda i: (-figures[i, 0], -figures[i, 1], i)):
        key = tuple(figures[index])
        if key not in seen:
            seen.add(key)
            curve_index = int(indices[index])
            front.append(OperatingPoint(
                records[int(owners[index])], None if curve_index < 0 else curve_index
            ))
    return front


def front_hypervolume(points: Iterable[OperatingPoint], split: str) -> float:
    """Hypervolume (reference recall 0, precision 0) of the points' figures on ``split``."""
    figures = np.array([p.figures(split) for p in points], dtype=np.float64)
    return hypervolume_2d(figures.reshape(-1, 2))
