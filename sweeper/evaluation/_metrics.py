"""Recall and precision of decisions, per label and averaged, in pure NumPy.

Conventions follow scikit-learn's ``zero_division=0``: a label with no positives has recall 0, a
label with no predicted positives has precision 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweeper.config import Task
from sweeper.evaluation._decision import fbeta, predict

__all__ = ["Evaluation", "confusion_counts", "evaluate", "fold_spread"]


def confusion_counts(
    y_true: np.ndarray, y_pred: np.ndarray, task: Task, n_outputs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives and false negatives per label or class."""
    if Task(task).sigmoid:
        truth = y_true.astype(bool)
        decided = y_pred.astype(bool)
        tp = np.count_nonzero(truth & decided, axis=0)
        fp = np.count_nonzero(~truth & decided, axis=0)
        fn = np.count_nonzero(truth & ~decided, axis=0)
        return tp, fp, fn
    tp = np.bincount(y_true[y_true == y_pred], minlength=n_outputs)
    predicted = np.bincount(y_pred, minlength=n_outputs)
    actual = np.bincount(y_true, minlength=n_outputs)
    return tp, predicted - tp, actual - tp


FIGURE_DECIMALS = 6
"""Decimals a stored figure keeps (:func:`rounded`); fronts compare figures at this precision."""


def rounded(values: Sequence[float]) -> list[float]:
    """Six decimals: exact enough for any figure, and a third of the stored JSON."""
    return [round(float(value), FIGURE_DECIMALS) for value in values]


def fold_spread(per_fold: Sequence[Sequence[float]]) -> np.ndarray:
    """The standard deviation across folds (``ddof=1``: K is small) of each figure; the rows of
    ``per_fold`` are the folds."""
    return np.std(np.asarray(per_fold, dtype=np.float64), axis=0, ddof=1)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(
        numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0
    )


@dataclass(frozen=True)
class Evaluation:
    """One model's figures on one split at one decision rule."""

    recall: float
    precision: float
    per_label_recall: tuple[float, ...]
    per_label_precision: tuple[float, ...]
    spread: tuple[float, float] | None = None
    """Cross-validation: the standard deviation of recall and of precision across folds."""

    @property
    def f1(self) -> float:
        return fbeta(self.recall, self.precision)

    def with_spread(self, folds: Sequence[Evaluation]) -> Evaluation:
        """These (pooled) figures with their spread across the folds' figures."""
        spread = fold_spread([(f.recall, f.precision) for f in folds])
        return dataclasses.replace(self, spread=(float(spread[0]), float(spread[1])))

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "recall": self.recall,
            "precision": self.precision,
            "f1": self.f1,
            "per_label_recall": rounded(self.per_label_recall),
            "per_label_precision": rounded(self.per_label_precision),
        }
        if self.spread is not None:
            data["spread"] = rounded(self.spread)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        spread = data.get("spread")
        return cls(
            recall=float(data["recall"]),
            precision=float(data["precision"]),
            per_label_recall=tuple(data["per_label_recall"]),
            per_label_precision=tuple(data["per_label_precision"]),
            spread=None if spread is None else (float(spread[0]), float(spread[1])),
        )


def evaluate(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    task: Task,
    average: str,
    threshold: float | np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> Evaluation:
    """Recall and precision (``micro`` or ``macro`` averaged) and their per-label values, at a
    decision rule (see :func:`predict`)."""
    n_outputs = scores.shape[-1]
    decisions = predict(scores, task, threshold, offset)
    tp, fp, fn = confusion_counts(y_true, decisions, task, n_outputs)
    recall, precision = averaged(tp[:, None], (tp + fp)[:, None], tp + fn, average)
    return Evaluation(
        recall=float(recall[0]),
        precision=float(precision[0]),
        per_label_recall=tuple(_ratio(tp, tp + fn).tolist()),
        per_label_precision=tuple(_ratio(tp, tp + fp).tolist()),
    )


def averaged(tp: np.ndarray, predicted: np.ndarray, positives: np.ndarray, average: str):
    """Recall and precision per column of ``(labels, points)`` counts, micro or macro.

    The macro average is over the labels (classes) that have positives in the split: one
    without any cannot be evaluated there, and counting it as recall 0 would cap every figure
    (:func:`unevaluable` names them).
    """
    if average == "micro":
        recall = _ratio(tp.sum(axis=0), np.full(tp.shape[1], positives.sum()))
        precision = _ratio(tp.sum(axis=0), predicted.sum(axis=0))
    elif average == "macro":
        present = positives > 0
        if not present.any():
            return np.zeros(tp.shape[1]), np.zeros(tp.shape[1])
        tp, predicted = tp[present], predicted[present]
        recall = _ratio(tp, np.broadcast_to(positives[present][:, None], tp.shape)).mean(axis=0)
        precision = _ratio(tp, predicted).mean(axis=0)
    else:
        raise ValueError(f"`average` must be 'micro' or 'macro', but got {average!r}.")
    return recall, precision

