"""The report's data: a study's front, baselines and verdict, computed once.

:class:`FrontReport` holds everything the table, the JSON and the HTML page show: the validation
front of operating points (a trial at its own decision rule or at a point of its stored curve,
:mod:`sweeper.study`) with their test figures, the baselines and the :class:`Verdict` on whether
the searched weights beat them, the chosen trial (the front's best validation F1), parameter
importances for both objectives, the calibration (Brier score, ECE) of every front point's and
baseline's probabilities, and the study's facts. The renderers only format it, so tests
check this data object, and what a browser draws, rather than pixels.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

import optuna

from sweeper.config import Split, Task
from sweeper.evaluation import Calibration, Constraints, Evaluation
from sweeper.remedies import REMEDIES
from sweeper.study import (
    GAIN_MARGIN,
    METRIC_NAMES,
    SETTLED_ATTR,
    OperatingPoint,
    Recommendation,
    StudyInfo,
    TrialRecord,
    baseline_titles,
    finished_records,
    front_hypervolume,
    load_baselines,
    operating_points,
    recommend,
    risk_text,
    trials_cut_short,
    validation_front,
)

__all__ = [
    "BASELINE_NAMES",
    "BaselineSummary",
    "FrontPoint",
    "FrontReport",
    "Verdict",
    "build_report",
]


BASELINE_NAMES = {name: title for task in Task for name, title in baseline_titles(task).items()}
"""How tables name each baseline: the weight baselines' and each remedy's own titles."""


def remedy_title(name: str) -> str:
    """How the verdict names a remedy (its registry title; the name of an unknown one)."""
    return REMEDIES[name].title if name in REMEDIES else name


UNKNOWN_CALIBRATION = Calibration(brier=None, ece=None)
"""What a record stored before calibration was (or a diverged model) reports."""


def _calibration_json(
    calibration: dict[Split, Calibration] | None,
) -> dict[str, dict[str, float | None]]:
    """The JSON's ``calibration``: ``{"validation": {"brier": .., "ece": ..}, "test": {..}}``,
    a figure ``null`` where unknown (a record stored before calibration was, or non-finite
    scores)."""
    known = calibration or {}
    return {split.value: known.get(split, UNKNOWN_CALIBRATION).to_dict() for split in Split}


@dataclass(frozen=True)
class Verdict:
    """Do the searched weights beat the baselines? As data, and as one honest sentence.

    It is the :class:`~sweeper.study.Recommendation` (what ``export`` without a rule exports):
    the best validation F1 of the searched trials against the baselines' (each at its tuned
    threshold or tau), the trial only when better by the paired, selection-aware comparison
    (its difference and bound are in the message and in ``to_dict()["comparison"]``); with
    the test F1 of both, and the hypervolumes of the whole front and of the best baseline's
    curve on test, for context.
    """

    recommendation: Recommendation
    front_hypervolume: float
    """Test hypervolume of the validation front."""
    baseline_hypervolume: float | None
    """Test hypervolume of the recommended (or best) baseline's whole curve."""
    subject: str | None = None
    """Whose F1 it compares, where not the study's average: a binary study's positive class
    (``the positive class 'fraud'``)."""
    settled: dict[str, Any] | None = None
    """The study's settlement (``stop = "settled"`` ended it early), as stored."""

    @property
    def weighting_pays(self) -> bool:
        return self.recommendation.weighting_pays

    @property
    def best_baseline(self) -> str | None:
        point = self.recommendation.best_baseline
        return None if point is None else point.baseline

    @property
    def gain(self) -> float | None:
        """The best trial's validation F1 relative to the best baseline's, minus 1."""
        return self.recommendation.gain

    @property
    def remedy(self) -> str:
        """The remedy of the recommended point: how its weights train (``weights``,
        ``deferred``, ``focal``, ``logit_adjusted``), a searched trial's or a baseline's."""
        return self.recommendation.point.record.candidate.remedy

    @property
    def best_trial_remedy(self) -> str | None:
        """The remedy of the best searched trial (``None``: no trial yet), beaten or not."""
        trial = self.recommendation.best_trial
        return None if trial is None else trial.record.candidate.remedy

    @property
    def message(self) -> str:
        recommendation = self.recommendation
        trial, baseline = recommendation.best_trial, recommendation.best_baseline
        if baseline is None:
            return "no baselines yet: they are trained with the study's first batch."
        assert baseline.baseline is not None  # the best baseline's point is a baseline's
        label = BASELINE_NAMES.get(baseline.baseline, baseline.baseline)
        of = "" if self.subject is None else f" of {self.subject}"
        against = (
            f"validation F1{of} {trial.f1():.3f} (test {trial.f1(Split.TEST):.3f}) for trial "
            f"{trial.record.number} ({trial.record.candidate.family_summary()}) at "
            f"{trial.decision_summary()} against "
            f"{baseline.f1():.3f} (test {baseline.f1(Split.TEST):.3f}) for the {label} baseline "
            f"at {baseline.decision_summary()}, {100 * (self.gain or 0.0):+.1f}%"
            if trial is not None else f"no searched trial yet; the {label} baseline"
            + ("" if self.subject is None else f" (F1{of} {baseline.f1():.3f})")
        )
        evidence = self.evidence()
        if self.weighting_pays:
            assert trial is not None  # weighting pays only for a searched trial
            remedy = trial.record.candidate.remedy
            if remedy == "weights":
                return f"The searched weights beat every baseline: {against}{evidence}. Export it."
            return (f"The searched {remedy_title(remedy)} beats every baseline: "
                    f"{against}{evidence}. Export it.")
        advice = (
            "train unweighted and tune the threshold" if baseline.baseline == "unweighted"
            else f"the {label} rule with a tuned threshold is as good"
        )
        # "Weighting buys nothing" only where the unweighted baseline is what it recommends.
        nothing = ("Weighting buys nothing here" if baseline.baseline == "unweighted"
                   else "No searched trial beats the baselines here")
        if recommendation.comparison is not None or trial is None:
            return (f"{nothing}: {against}{evidence}; {advice}: `export` without a rule "
                    f"exports that baseline.{self.settled_text()}")
        return (
            f"{nothing}: {against} (a gain counts above "
            f"{100 * recommendation.required_gain:.1f}%: {100 * GAIN_MARGIN:g}%, or twice the "
            f"noise of the validation figures); {advice}: `export` without a rule exports that "
            "baseline."
        )

    def evidence(self) -> str:
        """The paired comparison in words (empty where the unpaired rule decided):
        ``; paired on the validation rows, +0.031 F1 (lower bound +0.012 for the best of 40
        trials)``."""
        comparison = self.recommendation.comparison
        if comparison is None:
            return ""
        trials = ("one trial" if comparison.trials == 1
                  else f"the best of {comparison.trials} trials")
        return (f"; paired on the validation rows, {comparison.difference:+.3f} F1 (95% "
                f"bound {comparison.low:+.3f} to {comparison.high:+.3f} for {trials})")

    def settled_text(self) -> str:
        """`` The study settled after 24 of 60 trials: ...`` (empty unless it did)."""
        if not self.settled:
            return ""
        return (f" The study settled after {self.settled['trials']} of its "
                f"{self.settled['budget']} trials: the remaining {self.settled['remaining']} "
                f"could change this with a chance of {risk_text(self.settled['risk'])} "
                "([study] stop = \"budget\" runs them all).")

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        recommendation = self.recommendation
        return {
            "weighting_pays": self.weighting_pays,
            "recommended": FrontPoint.of(recommendation.point).to_dict(),
            "best_baseline": self.best_baseline,
            "remedy": self.remedy,
            "best_trial_remedy": self.best_trial_remedy,
            "gain": self.gain,
            "margin": recommendation.required_gain,
            "comparison": None if recommendation.comparison is None
            else recommendation.comparison.to_dict(),
            "settled": self.settled,
            "validation_f1": {
                "best_trial": None if recommendation.best_trial is None
                else recommendation.best_trial.f1(),
                "best_baseline": None if recommendation.best_baseline is None
                else recommendation.best_baseline.f1(),
            },
            "front_hypervolume": self.front_hypervolume,
            "baseline_hypervolume": self.baseline_hypervolume,
            "message": self.message,
        }


