"""The remedy registry: how a trial's weight vector is used in training (pure NumPy).

Each :class:`Remedy` is one entry: its searched parameter (:meth:`Remedy.suggest`), the loss
parameters it gives the trainer beside ``weights`` (:meth:`Remedy.loss_parameters`), its short
text for tables (:meth:`Remedy.summary`) and what an export writes of it
(:meth:`Remedy.export`). Adding a remedy is one entry here (and its option in
:class:`~sweeper.config.SearchConfig`, and its tests).

- ``weights``: the weight vector from the first epoch (every study before remedies).
- ``deferred`` (deferred re-weighting, DRW, Cao et al. 2019): unweighted for the first
  ``switch_epoch(switch_fraction, epochs)`` epochs, weighted from then on, ``epochs`` (the
  study's deferral length) at most: the schedule is a share of that length, so its weighted
  phase ends with it (early stopping may end it sooner), not at an early-stopping cap.
- ``focal`` (Lin et al. 2017): the focal loss with exponent ``gamma``, the weights as alpha.
- ``logit_adjusted`` (Menon et al. 2021): the loss of ``logits + tau_train * log-prior``
  during training (the log prior of each class, or each label's log prior odds); balanced
  softmax (Ren et al. 2020) is ``tau_train = 1`` with no weights. The post-hoc adjustment
  (multi-class ``tau``) or threshold is still searched on top.

Every member of a packed batch gets every loss parameter (:data:`NEUTRAL`: a remedy's neutral
value turns it off), so one batch may mix remedies.
"""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sweeper.config import Task

if TYPE_CHECKING:
    import optuna

    from sweeper.config import SearchConfig
    from sweeper.search._space import Candidate

__all__ = [
    "NEUTRAL",
    "REMEDY_REGISTRY",
    "Remedy",
    "switch_epoch",
    "training_log_prior",
]

NEUTRAL = {"gamma": 0.0, "tau_train": 0.0, "switch": 0.0, "until": 0.0}
"""The loss parameters of a member without the remedy (plain cross-entropy from epoch 0,
trained for the trainer's epochs: ``until`` 0)."""


def switch_epoch(fraction: float, epochs: int) -> int:
    """Deferred re-weighting's switch: the 0-based epoch from which the weights apply,
    ``floor(fraction * epochs)``, at most the last epoch (so the weights always train)."""
    return int(min(max(epochs - 1, 0), math.floor(fraction * epochs)))


def training_log_prior(counts: np.ndarray, n_samples: int, task: Task) -> np.ndarray:
    """What logit-adjusted training adds to the logits (times ``tau_train``): per class
    ``log(n_c / n)`` (multi-class); per label the log prior odds ``log(pos / (n - pos))``
    (binary and multi-label: a sigmoid output is a two-class softmax of logits ``(0, z)``,
    whose adjustment by the log priors of both classes is this)."""
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    if Task(task) is Task.MULTICLASS:
        return np.log(counts / n_samples)
    return np.log(counts / (n_samples - counts))


class Remedy(abc.ABC):
    """One entry of the registry (see the module docstring). ``key`` is its ``[search]``
    range and Optuna parameter (``None``: it searches nothing of its own)."""

    name: ClassVar[str]
    key: ClassVar[str | None] = None
    parameters: ClassVar[tuple[str, ...]] = ()
    """The loss parameters beside ``weights`` a batch needs when a member uses the remedy."""

    def suggest(self, trial: optuna.Trial, search: SearchConfig) -> dict[str, float]:
        """The remedy's parameter for this trial, as a :class:`Candidate` field."""
        if self.key is None:
            return {}
        return {self.key: trial.suggest_float(self.key, *getattr(search, self.key))}

    def loss_parameters(self, candidate: Candidate, *, epochs: int) -> dict[str, float]:
        """``gamma``, ``tau_train`` and ``switch`` of the trainer (see
        :data:`sweeper.training.REMEDY_PARAMETERS`), the neutral ones included."""
        return dict(NEUTRAL)

    @abc.abstractmethod
    def summary(self, candidate: Candidate) -> str:
        """Short text appended to the family's in tables (empty: none)."""

    def export(self, candidate: Candidate, *, epochs: int | None) -> dict[str, Any]:
        """What the exported document says of the remedy (``remedy`` and its parameters)."""
        return {"name": self.name}


class Weights(Remedy):
    name = "weights"

    def summary(self, candidate: Candidate) -> str:
        return ""


class Deferred(Remedy):
    name = "deferred"
    key = "switch_fraction"
    parameters = ("switch", "until")

    def loss_parameters(self, candidate: Candidate, *, epochs: int) -> dict[str, float]:
        assert candidate.switch_fraction is not None
        return {**NEUTRAL, "switch": float(switch_epoch(candidate.switch_fraction, epochs)),
                "until": float(epochs)}

    def summary(self, candidate: Candidate) -> str:
        return f"deferred from {candidate.switch_fraction:.0%}"

    def export(self, candidate: Candidate, *, epochs: int | None) -> dict[str, Any]:
        assert candidate.switch_fraction is not None
        return {"name": self.name, "switch_fraction": candidate.switch_fraction,
                "switch_epoch": None if epochs is None
                else switch_epoch(candidate.switch_fraction, epochs)}


class Focal(Remedy):
    name = "focal"
    key = "gamma"
    parameters = ("gamma",)

    def loss_parameters(self, candidate: Candidate, *, epochs: int) -> dict[str, float]:
        assert candidate.gamma is not None
        return {**NEUTRAL, "gamma": float(candidate.gamma)}

    def summary(self, candidate: Candidate) -> str:
        return f"focal g={candidate.gamma:.2f}"

    def export(self, candidate: Candidate, *, epochs: int | None) -> dict[str, Any]:
        return {"name": self.name, "gamma": candidate.gamma}


class LogitAdjusted(Remedy):
    name = "logit_adjusted"
    key = "tau_train"
    parameters = ("tau_train", "log_prior")

    def loss_parameters(self, candidate: Candidate, *, epochs: int) -> dict[str, float]:
        assert candidate.tau_train is not None
        return {**NEUTRAL, "tau_train": float(candidate.tau_train)}

    def summary(self, candidate: Candidate) -> str:
        return f"logit-adjusted t={candidate.tau_train:.2f}"

    def export(self, candidate: Candidate, *, epochs: int | None) -> dict[str, Any]:
        return {"name": self.name, "tau_train": candidate.tau_train}


REMEDY_REGISTRY: dict[str, Remedy] = {
    remedy.name: remedy for remedy in (Weights(), Deferred(), Focal(), LogitAdjusted())
}
"""The remedies by name; :data:`sweeper.config.REMEDIES` lists the same names."""
