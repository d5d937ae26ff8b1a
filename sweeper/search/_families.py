"""The weight-family registry: how label statistics become a trial's raw weights (pure NumPy).

Each :class:`WeightFamily` is one entry: its searched parameters (:attr:`~WeightFamily.parameters`,
the :class:`~sweeper.search.Candidate` fields it reads, and :meth:`~WeightFamily.suggest`, which
draws them from a trial), its raw weights per task (:meth:`~WeightFamily.raw_weights`, and
:meth:`~WeightFamily.negative_weights` for a family that weights the negatives' term too), its
short text for tables (:meth:`~WeightFamily.summary`) and what an export writes of it
(:meth:`~WeightFamily.export`). Everything downstream (:func:`weight_vector`,
:func:`binary_weight_pair`, the ``Candidate``, ``suggest_candidate``, the exported document)
looks a family up by name with :func:`weight_family`, which refuses an unknown name in one line.
Multipliers and normalisations apply the same way to every family's raw weights
(:mod:`sweeper.search._weights` holds the formulas).

- ``inverse_frequency`` (``exponent``): the inverse frequency to a power.
- ``effective_number`` (``beta``, searched as ``one_minus_beta`` on a log scale): Cui et al.
- ``sklearn_balanced``: scikit-learn's "balanced" rule, positives and negatives weighted; a
  baseline's family, never searched (``searchable = False``, not a ``[search] families`` choice).

Adding a family is one entry here and its tests:

1. a subclass of :class:`WeightFamily` and its instance in :data:`FAMILY_REGISTRY`;
2. its name in :data:`sweeper.config.FAMILIES` if it is searchable (the ``[search] families``
   choices: the config sits below this package and cannot read the registry) and in the
   export schema's ``weights.family`` enum (``sweeper/export/schema.json``), which the tests
   compare with the registry;
3. a parameter of its own is a ``Candidate`` field (default ``None``) with its ``[search]``
   range, as a remedy's is; the stored names of existing parameters never change (``exponent``,
   ``beta`` and the Optuna names ``exponent``, ``one_minus_beta``), so studies resume;
4. its weights checked by hand in tests/search/test_weights.py; tests/search/test_families.py
   runs the registry's contract (suggest, summary, export, record round trip) over every entry.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sweeper.config import Task
from sweeper.search._weights import (
    _check_counts,
    effective_number,
    inverse_frequency,
    normalise,
    sklearn_balanced,
)

if TYPE_CHECKING:
    import optuna

    from sweeper.config import SearchConfig
    from sweeper.search._space import Candidate

__all__ = [
    "FAMILY_REGISTRY",
    "SKLEARN_BALANCED",
    "WeightFamily",
    "binary_weight_pair",
    "searchable_families",
    "weight_family",
    "weight_vector",
]

Parameters = Mapping[str, float | None]
"""A family's parameter values by ``Candidate`` field name (others' may be present, ignored)."""

SKLEARN_BALANCED = "sklearn_balanced"
"""A family only baselines use: scikit-learn's "balanced" rule, positives and negatives weighted."""