@dataclass(frozen=True)
class FrontPoint:
    """One point of the front, as plain values: a trial at a decision, and its figures."""

    trial: int | None
    """The trial's number; ``None`` for a baseline."""
    baseline: str | None
    """The baseline's name (``unweighted``, ...) when the point is one of theirs."""
    decision: str
    """``0.412``, ``per-label F2``, ``tau=0.80``; ``*`` marks a point of the trial's curve."""
    threshold: float | tuple[float, ...] | None
    tau: float | None
    from_curve: bool
    validation_recall: float
    validation_precision: float
    test_recall: float
    test_precision: float
    family: str
    normalisation: str
    weights: tuple[float, ...]
    candidate: dict[str, Any] = field(repr=False)
    validation_spread: tuple[float, float] | None = None
    """Cross-validation: the standard deviation of validation recall and precision across
    folds; ``None`` with one validation split."""
    validation_brier: float | None = None
    """The Brier score of the trained model's probabilities on validation: its trial's, the
    same at every decision of that trial (a threshold or tau does not change the
    probabilities); ``None`` where unknown (a record stored without calibration)."""
    validation_ece: float | None = None
    """The expected calibration error (15 bins) on validation, as ``validation_brier``."""
    test_brier: float | None = None
    """The Brier score on test, as ``validation_brier``."""
    test_ece: float | None = None
    """The expected calibration error (15 bins) on test, as ``validation_brier``."""

    @classmethod
    def of(cls, point: OperatingPoint) -> FrontPoint:
        record = point.record
        validation, test = (
            record.calibration_on(split) or UNKNOWN_CALIBRATION for split in Split
        )
        return cls(
            trial=None if record.baseline is not None else record.number,
            baseline=record.baseline,
            decision=point.decision_summary(),
            threshold=point.threshold,
            tau=point.tau,
            from_curve=point.index is not None,
            validation_recall=point.validation[0],
            validation_precision=point.validation[1],
            test_recall=point.test[0],
            test_precision=point.test[1],
            family=record.candidate.family_summary(),
            normalisation=record.candidate.normalisation,
            weights=record.weights,
            candidate=record.candidate.to_dict(),
            validation_spread=point.spread,
            validation_brier=validation.brier,
            validation_ece=validation.ece,
            test_brier=test.brier,
            test_ece=test.ece,
        )

    def to_dict(self) -> dict[str, Any]:
        """The report JSON's row."""
        return {
            "trial": self.trial,
            "baseline": self.baseline,
            "decision": self.decision,
            "threshold": self.threshold,
            "tau": self.tau,
            "from_curve": self.from_curve,
            "candidate": self.candidate,
            "weights": list(self.weights),
            "validation": {
                "recall": self.validation_recall, "precision": self.validation_precision,
                **({} if self.validation_spread is None else {
                    "recall_spread": self.validation_spread[0],
                    "precision_spread": self.validation_spread[1],
                }),
            },
            "test": {"recall": self.test_recall, "precision": self.test_precision},
            "calibration": {
                Split.VALIDATION.value: {"brier": self.validation_brier,
                                         "ece": self.validation_ece},
                Split.TEST.value: {"brier": self.test_brier, "ece": self.test_ece},
            },
        }


