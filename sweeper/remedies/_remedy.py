"""What a remedy is: the contract every module of :mod:`sweeper.remedies` fulfils.

A remedy says how a trial's weight vector trains. One :class:`Remedy` object owns everything
the sweeper knows of it, so adding one is one module and one registration line:

- its searched parameters and their ranges (:attr:`Remedy.searched`): the ``[search]`` options
  of :class:`~sweeper.config.SearchConfig` and the Optuna parameters are built from them;
- the arrays its loss reads per member (:meth:`Remedy.member_parameters`, e.g. margins
  from the class counts), with neutral values for a member of another remedy in a packed batch;
- its packed per-member loss (:meth:`Remedy.member_losses`, in ``keras.ops``), and the one Keras
  loss of a single member (:meth:`Remedy.keras_loss`) that a user's training step and
  production training from an export both use; the tests hold the two equal;
- its schedule (:attr:`Remedy.defers`: deferred re-weighting's switch and end);
- its baselines (:meth:`Remedy.baselines`);
- its text in tables (:meth:`Remedy.summary`, :attr:`Remedy.title`), its export fragment
  (:meth:`Remedy.export`) and that fragment's JSON schema (:meth:`Remedy.export_schema`).

This module and the registry import NumPy only: the configuration reads the registry, and Keras
is imported inside the loss methods, when training has imported it anyway.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sweeper.config._vocabulary import Task

if TYPE_CHECKING:
    import keras
    import optuna

__all__ = [
    "SWITCH_FRACTION",
    "Baseline",
    "LossContext",
    "Remedy",
    "Searched",
    "membership",
    "switch_epoch",
    "training_log_prior",
]

ALL_TASKS = (Task.BINARY, Task.MULTILABEL, Task.MULTICLASS)
SIGMOID_TASKS = (Task.BINARY, Task.MULTILABEL)


@dataclass(frozen=True)
class Searched:
    """One searched parameter of a remedy: its ``[search]`` key (also its Optuna parameter and
    its name in records and exports), the default range, the bounds any range must keep, and
    the help text of the option.

    ``log``: searched on a log scale (then ``low`` must be above 0)."""

    key: str
    default: tuple[float, float]
    low: float
    high: float
    help: str
    log: bool = False
    open_low: bool = False
    open_high: bool = False

    @property
    def bounds_text(self) -> str:
        """``[low, high] with 0 <= low <= high < 1``: what the option's message says."""
        below = "<" if self.open_low else "<="
        above = "<" if self.open_high else "<="
        return f"[low, high] with {self.low:g} {below} low <= high {above} {self.high:g}"


SWITCH_FRACTION = Searched(
    "switch_fraction", (0.5, 0.9), 0.0, 1.0,
    "deferred re-weighting (every remedy that defers): the share of the epochs (with \"auto\" "
    "epochs, of the planned length of about 1,500 steps) trained unweighted before the weights",
    open_high=True,
)
"""Deferred re-weighting's switch (DRW, Cao et al. 2019), shared by every remedy that defers
its weights (:attr:`Remedy.defers`)."""


def membership(remedy: str) -> str:
    """The name of a remedy's membership array in a packed batch's loss parameters (1 for the
    members it trains, 0 for the others; see :mod:`sweeper.training`)."""
    return f"remedy.{remedy}"


def switch_epoch(fraction: float, epochs: int) -> int:
    """Deferred re-weighting's switch: the 0-based epoch from which the weights apply,
    ``floor(fraction * epochs)``, at most the last epoch (so the weights always train)."""
    return int(min(max(epochs - 1, 0), math.floor(fraction * epochs)))


def training_log_prior(counts: np.ndarray, n_samples: int, task: Task) -> np.ndarray:
    """Each output's log prior in training: per class ``log(n_c / n)`` (multi-class); per
    label the log prior odds ``log(pos / (n - pos))`` (binary and multi-label: a sigmoid output
    is a two-class softmax of logits ``(0, z)``, whose adjustment by the log priors of both
    classes is this)."""
    counts = np.asarray(counts, dtype=np.float64).reshape(-1)
    if Task(task) is Task.MULTICLASS:
        return np.log(counts / n_samples)
    return np.log(counts / (n_samples - counts))


@dataclass(frozen=True)
class LossContext:
    """What a remedy's loss arrays may be computed from besides its own values: the training
    split's counts (positives per label, or rows per class), its rows, and the task."""

    counts: np.ndarray
    n_samples: int
    task: Task


@dataclass(frozen=True)
class Baseline:
    """A rule of thumb a remedy brings to every study of its tasks: its remedy values and the
    weights it trains with, as :class:`~sweeper.search.Candidate` fields over the unweighted
    baseline's (``{}``: unweighted; ``{"family": "sklearn_balanced"}``: scikit-learn's rule)."""

    name: str
    title: str
    values: Mapping[str, float]
    weights: Mapping[str, Any] = field(default_factory=dict)


