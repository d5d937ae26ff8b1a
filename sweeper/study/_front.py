"""Operating points, and the front the sweeper reports and exports from.

A trained model can be run at many decisions without retraining: its trial's own rule (the
searched threshold, per-label thresholds, or tau) and every threshold (or tau) of its stored
curves. An :class:`OperatingPoint` is one (trial, decision) pair. The front is the Pareto front of
all operating points on the validation split (where they are chosen), read on the test split
(what to expect), so one trained weight vector can appear several times at different decisions.

:func:`recommend` is the verdict's choice (the best trial against the best baseline, by the
paired, selection-aware comparison of :mod:`sweeper.evaluation`), and :func:`settlement` says
when a study's remaining budget can no longer plausibly change it (``[study] stop =
"settled"``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from sweeper.config import Split, check_export_rule
from sweeper.errors import ExportError
from sweeper.evaluation import (
    FIGURE_DECIMALS,
    ChoiceComparison,
    Constraints,
    compare_choice,
    fbeta,
    hypervolume_2d,
    paired_differences,
    pareto_front,
)
from sweeper.study._records import TrialRecord

__all__ = [
    "GAIN_MARGIN",
    "SETTLE_GAIN",
    "SETTLE_MIN_TRIALS",
    "OperatingPoint",
    "Recommendation",
    "Settlement",
    "best_point",
    "front_hypervolume",
    "noise_margin",
    "operating_points",
    "paired_comparison",
    "rankable",
    "recommend",
    "risk_text",
    "select_point",
    "settle_risk",
    "settlement",
    "validation_front",
]

GAIN_MARGIN = 0.01
"""The unpaired rule (records stored before the paired comparison, or a study with floors): a
searched trial is recommended over the best baseline only when its validation F1 is higher by
more than this share, and by more than the validation noise (:func:`noise_margin`)."""


def noise_margin(f1: float, positives: int | None) -> float:
    """Twice the relative standard error of an F1 near ``f1`` measured on ``positives``
    validation positives, ``2 sqrt((1 - F1) / (F1 n))`` (F1 read as a proportion of n): a
    gain smaller than this is within the noise of the split it was chosen on. 0 if unknown."""
    if positives is None or positives <= 0 or f1 <= 0:
        return 0.0
    return 2.0 * math.sqrt((1.0 - f1) / (f1 * positives))


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
        assert curve is not None  # a curve point: its trial has curves (operating_points)
        return curve.recall[self.index], curve.precision[self.index]

    @property
    def validation(self) -> tuple[float, float]:
        return self.figures(Split.VALIDATION)

    @property
    def spread(self) -> tuple[float, float] | None:
        """Cross-validation: the standard deviation of the validation recall and precision
        across folds at this point; ``None`` with one validation split."""
        if self.index is None:
            return self.record.validation.spread
        curve = self.record.validation_curve
        assert curve is not None  # a curve point: its trial has curves (operating_points)
        if curve.recall_spread is None or curve.precision_spread is None:
            return None
        return curve.recall_spread[self.index], curve.precision_spread[self.index]

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
        curve = self.record.validation_curve
        assert curve is not None  # a curve point: its trial has curves (operating_points)
        return curve.values[self.index]

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

    @property
    def baseline(self) -> str | None:
        """The baseline's name when the point belongs to one."""
        return self.record.baseline

    def decision_summary(self) -> str:
        """``0.412``, ``per-label F2``, ``tau=0.80``; a curve point ends with ``*``."""
        value = self.curve_value
        thresholds = self.record.thresholds
        if value is None and thresholds is not None and len(thresholds) == 1:
            # One label (binary): its F-beta-optimal threshold itself, not "per-label".
            return f"{thresholds[0]:.3f} (F{self.record.candidate.fbeta:.2g})"
        if value is None:
            return self.record.candidate.decision_summary()
        return f"tau={value:.2f}*" if self.tau is not None else f"{value:.3f}*"