@dataclass(frozen=True)
class BaselineSummary:
    """A baseline as data: its weights, its whole curve's hypervolume, its default point."""

    name: str
    weights: tuple[float, ...]
    hypervolume: dict[Split, float]
    default_decision: dict[Split, Evaluation]
    """Figures at 0.5 (multi-label) or the plain argmax (multi-class)."""
    calibration: dict[Split, Calibration] | None = None
    """The Brier score and ECE of its model's probabilities per split (every decision of it
    shares them); ``None`` for a baseline stored without them."""

    @property
    def label(self) -> str:
        return BASELINE_NAMES.get(self.name, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": list(self.weights),
            "hypervolume": {split.value: value for split, value in self.hypervolume.items()},
            "default_decision": {
                split.value: evaluation.to_dict()
                for split, evaluation in self.default_decision.items()
            },
            "calibration": _calibration_json(self.calibration),
        }


@dataclass(frozen=True)
class FrontReport:
    """A study's recall/precision front on validation, with test figures beside it."""

    study_name: str
    info: StudyInfo
    records: tuple[TrialRecord, ...]
    """Every complete trial, in trial order."""
    front: tuple[OperatingPoint, ...]
    """The validation Pareto front of the operating points (the trials' and the baselines')
    that meet the study's constraints (all of them if none does), from high recall to high
    precision."""
    recommendation: Recommendation
    """What ``export`` without a rule exports, and what the verdict says (its PR curve is
    drawn)."""
    importances: dict[str, dict[str, float]]
    """Per objective, each parameter's importance (Optuna's PED-ANOVA); empty if too few trials."""
    trial_states: dict[str, int]
    training_seconds: float
    baselines: dict[str, TrialRecord] = field(default_factory=dict)
    """The study's baselines by name (empty until its first batch has run)."""
    settled: dict[str, Any] | None = None
    """Why the study ended before its budget (``stop = "settled"``: its trials, budget,
    remaining trials and their risk of changing the answer); ``None`` when it did not."""

    def hypervolume(self, split: Split) -> float:
        """Area under the front's staircase on ``split`` (reference point recall 0, precision 0)."""
        return front_hypervolume(self.front, split)

    def baseline_hypervolume(
        self, name: str, split: Split, *, chosen_on_validation: bool = False
    ) -> float:
        """A baseline's whole curve (and default point) on ``split``: threshold tuning alone.

        With ``chosen_on_validation``, only the points of the baseline's own validation front,
        read on ``split``: chosen the way the sweeper's front is chosen, so on test the two
        compare fairly (a whole test curve is every threshold, including those a validation
        split would not have picked)."""
        record = self.baselines[name]
        if chosen_on_validation:
            return front_hypervolume(validation_front([record]), split)
        return front_hypervolume(operating_points([record]), split)

    @property
    def diverged(self) -> tuple[int, ...]:
        """Numbers of the trials whose training diverged (non-finite scores): off the front."""
        return tuple(r.number for r in self.records if r.diverged)

    @property
    def cut_short(self) -> tuple[int, ...]:
        """Numbers of the trials whose kept weights are their last epoch's: early stopping saw
        the validation loss still falling when the epoch budget ended them (only known with
        early stopping on; ``()`` without it)."""
        return trials_cut_short(self.records, self.info)

    def front_points(self) -> list[FrontPoint]:
        """The front as plain rows (what the table, the JSON and a DataFrame show)."""
        return [FrontPoint.of(point) for point in self.front]

    def baseline_summaries(self) -> list[BaselineSummary]:
        """Each baseline's weights, curve hypervolumes and figures at its default decision."""
        return [
            BaselineSummary(
                name=name,
                weights=record.weights,
                hypervolume={split: self.baseline_hypervolume(name, split) for split in Split},
                default_decision={split: record.evaluation(split) for split in Split},
                calibration=record.calibration,
            )
            for name, record in self.baselines.items()
        ]

    def front_trials(self) -> list[TrialRecord]:
        """The distinct trials on the front, in front order: the baselines' records among them
        (``record.baseline`` set), which the table's title counts apart from the searched."""
        return list({id(p.record): p.record for p in self.front}.values())

    @property
    def chosen(self) -> OperatingPoint:
        """The recommended point."""
        return self.recommendation.point

    def __str__(self) -> str:
        """The terminal table (:func:`~sweeper.report.format_table`): ``print(report)`` in a
        script shows what ``sweeper report`` prints, not the dataclass's fields."""
        from sweeper.report._table import format_table

        return format_table(self)

    @property
    def verdict(self) -> Verdict:
        """Do the searched weights beat every baseline? (:class:`Verdict`)"""
        best = self.recommendation.best_baseline
        return Verdict(
            self.recommendation,
            front_hypervolume=self.hypervolume(Split.TEST),
            baseline_hypervolume=None if best is None
            # The best baseline's point is a baseline's (cast: no runtime change).
            else self.baseline_hypervolume(cast(str, best.baseline), Split.TEST),
            subject=None if self.info.classes is None
            else f"the positive class {self.info.labels[0]!r}",
            settled=self.settled,
        )

    def label_frequencies(self) -> list[float]:
        """Training frequency of each label (multi-label; binary: of the positive class) or
        class share (multi-class)."""
        return [count / self.info.n_train for count in self.info.train_counts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study_name,
            "task": self.info.task.value,
            **({} if self.info.classes is None else {
                "positive_label": self.info.positive_label,
                "negative_label": self.info.negative_label,
            }),
            "average": self.info.average,
            "labels": list(self.info.labels),
            "train_counts": list(self.info.train_counts),
            "n_train": self.info.n_train,
            "n_validation": self.info.n_validation,
            "n_test": self.info.n_test,
            "data_fingerprint": self.info.fingerprint,
            "data_source": self.info.source,
            "unevaluable": list(self.info.unevaluable),
            "trial_states": self.trial_states,
            "diverged_trials": list(self.diverged),
            "cut_short_trials": list(self.cut_short),
            "epochs_budget": self.info.model.get("epochs"),
            "folds": self.info.folds,
            "feasible_trials": sum(r.feasible for r in self.records),
            "training_seconds": self.training_seconds,
            "hypervolume": {split.value: self.hypervolume(split) for split in Split},
            "baselines": {
                summary.name: summary.to_dict() for summary in self.baseline_summaries()
            },
            "verdict": self.verdict.to_dict(),
            "recommended": FrontPoint.of(self.chosen).to_dict(),
            "importances": self.importances,
            "front": [point.to_dict() for point in self.front_points()],
        }