class WeightFamily(abc.ABC):
    """One entry of the registry (see the module docstring).

    ``name`` is what a ``Candidate``'s ``family`` field, a trial record and an export say;
    ``parameters`` the ``Candidate`` fields the family reads, which :meth:`suggest` returns
    exactly; ``searchable`` whether a study may offer it in ``[search] families``.
    """

    name: ClassVar[str]
    parameters: ClassVar[tuple[str, ...]] = ()
    searchable: ClassVar[bool] = True

    @abc.abstractmethod
    def suggest(self, trial: optuna.Trial, search: SearchConfig) -> dict[str, float]:
        """The family's parameters for this trial, by ``Candidate`` field: exactly
        :attr:`parameters`. The Optuna names and ranges are stored with every trial, so an
        existing family's never change."""

    @abc.abstractmethod
    def raw_weights(
        self, counts: np.ndarray, n_samples: int, task: Task, parameters: Parameters
    ) -> np.ndarray:
        """Weights before multipliers and normalisation: one ``pos_weight`` per label
        (``task`` multi-label; a binary task asks for its one label) or one weight per class
        (multi-class). ``counts``: positives per label, or samples per class."""

    def negative_weights(
        self, counts: np.ndarray, n_samples: int, parameters: Parameters
    ) -> np.ndarray | None:
        """The weight of each label's negative term (multi-label and binary), or ``None``: 1,
        as for every searched family. Not multiplied or normalised in multi-label (only a
        baseline at ``normalisation = "none"`` has them); binary normalises the pair."""
        return None

    @abc.abstractmethod
    def summary(self, candidate: Candidate) -> str:
        """Short text for tables and hovers (``inv^0.82``); multipliers and the remedy are
        appended by :meth:`Candidate.family_summary`."""

    def export(self, candidate: Candidate) -> dict[str, Any]:
        """What the exported document's ``weights`` object says of the family beyond its name:
        its parameters by field name. (The schema requires ``exponent`` and ``beta`` in every
        document; the document writes ``null`` for those a family does not set.)"""
        return self.parameters_of(candidate)

    def parameters_of(self, candidate: Candidate) -> dict[str, float | None]:
        """The candidate's values of :attr:`parameters`, as the weight functions take them."""
        return {name: getattr(candidate, name) for name in self.parameters}


def _exponent(parameters: Parameters) -> float:
    exponent = parameters.get("exponent")
    if exponent is None or not exponent >= 0:
        raise ValueError(f"`exponent >= 0` must hold, but got {exponent=}.")
    return exponent


class InverseFrequency(WeightFamily):
    """``(neg/pos) ** exponent`` per label, ``(n / (K n_c)) ** exponent`` per class."""

    name = "inverse_frequency"
    parameters = ("exponent",)

    def suggest(self, trial: optuna.Trial, search: SearchConfig) -> dict[str, float]:
        return {"exponent": trial.suggest_float("exponent", *search.exponent)}

    def raw_weights(
        self, counts: np.ndarray, n_samples: int, task: Task, parameters: Parameters
    ) -> np.ndarray:
        exponent = _exponent(parameters)
        return inverse_frequency(counts, n_samples, task) ** exponent

    def summary(self, candidate: Candidate) -> str:
        return f"inv^{candidate.exponent:.2f}"


class EffectiveNumber(WeightFamily):
    """Cui et al.'s effective number of samples (:func:`~sweeper.search.effective_number`).
    ``beta`` is searched as ``one_minus_beta`` on a log scale, since what matters is how close
    it is to 1."""

    name = "effective_number"
    parameters = ("beta",)

    def suggest(self, trial: optuna.Trial, search: SearchConfig) -> dict[str, float]:
        low, high = 1.0 - search.beta[1], 1.0 - search.beta[0]
        return {"beta": 1.0 - trial.suggest_float("one_minus_beta", low, high, log=True)}

    def raw_weights(
        self, counts: np.ndarray, n_samples: int, task: Task, parameters: Parameters
    ) -> np.ndarray:
        beta = parameters.get("beta")
        if beta is None:
            raise ValueError("the effective_number family needs `beta`.")
        return effective_number(counts, n_samples, task, beta)

    def summary(self, candidate: Candidate) -> str:
        return f"eff b={candidate.beta:.4f}"


