"""The search space: what the sampler chooses per trial, and the weight vector it implies.

A :class:`Candidate` is one point of the space (weight family and its parameters, normalisation,
decision threshold). It is what a trial's Optuna parameters mean, and what an export writes out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import optuna

from sweeper.studyfile import SearchSection
from sweeper.weights import Task, weight_vector

__all__ = ["Candidate", "suggest_candidate"]


@dataclass(frozen=True)
class Candidate:
    """One trial's choices. ``threshold`` is ``None`` for multi-class (decisions by argmax)."""

    exponent: float
    normalisation: str
    threshold: float | None
    family: str = "inverse_frequency"

    def weights(self, counts: np.ndarray, n_samples: int, task: Task) -> np.ndarray:
        return weight_vector(
            counts=counts,
            n_samples=n_samples,
            task=task,
            exponent=self.exponent,
            normalisation=self.normalisation,
            family=self.family,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(**data)


def suggest_candidate(trial: optuna.Trial, search: SearchSection, task: Task) -> Candidate:
    """Ask the trial's sampler for one candidate."""
    exponent = trial.suggest_float("exponent", *search.exponent)
    normalisation = trial.suggest_categorical("normalisation", list(search.normalisations))
    threshold = None
    if task == "multilabel":
        threshold = trial.suggest_float("threshold", *search.threshold)
    return Candidate(exponent=exponent, normalisation=normalisation, threshold=threshold)
