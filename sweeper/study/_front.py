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

from sweeper.config import Split
from sweeper.errors import ExportError
from sweeper.evaluation import Constraints, fbeta, hypervolume_2d, pareto_front
from sweeper.study._records import TrialRecord

__all__ = [
    "OperatingPoint",
    "front_hypervolume",
    "operating_points",
    "select_point",
    "validation_front",
]


@dataclass(frozen=True)
class OperatingPoint:
    """A trained trial at one decision: its own rule (``index is None``) or a curve point."""

    record: TrialRecord
    index: int | None = None
    """``None``: the trial's own decision rule; else the position on its stored curves."""

    def figures(self, split: Split) -> tuple[float, float]:
        """``(recall, precision)`` on the validation or the test split."""
        if self.index is None:
            evaluation = self.record.evaluation(split)
            return evaluation.recall, evaluation.precision
        curve = self.record.curve(split)
        return curve.recall[self.index], curve.precision[self.index]

    @property
    def validation(self) -> tuple[float, float]:
        return self.figures(Split.VALIDATION)

    @property
    def test(self) -> tuple[float, float]:
        return self.figures(Split.TEST)

    def f1(self, split: Split = Split.VALIDATION) -> float:
        return fbeta(*self.figures(split))

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
    feasible = Constraints(min_precision, min_recall).feasible(figures[:, 0], figures[:, 1])
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


def front_hypervolume(points: Iterable[OperatingPoint], split: Split) -> float:
    """Hypervolume (reference recall 0, precision 0) of the points' figures on ``split``."""
    figures = np.array([p.figures(split) for p in points], dtype=np.float64)
    return hypervolume_2d(figures.reshape(-1, 2))


def select_point(
    records: Sequence[TrialRecord],
    *,
    trial: int | None = None,
    min_precision: float | None = None,
    min_recall: float | None = None,
    best_fbeta: float | None = None,
) -> OperatingPoint:
    """Pick one operating point by trial number, or by a rule on validation figures.

    ``trial=N``: trial N at its own decision rule. The rules look at every operating point,
    curve points included: ``min_precision=P``, the highest recall among points with precision
    >= P (ties: higher precision); ``min_recall=R``, the highest precision among points with
    recall >= R (ties: higher recall); ``best_fbeta=B``, the highest F-beta (B > 1 favours
    recall). Exactly one rule must be given.
    """
    given = [name for name, value in (
        ("trial", trial), ("min_precision", min_precision), ("min_recall", min_recall),
        ("best_fbeta", best_fbeta),
    ) if value is not None]
    if len(given) != 1:
        raise ExportError(
            "choose exactly one of trial, min_precision, min_recall, best_fbeta (on the command "
            "line --trial, --min-precision, --min-recall, --best-fbeta).",
            key=given[-1] if given else "rule",
        )
    for key, floor in (("min_precision", min_precision), ("min_recall", min_recall)):
        if floor is not None and not 0 <= floor <= 1:
            raise ExportError(f"{key}: expected a number in [0, 1], got {floor!r}.", key=key)
    if trial is not None:
        for record in records:
            if record.number == trial:
                return OperatingPoint(record)
        raise ExportError(f"trial {trial} is not a finished trial of this study.", key="trial")
    points = operating_points(records)
    if best_fbeta is not None:
        if not best_fbeta > 0:
            raise ExportError(f"best_fbeta: beta must be > 0, got {best_fbeta}.",
                              key="best_fbeta")
        return max(points, key=lambda p: fbeta(*p.validation, best_fbeta))
    constraints = Constraints(min_precision=min_precision, min_recall=min_recall)
    eligible = [p for p in points if constraints.feasible(*p.validation)]
    if not eligible:
        key, floor, position = (
            ("min_precision", min_precision, 1) if min_precision is not None
            else ("min_recall", min_recall, 0)
        )
        best = max(p.validation[position] for p in points)
        raise ExportError(
            f"no trial reaches validation {key.removeprefix('min_')} >= {floor} "
            f"(the best is {best:.4f}).", key=key,
        )
    if min_precision is not None:
        return max(eligible, key=lambda p: p.validation)
    return max(eligible, key=lambda p: (p.validation[1], p.validation[0]))