class SklearnBalanced(WeightFamily):
    """:func:`~sweeper.search.sklearn_balanced`: ``n / (2 pos)`` on each label's positives and
    ``n / (2 neg)`` on its negatives, ``n / (K n_c)`` per class. A baseline, not searched."""

    name = SKLEARN_BALANCED
    searchable = False

    def suggest(self, trial: optuna.Trial, search: SearchConfig) -> dict[str, float]:
        raise ValueError(f"the weight family {self.name!r} is a baseline's, not searched.")

    def raw_weights(
        self, counts: np.ndarray, n_samples: int, task: Task, parameters: Parameters
    ) -> np.ndarray:
        balanced = sklearn_balanced(counts, n_samples, task)
        return balanced[0] if task == Task.MULTILABEL else balanced

    def negative_weights(
        self, counts: np.ndarray, n_samples: int, parameters: Parameters
    ) -> np.ndarray | None:
        return sklearn_balanced(counts, n_samples, Task.MULTILABEL)[1]

    def summary(self, candidate: Candidate) -> str:
        return "sklearn balanced"


FAMILY_REGISTRY: dict[str, WeightFamily] = {
    family.name: family for family in (InverseFrequency(), EffectiveNumber(), SklearnBalanced())
}
"""The weight families by name; :data:`sweeper.config.FAMILIES` lists the searchable ones."""


def weight_family(name: str) -> WeightFamily:
    """The registry's entry ``name``; an unknown family is refused by name."""
    try:
        return FAMILY_REGISTRY[name]
    except KeyError:
        known = tuple(FAMILY_REGISTRY)
        raise ValueError(f"unknown weight family {name!r}: the registry "
                         f"(sweeper.search.FAMILY_REGISTRY) has {known}.") from None


def searchable_families() -> tuple[str, ...]:
    """The names a study may offer in ``[search] families``, in registry order."""
    return tuple(name for name, family in FAMILY_REGISTRY.items() if family.searchable)


def weight_vector(
    *,
    counts: np.ndarray,
    n_samples: int,
    task: Task,
    normalisation: str,
    family: str = "inverse_frequency",
    exponent: float | None = None,
    beta: float | None = None,
    multipliers: np.ndarray | None = None,
    **parameters: float | None,
) -> np.ndarray:
    """The weight vector of one trial: a family's raw weights, times one multiplier per label
    (if given: a bucket's multiplier repeated for its labels), then normalised. ``parameters``:
    those of a family other than ``exponent`` and ``beta``, by ``Candidate`` field."""
    raw = weight_family(family).raw_weights(
        counts, n_samples, task, {"exponent": exponent, "beta": beta, **parameters})
    if multipliers is not None:
        multipliers = np.asarray(multipliers, dtype=np.float64)
        if multipliers.shape != raw.shape or np.any(multipliers <= 0):
            raise ValueError(
                f"`multipliers` must hold one value > 0 per label ({raw.size}), but got "
                f"{multipliers.tolist()}."
            )
        raw = raw * multipliers
    return normalise(raw, counts, normalisation)


def binary_weight_pair(
    *,
    positives: int,
    n_samples: int,
    normalisation: str,
    family: str = "inverse_frequency",
    exponent: float | None = None,
    beta: float | None = None,
    multiplier: float | None = None,
    **parameters: float | None,
) -> np.ndarray:
    """A binary trial's ``[neg_weight, pos_weight]`` (see :mod:`sweeper.search._weights`): the
    family's pair (its one label's negative weight, 1 unless it sets one, and ``pos_weight``),
    ``pos_weight`` times ``multiplier`` if given, normalised over the counts ``(neg, pos)``."""
    counts = _check_counts(np.asarray([positives]), n_samples)
    if counts[0] >= n_samples:
        raise ValueError(f"a binary task needs negatives, but every one of {n_samples} rows "
                         "is positive.")
    entry = weight_family(family)
    values = {"exponent": exponent, "beta": beta, **parameters}
    positive = entry.raw_weights(counts, n_samples, Task.MULTILABEL, values)[0]
    negative = entry.negative_weights(counts, n_samples, values)
    if multiplier is not None:
        if not multiplier > 0:
            raise ValueError(f"`multiplier > 0` must hold, but got {multiplier=}.")
        positive = positive * multiplier
    pair_counts = np.array([n_samples - counts[0], counts[0]])
    pair = np.array([1.0 if negative is None else negative[0], positive])
    return normalise(pair, pair_counts, normalisation)
