"""What the sweeper stores per trial and per study, and how it is read back.

A trial's record lives in its Optuna user attributes (JSON), so it is visible in the dashboard
and needs no table of ours. :class:`TrialRecord` and :class:`StudyInfo` are the one place that
writes and reads those attributes: the runner writes them, report and export read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial

from sweeper.config import Split, Task
from sweeper.errors import StorageError
from sweeper.evaluation import (
    Calibration,
    Evaluation,
    PRCurve,
    decode_resampled,
    encode_resampled,
)
from sweeper.search import Candidate

__all__ = [
    "RECORD_ATTR",
    "SCHEMA_VERSION",
    "STUDY_ATTR",
    "ResampledF1",
    "StudyInfo",
    "TrialRecord",
    "UnreadableRecordError",
    "trials_cut_short",
]

STUDY_ATTR = "sweeper"
RECORD_ATTR = "record"
"""The trial's user attribute holding its whole record: one storage write per trial (eight
separate attributes cost a commit each, most of the loop's time besides the sampler)."""

SCHEMA_VERSION = 2
"""The version of the stored records this sweeper writes (``schema_version`` in each study's
and each trial's record). Version 1, sweeper 0.1's records, had no version field; they are
read as they are (every field added since has a default). A record of a higher version, written
by a newer sweeper sharing the database, is refused by name rather than misread.

Fields added with a default need no new version: a trial's ``calibration`` is absent from
records written before it was stored, which read it as ``None`` (reported as ``-`` /
``null``)."""


class UnreadableRecordError(StorageError):
    """A stored record this version cannot read (written by a newer sweeper)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, key=None)


def _schema_version(data: dict[str, Any], what: str) -> int:
    """The record's schema version (1 when absent: sweeper 0.1), refused if newer than ours."""
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise UnreadableRecordError(
            f"{what} was written by a newer sweeper (record schema {version}; this sweeper "
            f"reads up to {SCHEMA_VERSION}): upgrade the sweeper to read it."
        )
    return version