class Remedy(abc.ABC):
    """One remedy (see the module docstring). Subclasses set :attr:`name`, :attr:`title` and
    what they search, and write :meth:`member_losses`.

    **The loss contract**, held by the tests for every registered remedy: for the same labels,
    logits, weights and values, ``keras_loss(...)(y, logits[:, m])`` equals the mean over rows
    of ``member_losses(...)[:, m]``, so a member trained packed and a model compiled with the
    remedy's Keras loss minimise the same function.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    """How tables and the verdict name it: ``focal loss``."""
    tasks: ClassVar[tuple[Task, ...]] = ALL_TASKS
    own_searched: ClassVar[tuple[Searched, ...]] = ()
    """The parameters it searches of its own (a deferring remedy adds the switch)."""
    defers: ClassVar[bool] = False
    """Whether its weights follow deferred re-weighting's schedule: unweighted before the
    epoch ``switch_epoch(switch_fraction, epochs)``, weighted from then on, ``epochs`` (the
    study's deferral length) at most."""
    description: ClassVar[str] = ""
    """What the export schema says of it."""

    @property
    def searched(self) -> tuple[Searched, ...]:
        """Every parameter it searches: its own, and the switch when it defers."""
        return (*self.own_searched, *((SWITCH_FRACTION,) if self.defers else ()))

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(searched.key for searched in self.searched)

    def suggest(self, trial: optuna.Trial, search: Any) -> dict[str, float]:
        """Its values for this trial, drawn from the study's ``[search]`` ranges."""
        return {s.key: trial.suggest_float(s.key, *getattr(search, s.key), log=s.log)
                for s in self.searched}

    def neutral_values(self) -> dict[str, float]:
        """Values for a member of another remedy, which only need to keep this remedy's loss
        finite (a packed batch computes it for every member and masks it): each range's low
        end."""
        return {s.key: float(s.default[0]) for s in self.searched}

    def member_parameters(self, values: Mapping[str, float],
                          context: LossContext) -> dict[str, np.ndarray]:
        """The arrays :meth:`member_losses` reads for one member (without the member axis):
        by default each value of its own searched parameters, as a scalar."""
        return {s.key: np.asarray(values[s.key], dtype=np.float64) for s in self.own_searched}

    def schedule(self, values: Mapping[str, float], epochs: int) -> tuple[int, int]:
        """``(switch, until)`` epochs of a member: ``(0, 0)`` (weighted from the first epoch,
        for the trainer's epochs) unless it defers."""
        if not self.defers:
            return 0, 0
        return switch_epoch(values["switch_fraction"], epochs), epochs

    @abc.abstractmethod
    def member_losses(self, task: Task, targets: Any, logits: Any, weights: Any,
                      parameters: Mapping[str, Any]) -> Any:
        """``(batch, members)``: each row's loss under each member's weights and parameters.

        ``logits`` ``(batch, members, outputs)`` float32; ``targets`` ``(batch, 1, labels)``
        0/1 floats (sigmoid tasks) or ``(batch, classes)`` one-hot (multi-class);
        ``weights`` ``(members, 2, labels)`` (positives', negatives') or ``(members, K, K)``
        (the cost-weight matrix); ``parameters``: :meth:`member_parameters`' arrays with a
        leading member axis."""

    def keras_loss(self, task: Task, weights: np.ndarray,
                   parameters: Mapping[str, np.ndarray]) -> keras.losses.Loss:
        """The Keras loss of one member (``weights`` and ``parameters`` without the member
        axis) for a model with ``(batch, outputs)`` logits: by default
        :class:`~sweeper.remedies.RemedyLoss`, this remedy's :meth:`member_losses` of one
        member, serialisable."""
        from sweeper.remedies._losses import RemedyLoss

        return RemedyLoss(task=Task(task).value, remedy=self.name, weights=weights,
                          parameters=parameters)

    def baselines(self, task: Task) -> tuple[Baseline, ...]:
        """The rules of thumb it adds to every study of ``task`` (none by default)."""
        return ()

    def summary(self, values: Mapping[str, float]) -> str:
        """Short text appended to the weight family's in tables (empty: none)."""
        return ""

    def export(self, values: Mapping[str, float], context: LossContext, *,
               epochs: int | None) -> dict[str, Any]:
        """The export's ``remedy`` object: its name and values, and the schedule's
        ``switch_epoch`` when it defers (``None`` when the study's epochs were not a number)."""
        document: dict[str, Any] = {"name": self.name, **values}
        if self.defers:
            document["switch_epoch"] = (None if epochs is None
                                        else switch_epoch(values["switch_fraction"], epochs))
        return document

    def export_parameters(self, document: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The arrays :meth:`keras_loss` takes, from an export's ``remedy`` object (what
        :meth:`export` wrote): by default its own searched values."""
        return {s.key: np.asarray(float(document[s.key])) for s in self.own_searched}

    def export_schema(self) -> dict[str, Any]:
        """The JSON schema of its ``remedy`` object in an export."""
        properties: dict[str, Any] = {"name": {"const": self.name}}
        for s in self.searched:
            properties[s.key] = {"type": "number", "description": s.help,
                                 "exclusiveMinimum" if s.open_low else "minimum": s.low,
                                 "exclusiveMaximum" if s.open_high else "maximum": s.high}
        if self.defers:
            properties["switch_epoch"] = {
                "type": ["integer", "null"], "minimum": 0,
                "description": "the 0-based epoch from which the weights apply, "
                               "floor(switch_fraction * the model's epochs)."}
        return {"type": "object", "description": self.description,
                "required": list(properties),
                "additionalProperties": False, "properties": properties}
