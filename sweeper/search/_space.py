"""The search space: what the sampler chooses per trial, and the weights and decision it implies.

A :class:`Candidate` is one point of the space: the weight family and its parameter, per-bucket
(or per-label) multipliers, the normalisation, and the decision rule (multi-label: a global
threshold, or per-label thresholds from a searched F-beta; multi-class: how rows are weighted
and the logit-adjustment strength tau). It is what a trial's Optuna parameters mean, and what
an export writes out.

:func:`check_search` compares the study file's ``[search]`` table with the data (the number of
labels, the task) before any study is created, so a bad value costs no training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import optuna

from sweeper.config import MULTICLASS_KEYS, MULTILABEL_KEYS, SearchConfig, Task
from sweeper.remedies import REMEDIES, LossContext, membership, remedy_named
from sweeper.search._families import (
    FAMILY_REGISTRY,
    binary_weight_pair,
    weight_family,
    weight_vector,
)
from sweeper.search._weights import (
    frequency_buckets,
    multiclass_loss_weights,
    multilabel_loss_weights,
)

__all__ = [
    "MAX_PER_LABEL_MULTIPLIERS",
    "Candidate",
    "batch_loss_parameters",
    "check_search",
    "space_distributions",
    "suggest_candidate",
]

MAX_PER_LABEL_MULTIPLIERS = 12
"""Above this many labels, one searched multiplier per label is refused: use buckets."""


@dataclass(frozen=True)
class Candidate:
    """One trial's choices.

    ``family`` names an entry of :data:`~sweeper.search.FAMILY_REGISTRY`, which says what its
    parameter fields are: ``exponent`` (inverse frequency) or ``beta`` (effective number), the
    other ``None`` (both for scikit-learn's balanced rule, a baseline's). ``multipliers`` has
    one value per frequency bucket, rarest first (``multiplier_mode = "buckets"``), or one per
    label (``"per_label"``). Multi-label trials have ``threshold_rule`` ``"global"`` (with
    ``threshold``) or ``"per_label"`` (with ``fbeta``); multi-class trials have
    ``class_weighting`` and ``tau`` instead.

    ``remedy`` names how the weights train (:data:`sweeper.remedies.REMEDIES`), and
    ``remedy_values`` holds its searched values by key (``{"gamma": 2.0}`` for ``focal``;
    empty for plain ``weights``).
    """

    exponent: float | None
    normalisation: str
    threshold: float | None
    family: str = "inverse_frequency"
    beta: float | None = None
    multiplier_mode: str = "none"
    multipliers: tuple[float, ...] | None = None
    threshold_rule: str | None = None
    fbeta: float | None = None
    class_weighting: str | None = None
    tau: float | None = None
    remedy: str = "weights"
    remedy_values: Mapping[str, float] = field(default_factory=dict)
    weight_decay: float | None = None
    """The searched weight decay (``[search] weight_decay``); ``None``: not searched."""

    def label_multipliers(self, counts: np.ndarray) -> np.ndarray | None:
        """One multiplier per label: its bucket's, or its own; ``None`` without multipliers."""
        if self.multipliers is None:
            return None
        values = np.asarray(self.multipliers, dtype=np.float64)
        if self.multiplier_mode == "per_label":
            return values
        return values[frequency_buckets(counts, values.size)]

    def binary_pair(self, counts: np.ndarray, n_samples: int) -> np.ndarray:
        """A binary task's ``[neg_weight, pos_weight]`` (``counts``: the positives, one value);
        scikit-learn's balanced rule is ``[n / (2 neg), n / (2 pos)]``."""
        multiplier = None
        if self.multipliers is not None:
            multiplier = float(np.prod(self.multipliers))  # one label: one bucket, or its own
        return binary_weight_pair(
            positives=int(np.asarray(counts).reshape(-1)[0]), n_samples=n_samples,
            normalisation=self.normalisation, family=self.family, multiplier=multiplier,
            **weight_family(self.family).parameters_of(self),
        )

    def weights(self, counts: np.ndarray, n_samples: int, task: Task) -> np.ndarray:
        """The weight vector: ``pos_weight`` per label (binary: of the one positive class),
        or one weight per class."""
        if task == Task.BINARY:
            return self.binary_pair(counts, n_samples)[1:]
        return weight_vector(
            counts=counts,
            n_samples=n_samples,
            task=task,
            normalisation=self.normalisation,
            family=self.family,
            multipliers=self.label_multipliers(counts),
            **weight_family(self.family).parameters_of(self),
        )

    def loss_weights(
        self,
        counts: np.ndarray,
        n_samples: int,
        task: Task,
        cost_matrix: np.ndarray | None = None,
    ) -> np.ndarray:
        """What the loss takes (:mod:`sweeper.search`): ``(2, L)`` or ``(K, K)``; binary
        ``(2, 1)``: ``pos_weight`` then ``neg_weight`` (multi-label: the family's negative
        weights, 1 unless it sets them)."""
        if task == Task.BINARY:
            negative, positive = self.binary_pair(counts, n_samples)
            return multilabel_loss_weights(np.array([positive]), np.array([negative]))
        if task == Task.MULTILABEL:
            family = weight_family(self.family)
            negative = family.negative_weights(counts, n_samples, family.parameters_of(self))
            return multilabel_loss_weights(self.weights(counts, n_samples, task), negative)
        return multiclass_loss_weights(
            self.weights(counts, n_samples, task),
            self.class_weighting or "true_class",
            cost_matrix,
        )

    def family_summary(self) -> str:
        """Short text for tables and hovers: the family's (``inv^0.82``, ``eff b=0.9990``),
        ``x[0.5 1 2]``, the remedy after a comma (``inv^1.00, deferred from 75%``), then the
        weight decay where searched (``wd=3.2e-04``)."""
        text = weight_family(self.family).summary(self)
        if self.multipliers is not None:
            text += " x[" + " ".join(f"{m:.2g}" for m in self.multipliers) + "]"
        if self.class_weighting not in (None, "true_class"):
            text += f" ({self.class_weighting.replace('_', ' ')})"
        remedy = remedy_named(self.remedy).summary(self.remedy_values)
        text = f"{text}, {remedy}" if remedy else text
        return text if self.weight_decay is None else f"{text}, wd={self.weight_decay:.1e}"

    def decision_summary(self) -> str:
        """Short text of the trial's own decision rule: ``0.412``, ``per-label F2.0``,
        ``tau=0.80``."""
        if self.tau is not None:
            return f"tau={self.tau:.2f}"
        if self.threshold_rule == "per_label":
            return f"per-label F{self.fbeta:.2g}"
        if self.threshold is None:
            return "argmax"
        return f"{self.threshold:.3f}"

    def to_dict(self) -> dict[str, Any]:
        """As stored in a trial's record: the remedy's values as fields of their own (their
        keys are its Optuna parameters), and ``remedy`` only when it is not plain ``weights``
        (a record before remedies reads as ``weights``)."""
        data = asdict(self)
        if data["multipliers"] is not None:
            data["multipliers"] = list(data["multipliers"])
        values = data.pop("remedy_values")
        if self.remedy == "weights":
            del data["remedy"]
        if self.weight_decay is None:  # a record before the knob reads the same
            del data["weight_decay"]
        return {**data, **values}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        """A stored candidate; its remedy's values are the fields its remedy searches (a
        record also holds other remedies' fields as ``None``: they are not its own)."""
        known = {f.name for f in fields(cls)} - {"remedy_values"}
        values = {key: value for key, value in data.items() if key in known}
        if values.get("multipliers") is not None:
            values["multipliers"] = tuple(values["multipliers"])
        remedy = remedy_named(values.get("remedy", "weights"))
        values["remedy_values"] = {key: float(data[key]) for key in remedy.keys}
        return cls(**values)


