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
    "THRESHOLD_RULES",
    "Split",
    "Task",
]


class Task(str, Enum):
    """What the labels are: several 0/1 labels per row, or one class id per row.

    A ``str`` enum, so it compares equal to (and serialises as) its value: ``"multilabel"``.
    """

    MULTILABEL = "multilabel"
    MULTICLASS = "multiclass"

    def __str__(self) -> str:
        return self.value

    @property
    def unit(self) -> str:
        """What one output is called in messages: ``label`` or ``class``."""
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
SAMPLERS = ("tpe", "nsga2", "gp")
NORMALISATIONS = ("none", "sum_to_one", "mean_one", "balanced")
FAMILIES = ("inverse_frequency", "effective_number")
MULTIPLIER_MODES = ("none", "buckets", "per_label")
THRESHOLD_RULES = ("global", "per_label")
CLASS_WEIGHTINGS = ("true_class", "predicted_class", "cost_matrix")
