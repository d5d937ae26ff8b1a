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
    """One trial's choices. ``threshold`` is ``None`` for multi-class (decisions by argmax).

    The family's own parameter is ``exponent`` (inverse frequency) or ``beta`` (effective
    number); the other one is ``None``.
    """

    exponent: float | None
    normalisation: str
    threshold: float | None
    family: str = "inverse_frequency"
    beta: float | None = None

    def weights(self, counts: np.ndarray, n_samples: int, task: Task) -> np.ndarray:
        return weight_vector(
            counts=counts,
            n_samples=n_samples,
            task=task,
            normalisation=self.normalisation,
            family=self.family,
            exponent=self.exponent,
            beta=self.beta,
        )

    def family_summary(self) -> str:
        """Short text for tables and hovers: ``inv^0.82`` or ``eff b=0.9990``."""
        if self.family == "effective_number":
            return f"eff b={self.beta:.4f}"
        return f"inv^{self.exponent:.2f}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(**data)


def suggest_candidate(trial: optuna.Trial, search: SearchSection, task: Task) -> Candidate:
    """Ask the trial's sampler for one candidate.

    The family is a parameter only when the study file offers more than one. ``beta`` is searched
    as ``one_minus_beta`` on a log scale, since what matters is how close it is to 1.
    """
    families = search.families
    family = (
        families[0] if len(families) == 1
        else trial.suggest_categorical("family", list(families))
    )
    exponent = beta = None
    if family == "inverse_frequency":
        exponent = trial.suggest_float("exponent", *search.exponent)
    else:
        low, high = 1.0 - search.beta[1], 1.0 - search.beta[0]
        beta = 1.0 - trial.suggest_float("one_minus_beta", low, high, log=True)
    normalisation = trial.suggest_categorical("normalisation", list(search.normalisations))
    threshold = None
    if task == "multilabel":
        threshold = trial.suggest_float("threshold", *search.threshold)
    return Candidate(
        exponent=exponent, normalisation=normalisation, threshold=threshold, family=family,
        beta=beta,
    )