@dataclass(frozen=True)
class StudyInfo:
    """Facts about a study's data and setup, stored once when the study is created."""

    task: Task
    labels: tuple[str, ...]
    average: str
    fingerprint: str
    source: str
    train_counts: tuple[int, ...]
    n_features: int
    n_train: int
    n_validation: int
    n_test: int
    seed: int
    model: dict[str, Any]
    version: str
    unevaluable: tuple[str, ...] = ()
    """Labels (classes) without a positive in validation or test: left out of macro averages."""
    validation_counts: tuple[int, ...] = ()
    """Positives per label (samples per class) in the validation split."""
    folds: int = 1
    """K of K-fold cross-validation (validation figures are out-of-fold); 1: one split."""
    scaling: dict[str, Any] | None = None
    """The features' standardisation (``mean``, ``scale`` per feature); ``None``: raw."""
    classes: tuple[Any, ...] | None = None
    """Binary: the user's two class values, ``(negative, positive)`` (strings, integers or
    booleans); ``labels`` is then the positive class's name. ``None`` for the other tasks."""
    input_shape: tuple[int, ...] = ()
    """One sample's shape (``(steps, channels)``, ``(h, w, channels)``, ...); empty for flat
    features of ``n_features`` (what every study before input shapes had)."""
    input_dtype: str = "float32"
    """The features' dtype as held (``uint8`` pixels, ``int32`` token ids)."""

    @property
    def deferral_epochs(self) -> int:
        """The epochs of which a deferred remedy's switch is a share (the ``[model] epochs``
        of a study stored before it was recorded apart: what its trials trained with)."""
        return int(self.model.get("deferral_epochs") or self.model.get("epochs") or 1)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample's shape, flat features included: what a model factory receives."""
        return self.input_shape or (self.n_features,)

    @property
    def positive_label(self) -> Any:
        """Binary: the positive class's value (``None`` for the other tasks)."""
        return None if self.classes is None else self.classes[1]

    @property
    def negative_label(self) -> Any:
        """Binary: the negative class's value (``None`` for the other tasks)."""
        return None if self.classes is None else self.classes[0]

    def describe_task(self) -> str:
        """The task in words, for logs and reports: ``binary, positive label 'fraud'``,
        ``multilabel, 30 labels``, ``multiclass, 4 classes``."""
        if self.task is Task.BINARY:
            return f"binary, positive label {self.labels[0]!r}"
        return f"{self.task}, {len(self.labels)} {self.task.units}"

    def selection_positives(self) -> int | None:
        """How many validation positives a choice on validation rests on: all of them for a
        micro average; for a macro average the rarest evaluable class's count times the number
        of classes (the rarest class's figures move the average most). ``None`` if unknown."""
        counts = [c for c in self.validation_counts if c > 0]
        if not counts:
            return None
        return sum(counts) if self.average == "micro" else min(counts) * len(counts)

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task(self.task))

    def log_prior(self) -> np.ndarray:
        """Log of each class's training share: what logit adjustment subtracts (times tau)."""
        return np.log(np.asarray(self.train_counts, dtype=np.float64) / self.n_train)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "task": self.task.value,
            "labels": list(self.labels),
            "average": self.average,
            "fingerprint": self.fingerprint,
            "source": self.source,
            "train_counts": list(self.train_counts),
            "n_features": self.n_features,
            "n_train": self.n_train,
            "n_validation": self.n_validation,
            "n_test": self.n_test,
            "seed": self.seed,
            "model": self.model,
            "version": self.version,
            "unevaluable": list(self.unevaluable),
            "validation_counts": list(self.validation_counts),
            "folds": self.folds,
            "scaling": self.scaling,
            **({} if self.classes is None else {"classes": list(self.classes)}),
            **({} if not self.input_shape else {"input_shape": list(self.input_shape)}),
            **({} if self.input_dtype == "float32" else {"input_dtype": self.input_dtype}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyInfo:
        """Read a stored study record of any schema version up to :data:`SCHEMA_VERSION`."""
        _schema_version(data, "the study's record")
        return cls(
            task=data["task"],
            labels=tuple(data["labels"]),
            average=data["average"],
            fingerprint=data["fingerprint"],
            source=data["source"],
            train_counts=tuple(data["train_counts"]),
            n_features=data["n_features"],
            n_train=data["n_train"],
            n_validation=data["n_validation"],
            n_test=data["n_test"],
            seed=data["seed"],
            model=dict(data["model"]),
            version=data["version"],
            unevaluable=tuple(data.get("unevaluable", ())),
            validation_counts=tuple(data.get("validation_counts", ())),
            folds=int(data.get("folds", 1)),
            scaling=data.get("scaling"),
            classes=None if data.get("classes") is None else tuple(data["classes"]),
            input_shape=tuple(data.get("input_shape", ())),
            input_dtype=data.get("input_dtype", "float32"),
        )


@dataclass(frozen=True)
class ResampledF1:
    """A record's validation F1 at its best operating point (the one the recommendation would
    take of it: its own rule, or ``index`` on its curve), as measured and under each of the
    study's bootstrap resamples of the validation rows."""

    index: int | None
    f1: float
    values: np.ndarray = field(compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "f1": self.f1, "values": encode_resampled(self.values)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResampledF1:
        return cls(index=data["index"], f1=float(data["f1"]),
                   values=decode_resampled(data["values"]))


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial: its choices, weight vector and figures on validation and test.

    ``validation`` and ``test`` are the figures at the trial's own decision rule; the curves hold
    recall and precision at other thresholds (or taus) of the same trained model.
    """

    number: int
    candidate: Candidate
    weights: tuple[float, ...]
    validation: Evaluation
    test: Evaluation
    validation_curve: PRCurve | None
    test_curve: PRCurve | None
    diverged: bool
    train_seconds: float
    packed_members: int
    feasible: bool = True
    """Whether the trial meets the study's constraints (``min_precision``, ``min_recall``)."""
    thresholds: tuple[float, ...] | None = None
    """Per-label thresholds the ``per_label`` rule chose on the validation scores."""
    cost_matrix: tuple[tuple[float, ...], ...] | None = None
    """The study file's cost matrix, when the trial's class weighting used it."""
    baseline: str | None = None
    """The baseline's name (``unweighted``, ...) when this record is one, else ``None``."""
    epochs: int | None = None
    """The epochs its kept weights trained for (early stopping's best epoch + 1); ``None``:
    all of the model's epochs."""
    calibration: dict[Split, Calibration] | None = None
    """The Brier score and ECE of the model's probabilities per split
    (:mod:`sweeper.evaluation._calibration`): one per trained model, so every operating point
    of the trial (any threshold or tau) shares them; for multi-class, the unadjusted
    softmax's. ``None`` in a record written before they were stored (no schema bump: a new
    field with a default)."""
    resampled: ResampledF1 | None = None
    """Its validation F1 at its best operating point under each of the study's bootstrap
    resamples (:func:`~sweeper.evaluation.bootstrap_f1`): what the verdict's paired comparison
    reads. ``None`` in a record written before it was stored (the verdict then falls back to
    the unpaired rule)."""

    @property
    def label(self) -> str:
        """How tables name it: the trial's number, or the baseline's name."""
        return self.baseline if self.baseline is not None else str(self.number)

    def evaluation(self, split: Split) -> Evaluation:
        """Figures at the trial's own decision rule on ``split``."""
        return self.validation if Split(split) is Split.VALIDATION else self.test

    def calibration_on(self, split: Split) -> Calibration | None:
        """The model's calibration on ``split``; ``None`` for a record without it."""
        return None if self.calibration is None else self.calibration.get(Split(split))

    def curve(self, split: Split) -> PRCurve | None:
        """The stored curve on ``split`` (``None`` for a record without curves)."""
        return self.validation_curve if Split(split) is Split.VALIDATION else self.test_curve

    @property
    def threshold(self) -> float | tuple[float, ...] | None:
        """The trial's own decision threshold: global, one per label, or ``None`` (argmax)."""
        return self.thresholds if self.thresholds is not None else self.candidate.threshold

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON (stored whole as the trial's :data:`RECORD_ATTR`)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "candidate": self.candidate.to_dict(),
            "weights": list(self.weights),
            "thresholds": None if self.thresholds is None else list(self.thresholds),
            "cost_matrix": None if self.cost_matrix is None else [
                list(row) for row in self.cost_matrix
            ],
            "validation": self.validation.to_dict(),
            "test": self.test.to_dict(),
            "curves": None
            if self.validation_curve is None or self.test_curve is None
            else {
                "validation": self.validation_curve.to_dict(),
                "test": self.test_curve.to_dict(),
            },
            "training": {
                "diverged": self.diverged,
                "seconds": self.train_seconds,
                "packed_members": self.packed_members,
                "epochs": self.epochs,
            },
            "calibration": None if self.calibration is None else {
                split.value: figures.to_dict() for split, figures in self.calibration.items()
            },
            **({} if self.resampled is None else {"resampled": self.resampled.to_dict()}),
        }

    @classmethod
    def from_attrs(cls, number: int, attrs: dict[str, Any], feasible: bool = True) -> TrialRecord:
        """Read back what :meth:`to_dict` wrote, in any schema version up to
        :data:`SCHEMA_VERSION`."""
        _schema_version(attrs, f"trial {number}'s record" if number >= 0 else "a baseline's record")
        curves = attrs.get("curves")
        thresholds = attrs.get("thresholds")
        cost_matrix = attrs.get("cost_matrix")
        calibration = attrs.get("calibration")  # absent from records before calibration
        return cls(
            number=number,
            candidate=Candidate.from_dict(attrs["candidate"]),
            weights=tuple(attrs["weights"]),
            validation=Evaluation.from_dict(attrs["validation"]),
            test=Evaluation.from_dict(attrs["test"]),
            validation_curve=None if curves is None else PRCurve.from_dict(curves["validation"]),
            test_curve=None if curves is None else PRCurve.from_dict(curves["test"]),
            diverged=attrs["training"]["diverged"],
            train_seconds=attrs["training"]["seconds"],
            packed_members=attrs["training"]["packed_members"],
            epochs=attrs["training"].get("epochs"),
            feasible=feasible,
            thresholds=None if thresholds is None else tuple(thresholds),
            cost_matrix=None if cost_matrix is None else tuple(tuple(r) for r in cost_matrix),
            calibration=None if calibration is None else {
                Split(split): Calibration.from_dict(figures)
                for split, figures in calibration.items()
            },
            resampled=None if attrs.get("resampled") is None
            else ResampledF1.from_dict(attrs["resampled"]),
        )

    @staticmethod
    def stored_in(trial: FrozenTrial) -> dict[str, Any] | None:
        """The record a trial stores: its :data:`RECORD_ATTR`, or (studies of sweeper 0.1
        before one-write records) its separate attributes; ``None`` when it has none."""
        attrs = trial.user_attrs
        if isinstance(attrs.get(RECORD_ATTR), dict):
            return attrs[RECORD_ATTR]
        return attrs if "candidate" in attrs else None

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord:
        feasible = all(value <= 0 for value in trial.constraints.values())
        stored = cls.stored_in(trial)
        if stored is None:
            raise ValueError(f"trial {trial.number} holds no sweeper record.")
        return cls.from_attrs(trial.number, stored, feasible)


def trials_cut_short(records: Sequence[TrialRecord], info: StudyInfo) -> tuple[int, ...]:
    """Numbers of the trials whose kept weights are their last epoch's: early stopping saw the
    validation loss still falling when ``[model] epochs`` ended them, so the epoch budget, not
    the data, decided how far they trained. Only known with the packed trainer's early stopping
    (``patience``): a training step of the user's own (``[model] fit``) stops as it likes."""
    budget, patience = info.model.get("epochs"), info.model.get("patience", 0)
    if not budget or not patience or info.model.get("fit"):
        return ()
    return tuple(record.number for record in records
                 if record.epochs is not None and record.epochs >= budget
                 and not record.diverged)
