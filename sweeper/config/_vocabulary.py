"""The words every layer shares: the task, the splits, and the choices a study may offer.

They live at the bottom of the one-way flow (config -> data -> search -> training / evaluation ->
study -> report / export), so that pure NumPy code and configuration alike can name them without
importing anything heavier.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "AVERAGES",
    "CLASS_WEIGHTINGS",
    "FAMILIES",
    "MULTIPLIER_MODES",
    "NORMALISATIONS",
    "SAMPLERS",
    "TASK_SETTINGS",
    "THRESHOLD_RULES",
    "Split",
    "Task",
]


class Task(str, Enum):
    """What the labels are: several 0/1 labels per row, one class id per row, or one of two
    values per row (binary: one logit, the positive class's recall and precision).

    A ``str`` enum, so it compares equal to (and serialises as) its value: ``"multilabel"``.
    """

    MULTILABEL = "multilabel"
    MULTICLASS = "multiclass"
    BINARY = "binary"

    def __str__(self) -> str:
        return self.value

    @property
    def sigmoid(self) -> bool:
        """Whether each output is one logit scored through a sigmoid (binary, multi-label),
        rather than the outputs together through a softmax (multi-class). A binary task is
        held as one 0/1 label column, so every sigmoid path serves both."""
        return self is not Task.MULTICLASS

    @property
    def unit(self) -> str:
        """What one output is called in messages: ``label`` or ``class`` (binary: the
        positive class)."""
        return "label" if self is Task.MULTILABEL else "class"

    @property
    def units(self) -> str:
        return "labels" if self is Task.MULTILABEL else "classes"


class Split(str, Enum):
    """The held-out splits a trial is scored on: chosen on validation, read on test."""

    VALIDATION = "validation"
    TEST = "test"

    def __str__(self) -> str:
        return self.value


AVERAGES = ("auto", "micro", "macro")
TASK_SETTINGS = ("auto", "binary", "multiclass")
"""``[data] task``: ``auto`` follows from ``y``; the others insist (a 2-D ``y`` is always
multi-label)."""
SAMPLERS = ("tpe", "nsga2", "gp")
NORMALISATIONS = ("none", "sum_to_one", "mean_one", "balanced")
FAMILIES = ("inverse_frequency", "effective_number")
"""The ``[search] families`` choices: the searchable entries of :mod:`sweeper.search`'s family
registry (``FAMILY_REGISTRY``; tests/search/test_families.py keeps the two equal), listed here
because the config sits below the search package and cannot read it."""
MULTIPLIER_MODES = ("none", "buckets", "per_label")
THRESHOLD_RULES = ("global", "per_label")
CLASS_WEIGHTINGS = ("true_class", "predicted_class", "cost_matrix")