def rankable(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """The records that may be chosen: all but the trials whose training diverged.

    A diverged trial's scores are not finite, so its figures mean nothing (in multi-class a
    NaN score takes ``argmax`` 0 and earns non-zero macro figures). The one filter every
    choice applies: the front, the recommendation (and so the verdict), every export rule. The
    report still lists those trials by number."""
    return [record for record in records if not record.diverged]


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
            assert curve is not None  # size > 0
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
    meets them (the study's constraints). Of points with the same validation figures (every
    model predicts everything at its lowest threshold) the first is kept: a trial's own rule
    before its curve, earlier trials before later ones. Figures are compared at the six
    decimals a stored curve keeps (:func:`~sweeper.evaluation.rounded`): a trial's own
    figures are exact, so a recall of 14/15 would otherwise be 3e-7 above the same recall on
    a curve and stay on the front beside a point of higher precision, or appear twice.
    """
    records = rankable(records)
    if not records:
        return []
    figures, owners, indices = _validation_figures(records)
    figures = np.round(figures, FIGURE_DECIMALS)
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


@dataclass(frozen=True)
class Recommendation:
    """The operating point to train with, and why: the best validation F1 among the searched
    trials and among the baselines (their whole curves: a tuned threshold or tau); the trial
    only when it beats the best baseline by the paired, selection-aware comparison
    (:func:`~sweeper.evaluation.compare_choice`: the lower bound of the difference, corrected
    for choosing the best of N trials on the same rows, above 0). Records without resampled
    figures (stored before them) and studies with floors fall back to the unpaired rule (more
    than :data:`GAIN_MARGIN`, and more than the noise). The verdict and the default export both
    read it, so they never disagree."""

    point: OperatingPoint
    best_trial: OperatingPoint | None
    best_baseline: OperatingPoint | None
    required_gain: float = GAIN_MARGIN
    """The unpaired rule's gain over the best baseline a trial needed: the margin, or the
    noise if larger (``comparison`` decides where there is one)."""
    comparison: ChoiceComparison | None = None
    """The paired comparison of the best trial with the best baseline; ``None`` where the
    unpaired rule decided."""

    @property
    def gain(self) -> float | None:
        """The best trial's validation F1 relative to the best baseline's, minus 1."""
        if self.best_trial is None or self.best_baseline is None:
            return None
        baseline = self.best_baseline.f1()
        return None if baseline == 0 else self.best_trial.f1() / baseline - 1

    @property
    def weighting_pays(self) -> bool:
        return self.point.baseline is None and self.best_baseline is not None


def _best_f1(records: Sequence[TrialRecord], constraints: Constraints) -> OperatingPoint | None:
    """The operating point of ``records`` with the highest validation F1 among those meeting
    the floors (all of them if none does); ties: higher recall, then the earlier point.
    Computed on arrays, as the front is: a study holds about a hundred points per trial."""
    if not records:
        return None
    figures, owners, indices = _validation_figures(records)
    recall, precision = figures[:, 0], figures[:, 1]
    feasible = constraints.feasible(recall, precision)
    if not feasible.any():
        feasible[:] = True
    score = np.where(feasible, fbeta(recall, precision), -1.0)
    order = np.lexsort((-np.arange(score.size), recall, score))
    best = int(order[-1])
    curve_index = int(indices[best])
    return OperatingPoint(records[int(owners[best])], None if curve_index < 0 else curve_index)


def best_point(record: TrialRecord) -> OperatingPoint:
    """A record's operating point of highest validation F1 (its own rule or a curve point;
    ties: higher recall, then its own rule), as :func:`recommend` takes it without floors."""
    point = _best_f1([record], Constraints())
    assert point is not None  # one record: one point at least
    return point


def recommend(
    records: Sequence[TrialRecord],
    baselines: Sequence[TrialRecord] = (),
    *,
    constraints: Constraints = Constraints(),
    positives: int | None = None,
) -> Recommendation:
    """See :class:`Recommendation`; ``positives``: what the validation figures rest on
    (:meth:`~sweeper.study.StudyInfo.selection_positives`), for the noise margin."""
    best_trial = _best_f1(rankable(records), constraints)
    best_baseline = _best_f1(rankable(baselines), constraints)
    if best_trial is None and best_baseline is None:
        raise ExportError("the study has no finished trial (that did not diverge) and no "
                          "baseline.", key="rule")
    required = GAIN_MARGIN
    comparison = None
    if best_baseline is None:
        point = best_trial
    else:
        required = max(GAIN_MARGIN, noise_margin(best_baseline.f1(), positives))
        if best_trial is not None and constraints == Constraints():
            comparison = paired_comparison(rankable(records), rankable(baselines))
        if comparison is not None:
            beats = comparison.beats
        else:
            beats = (best_trial is not None
                     and best_trial.f1() > best_baseline.f1() * (1 + required))
        point = best_trial if beats else best_baseline
    assert point is not None  # both None is refused above; beats implies a best_trial
    return Recommendation(point, best_trial, best_baseline, required, comparison)


def paired_comparison(records: Sequence[TrialRecord],
                      baselines: Sequence[TrialRecord]) -> ChoiceComparison | None:
    """The selection-aware paired comparison of the best of ``records`` with the best of
    ``baselines`` (:func:`~sweeper.evaluation.compare_choice`), from their resampled F1s;
    ``None`` when one of them has none (stored before them) or they were resampled
    differently."""
    every = [*records, *baselines]
    if not records or not baselines or any(r.resampled is None for r in every):
        return None
    if len({r.resampled.values.size for r in every if r.resampled is not None}) != 1:
        return None

    def stacked(group: Sequence[TrialRecord]) -> tuple[np.ndarray, np.ndarray]:
        resampled = [r.resampled for r in group if r.resampled is not None]
        return (np.array([r.f1 for r in resampled]),
                np.stack([r.values for r in resampled]))

    return compare_choice(*stacked(records), *stacked(baselines))


SETTLE_MIN_TRIALS = 20
"""``stop = "settled"`` never ends a study before this many finished trials: the sampler has
had a fair number (TPE's first ten are random) and the tail of its trials can be read."""
SETTLE_RISK = 0.05
"""A study is settled when the chance that its remaining budget finds a trial the paired
comparison would recommend is below this."""
SETTLE_GAIN = 0.10
"""A study settles only where a trial better than the best baseline by this share of its F1
could not be told from it (the comparison's bound needs more): one such trial later in the
sequence cannot be foreseen from the trials so far, and where it could be recommended the
stop changed the answer in a third of simulated studies (``benchmarks/verdict_calibration.py
--stop-replicates``)."""
SETTLE_RECENT = 10
"""The tail is read from the latest half of the trials, this many at least: what the sampler
draws now, not what it drew while it explored."""


@dataclass(frozen=True)
class Settlement:
    """Why a study's answer is settled: a baseline is recommended by the paired comparison,
    and the chance that ``remaining`` more trials find one it would recommend is ``risk``."""

    trials: int
    remaining: int
    risk: float

    def to_dict(self) -> dict[str, float | int]:
        return {"trials": self.trials, "remaining": self.remaining, "risk": self.risk}


def risk_text(risk: float) -> str:
    """``1.4%``, or ``below 0.1%``."""
    return "below 0.1%" if risk < 0.001 else f"{100 * risk:.1f}%"


def settle_risk(differences: np.ndarray, errors: np.ndarray, critical: float,
                remaining: int) -> float:
    """The chance that one of ``remaining`` more trials clears the comparison's bound, from the
    recent trials' paired ``differences`` to the best baseline and their standard ``errors``:
    a new trial's difference, read as normal with their mean and spread, must exceed
    ``critical`` times their median error (see :func:`settlement`)."""
    needed = critical * float(np.median(errors))
    spread = float(np.std(differences, ddof=1)) if differences.size > 1 else 0.0
    if spread <= 0:
        chance = float(np.max(differences) > needed)
    else:
        chance = 0.5 * math.erfc((needed - float(np.mean(differences)))
                                 / (spread * math.sqrt(2)))
    return 1.0 - (1.0 - chance) ** remaining


def settlement(records: Sequence[TrialRecord], baselines: Sequence[TrialRecord], *,
               remaining: int) -> Settlement | None:
    """The study's settlement, or ``None`` while the answer may still change.

    Settled: at least :data:`SETTLE_MIN_TRIALS` finished trials, the paired comparison
    recommends a baseline (:func:`paired_comparison`), a trial :data:`SETTLE_GAIN` better than
    it could not be told from it (the bound it would need to clear is wider), and the remaining
    budget is unlikely to change that. A new trial is recommended when its paired difference to
    the best baseline exceeds the comparison's critical multiple of its standard error; the
    recent trials' differences, read as normal, give the chance ``p`` that one does, and
    ``1 - (1 - p)^R`` that one of the ``R`` remaining does. Settled when that risk is below
    :data:`SETTLE_RISK`. A study whose best trial beats the baselines is never settled: more
    trials may find a better one."""
    records = rankable(records)
    if len(records) < SETTLE_MIN_TRIALS or remaining <= 0:
        return None
    baselines = rankable(baselines)
    comparison = paired_comparison(records, baselines)
    if comparison is None or comparison.beats:
        return None
    recent = sorted(records, key=lambda r: r.number)[-max(SETTLE_RECENT, len(records) // 2):]
    resampled = [r.resampled for r in recent if r.resampled is not None]
    kept = [b.resampled for b in baselines if b.resampled is not None]
    baseline_f1 = np.array([b.f1 for b in kept])
    differences, _, errors = paired_differences(
        np.array([r.f1 for r in resampled]), np.stack([r.values for r in resampled]),
        baseline_f1, np.stack([b.values for b in kept]))
    needed = comparison.critical * float(np.median(errors))
    if needed < SETTLE_GAIN * float(baseline_f1.max()):
        return None  # a trial 10% better could still be recommended here
    risk = settle_risk(differences, errors, comparison.critical, remaining)
    if risk >= SETTLE_RISK:
        return None
    return Settlement(trials=len(records), remaining=remaining, risk=risk)


def select_point(
    records: Sequence[TrialRecord],
    *,
    baselines: Sequence[TrialRecord] = (),
    trial: int | None = None,
    baseline: str | None = None,
    min_precision: float | None = None,
    min_recall: float | None = None,
    best_fbeta: float | None = None,
    constraints: Constraints = Constraints(),
    positives: int | None = None,
) -> OperatingPoint:
    """Pick one operating point by a rule on validation figures; no rule: the recommended one.

    ``trial=N``: trial N at its own decision rule; ``baseline=NAME``: that baseline at its best
    validation F1 along its curve. The other rules look at every operating point, baselines'
    included: ``min_precision=P``, the highest recall among points with precision >= P (ties:
    higher precision); ``min_recall=R``, the highest precision among points with recall >= R
    (ties: higher recall); ``best_fbeta=B``, the highest F-beta (B > 1 favours recall). Without
    a rule, :func:`recommend` (with the study's ``constraints`` and validation ``positives``)
    chooses.
    """
    rule = check_export_rule(trial=trial, baseline=baseline, min_precision=min_precision,
                             min_recall=min_recall, best_fbeta=best_fbeta)
    given = list(rule)
    trial, baseline = rule.get("trial"), rule.get("baseline")
    min_precision, min_recall = rule.get("min_precision"), rule.get("min_recall")
    best_fbeta = rule.get("best_fbeta")
    if not given:
        return recommend(
            records, baselines, constraints=constraints, positives=positives
        ).point
    if trial is not None:
        for record in records:
            if record.number == trial and record.diverged:
                raise ExportError(
                    f"trial {trial} diverged (its training gave non-finite scores): it has no "
                    "figures to export by; choose another trial.", key="trial",
                )
            if record.number == trial:
                return OperatingPoint(record)
        raise ExportError(f"trial {trial} is not a finished trial of this study.", key="trial")
    records, baselines = rankable(records), rankable(baselines)
    if baseline is not None:
        named = [record for record in baselines if record.baseline == baseline]
        if not named:
            # A baseline's record names it (cast: no runtime change).
            known = ", ".join(cast(str, record.baseline) for record in baselines) or "none yet"
            raise ExportError(f"no baseline named {baseline!r} (the study has: {known}).",
                              key="baseline")
        point = _best_f1(named, Constraints())
        assert point is not None  # named is not empty
        return point
    points = operating_points([*records, *baselines])
    if not points:
        raise ExportError("every finished trial diverged and there is no baseline.",
                          key=given[0])
    if best_fbeta is not None:

        # Not a lambda: mypy types a lambda's argument given to max() as Any, and then refuses
        # *p.validation followed by another argument.
        def score(point: OperatingPoint) -> float:
            return fbeta(*point.validation, best_fbeta)

        return max(points, key=score)
    floors = Constraints(min_precision=min_precision, min_recall=min_recall)
    eligible = [p for p in points if floors.feasible(*p.validation)]
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
