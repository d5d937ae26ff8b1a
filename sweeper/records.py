"""What the sweeper stores per trial and per study, and how it is read back.

A trial's record lives in its Optuna user attributes (JSON), so it is visible in the dashboard
and needs no table of ours. :class:`TrialRecord` and :class:`StudyInfo` are the one place that
writes and reads those attributes: the runner writes them, report and export read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial

from sweeper.metrics import Evaluation, PRCurve
from sweeper.space import Candidate
from sweeper.weights import Task

__all__ = ["StudyInfo", "TrialRecord"]

STUDY_ATTR = "sweeper"


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyInfo:
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
        )


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial: its choices, weight vector and figures on validation and test."""

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

    def user_attrs(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.to_dict(),
            "weights": list(self.weights),
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
            },
        }

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord:
        attrs = trial.user_attrs
        curves = attrs.get("curves")
        return cls(
            number=trial.number,
            candidate=Candidate.from_dict(attrs["candidate"]),
            weights=tuple(attrs["weights"]),
            validation=Evaluation.from_dict(attrs["validation"]),
            test=Evaluation.from_dict(attrs["test"]),
            validation_curve=None if curves is None else PRCurve(**{
                key: tuple(value) for key, value in curves["validation"].items()
            }),
            test_curve=None if curves is None else PRCurve(**{
                key: tuple(value) for key, value in curves["test"].items()
            }),
            diverged=attrs["training"]["diverged"],
            train_seconds=attrs["training"]["seconds"],
            packed_members=attrs["training"]["packed_members"],
            feasible=all(value <= 0 for value in trial.constraints.values()),
        )