def _importances(study: optuna.Study, n_complete: int) -> dict[str, dict[str, float]]:
    if n_complete < 4:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # It reminds that it favours low targets (the targets below are negated for that), and
        # warns of few trials per region: with few trials the importances are simply rough.
        warnings.simplefilter("ignore", UserWarning)
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        result = {}
        for index, name in enumerate(METRIC_NAMES):
            # A def: mypy cannot type a lambda with a default argument here.
            def target(trial: optuna.trial.FrozenTrial, i: int = index) -> float:
                return -trial.values[i]

            try:
                scores = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, target=target
                )
            except (ValueError, RuntimeError):
                return {}  # e.g. every parameter constant so far
            result[name] = {param: float(value) for param, value in scores.items()}
    return result



def build_report(
    study: optuna.Study,
    info: StudyInfo,
    *,
    constraints: Constraints = Constraints(),
) -> FrontReport:
    """Gather the complete trials, their front and the baselines; an error if none finished.

    ``constraints`` are the study's: the front keeps the points that meet them on validation
    (all points, if none does).
    """
    records = finished_records(study)
    baselines = load_baselines(study)
    front = tuple(validation_front(
        [*records, *baselines.values()],
        min_precision=constraints.min_precision, min_recall=constraints.min_recall,
    ))
    states = Counter(trial.state.name for trial in study.get_trials(deepcopy=False))
    return FrontReport(
        study_name=study.study_name,
        info=info,
        records=tuple(records),
        front=front,
        recommendation=recommend(
            records, list(baselines.values()), constraints=constraints,
            positives=info.selection_positives(),
        ),
        importances=_importances(study, len(records)),
        trial_states=dict(sorted(states.items())),
        training_seconds=float(sum(r.train_seconds for r in records)),
        baselines=baselines,
        settled=study.user_attrs.get(SETTLED_ATTR),
    )