def batch_loss_parameters(
    candidates: Sequence[Candidate],
    counts: np.ndarray,
    n_samples: int,
    task: Task,
    cost_matrix: np.ndarray | Sequence[Sequence[float]] | None = None,
    *,
    epochs: int,
    remedies: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """A batch's loss parameters, stacked along a leading member axis (the layout
    :mod:`sweeper.training` documents): ``weights``; for each remedy of ``remedies`` (a
    study's ``[search] remedies``) and of the candidates, its membership and its arrays
    (neutral for the members of another remedy), so a study's batches all pass the trainer
    the same names (one compiled epoch); deferred re-weighting's ``switch`` and ``until``
    (epochs, of ``epochs``) when one of them defers; each member's ``weight_decay`` when the
    study searches it (read by the trainer). A study of plain weights passes ``weights``
    alone."""
    matrix = None if cost_matrix is None else np.asarray(cost_matrix, dtype=np.float64)
    parameters = {"weights": np.stack([c.loss_weights(counts, n_samples, task, matrix)
                                       for c in candidates])}
    if any(c.weight_decay is not None for c in candidates):
        parameters["weight_decay"] = np.asarray([c.weight_decay or 0.0 for c in candidates])
    wanted = {*remedies, *(c.remedy for c in candidates)}
    names = [name for name in REMEDIES if name in wanted]
    if names == ["weights"]:
        return parameters
    context = LossContext(np.asarray(counts), n_samples, Task(task))
    for name in names:
        remedy = REMEDIES[name]
        neutral = remedy.neutral_values()
        parameters[membership(name)] = np.asarray([c.remedy == name for c in candidates],
                                                  dtype=np.float64)
        arrays = [remedy.member_parameters(c.remedy_values if c.remedy == name else neutral,
                                           context) for c in candidates]
        for key in arrays[0]:
            parameters[f"{name}.{key}"] = np.stack([a[key] for a in arrays])
    if any(REMEDIES[name].defers for name in names):
        schedules = np.asarray([remedy_named(c.remedy).schedule(c.remedy_values, epochs)
                                for c in candidates], dtype=np.float64)
        parameters["switch"], parameters["until"] = schedules[:, 0], schedules[:, 1]
    return parameters


def suggest_candidate(
    trial: optuna.Trial, search: SearchConfig, task: Task, labels: tuple[str, ...] = ()
) -> Candidate:
    """Ask the trial's sampler for one candidate.

    A choice is a parameter only when the study file offers more than one option. The family's
    parameters are its registry entry's (:meth:`WeightFamily.suggest
    <sweeper.search.WeightFamily.suggest>`: ``beta`` as ``one_minus_beta`` on a log scale), the
    other families' fields ``None``; multipliers and F-beta's beta are searched on a log scale,
    since 0.5 and 2 are equally far from 1.
    Bucket multipliers are named ``multiplier_0`` (rarest labels) upwards, per-label ones
    ``multiplier[LABEL]``.
    """

    def choose(name: str, options: tuple[str, ...]) -> str:
        return options[0] if len(options) == 1 else trial.suggest_categorical(name, list(options))

    family = weight_family(choose("family", search.families))
    parameters: dict[str, float | None] = {
        name: None for entry in FAMILY_REGISTRY.values() for name in entry.parameters
    }
    parameters.update(family.suggest(trial, search))
    multipliers = None
    if search.multipliers == "buckets":
        names = [f"multiplier_{bucket}" for bucket in range(search.buckets)]
    elif search.multipliers == "per_label":
        names = [f"multiplier[{label}]" for label in labels]
    else:
        names = []
    if names:
        multipliers = tuple(
            trial.suggest_float(name, *search.multiplier, log=True) for name in names
        )
    normalisation = choose("normalisation", search.normalisations)
    remedy = choose("remedy", search.remedies)
    decay = (None if search.weight_decay is None
             else trial.suggest_float("weight_decay", *search.weight_decay, log=True))
    common: dict[str, Any] = {
        **parameters, "normalisation": normalisation, "family": family.name,
        "multiplier_mode": search.multipliers, "multipliers": multipliers, "remedy": remedy,
        "remedy_values": remedy_named(remedy).suggest(trial, search),
        "weight_decay": decay,
    }
    if task == Task.MULTICLASS:
        return Candidate(
            threshold=None,
            class_weighting=choose("class_weighting", search.class_weighting),
            tau=trial.suggest_float("tau", *search.logit_adjustment),
            **common,
        )
    rule = choose("threshold_rule", search.thresholds)
    if rule == "per_label":
        fbeta = trial.suggest_float("fbeta", *search.fbeta, log=True)
        return Candidate(threshold=None, threshold_rule=rule, fbeta=fbeta, **common)
    threshold = trial.suggest_float("threshold", *search.threshold)
    return Candidate(threshold=threshold, threshold_rule=rule, **common)


def space_distributions(
    search: SearchConfig, task: Task, labels: tuple[str, ...] = ()
) -> dict[str, optuna.distributions.BaseDistribution]:
    """Every parameter :func:`suggest_candidate` may draw for these settings, with its
    distribution: the space as Optuna stores it, read without a study.

    :func:`suggest_candidate` is run on a recording trial once along each path through its
    categorical choices (each family, normalisation, rule...: a few dozen paths at most), so
    a parameter only one branch draws is found too, and a family added to it later needs
    nothing here."""
    found: dict[str, optuna.distributions.BaseDistribution] = {}
    path: list[int] = []
    while True:
        recorder = _RecordingTrial(path)
        suggest_candidate(recorder, search, task, labels)  # type: ignore[arg-type]
        found.update(recorder.distributions)
        taken, sizes = recorder.taken, recorder.sizes
        position = len(taken) - 1  # the next path: the last choice with options left, + 1
        while position >= 0 and taken[position] + 1 >= sizes[position]:
            position -= 1
        if position < 0:
            return found
        path = [*taken[:position], taken[position] + 1]


class _RecordingTrial:
    """A stand-in for ``optuna.Trial`` that records each suggested distribution, takes the
    categorical choices ``path`` gives (the first where it gives none) and the low end of
    every range."""

    def __init__(self, path: list[int]) -> None:
        self._path = path
        self.distributions: dict[str, optuna.distributions.BaseDistribution] = {}
        self.taken: list[int] = []
        self.sizes: list[int] = []

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        index = self._path[len(self.taken)] if len(self.taken) < len(self._path) else 0
        self.distributions[name] = optuna.distributions.CategoricalDistribution(choices)
        self.taken.append(index)
        self.sizes.append(len(choices))
        return choices[index]

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        self.distributions[name] = optuna.distributions.FloatDistribution(
            low, high, step=step, log=log)
        return low

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        self.distributions[name] = optuna.distributions.IntDistribution(
            low, high, step=step, log=log)
        return low


def check_search(search: SearchConfig, task: Task, n_outputs: int) -> None:
    """Refuse ``[search]`` values that do not fit the data, naming the key (before training)."""
    fail = SearchConfig.fail
    task = Task(task)
    one, many = task.unit, task.units
    for name in search.remedies:
        trains = remedy_named(name).tasks
        if task not in trains:
            raise fail("remedies", f"{name!r} trains {' and '.join(str(t) for t in trains)} "
                                   f"data, but this data is {task}.")
    if task == Task.BINARY:  # one logit, decided by a threshold: the multi-label keys apply
        for key in MULTICLASS_KEYS:
            if key in search.given:
                raise fail(key, "applies to multi-class data, but this data is binary (one "
                                "positive class, decided by a threshold); `[data] task = "
                                "'multiclass'` makes a 2-valued y a two-class softmax.")
        if search.multipliers == "buckets" and search.buckets > 1:
            raise fail("buckets", f"{search.buckets} buckets for a binary task: its one "
                                  "positive class is one bucket.")
        return
    this, other = ("multi-label", "multi-class") if task == Task.MULTILABEL else (
        "multi-class", "multi-label")
    for key in MULTICLASS_KEYS if task == Task.MULTILABEL else MULTILABEL_KEYS:
        if key in search.given:
            raise fail(key, f"applies to {other} data, but this data is {this} "
                            f"({n_outputs} {many}).")
    if search.multipliers == "buckets" and search.buckets > n_outputs:
        raise fail(
            "buckets", f"{search.buckets} buckets for {n_outputs} {many}: at most one bucket "
            f"per {one}."
        )
    if search.multipliers == "per_label" and n_outputs > MAX_PER_LABEL_MULTIPLIERS:
        raise fail(
            "multipliers", f"'per_label' searches one multiplier per label, which is for at "
            f"most {MAX_PER_LABEL_MULTIPLIERS} {many}, but the data has {n_outputs}; use "
            "'buckets'."
        )
    if search.cost_matrix is not None and task == Task.MULTICLASS:
        rows, columns = len(search.cost_matrix), len(search.cost_matrix[0])
        if (rows, columns) != (n_outputs, n_outputs):
            raise fail(
                "cost_matrix", f"expected a {n_outputs} x {n_outputs} matrix (one row and column "
                f"per class), got {rows} x {columns}."
            )
