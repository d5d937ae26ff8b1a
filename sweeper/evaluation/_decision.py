"""Decision rules: from a trained model's scores to decisions, written once.

- multi-label: ``score >= threshold``, with one global threshold or one per label;
- multi-class: the argmax of ``log p - offset``, where ``offset = tau * log prior`` is the post-hoc
  logit adjustment of Menon et al. (ICLR 2021); ``tau = 0`` is the plain argmax.

Scoring a trial and running an exported model in production both go through :func:`predict`
(the latter after :func:`probabilities` of its logits). :func:`fbeta` is the one F-beta, and
:class:`Constraints` the one reading of ``min_precision`` / ``min_recall``: the sampler's
constraints, the front's feasible points and the export rules all ask it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweeper.config import Task
from sweeper.evaluation._calibration import BLOCK_VALUES

__all__ = [
    "Constraints",
    "fbeta",
    "log_probability_blocks",
    "predict",
    "probabilities",
    "sigmoid",
    "softmax",
]


def sigmoid(logits: Any) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in float64, written with ``tanh`` so it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64)))


def softmax(logits: Any) -> np.ndarray:
    """Softmax over the last axis in float64, shifted by the maximum so it never overflows."""
    logits = np.asarray(logits, dtype=np.float64)
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def probabilities(logits: Any, task: Task) -> np.ndarray:
    """A model's scores from its logits: sigmoid per label, or softmax over classes (float32)."""
    scores = sigmoid(logits) if Task(task).sigmoid else softmax(logits)
    return scores.astype(np.float32)


def predict(
    scores: np.ndarray,
    task: Task,
    threshold: float | Sequence[float] | np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """Decisions from scores (probabilities): ``scores >= threshold`` per label, or the class
    with the largest ``log p - offset``.

    ``threshold`` is a scalar or one value per label (multi-label only). ``offset`` is one value
    per class (multi-class only; ``None`` is the plain argmax).
    """
    if Task(task).sigmoid:
        if threshold is None:
            raise ValueError("a multi-label decision needs a threshold.")
        return scores >= np.asarray(threshold, dtype=scores.dtype)
    if offset is None:
        return np.argmax(scores, axis=-1)
    rows = scores.reshape(-1, scores.shape[-1])
    offset = np.asarray(offset, dtype=np.float64)
    per_row = offset.ndim > 1  # one offset per row and class
    if per_row:
        offset = np.broadcast_to(offset, scores.shape).reshape(rows.shape)
    decided = np.empty(rows.shape[0], np.int64)
    for start, log_p in log_probability_blocks(rows):
        stop = start + log_p.shape[0]
        decided[start:stop] = np.argmax(log_p - (offset[start:stop] if per_row else offset),
                                        axis=-1)
    return decided.reshape(scores.shape[:-1])[()]  # one row: a scalar, as np.argmax gives


def log_probability_blocks(scores: np.ndarray):
    """``(first row, log p in float64)`` for each block of rows of ``(rows, classes)``
    probabilities, about :data:`~sweeper.evaluation._calibration.BLOCK_VALUES` values each.

    A multi-class decision compares ``log p - tau * log prior`` across the classes in float64;
    a whole split of a thousand classes would take two float64 copies of its scores (16 bytes a
    value) per decision, so they are taken a block at a time, and a curve over many taus reads
    each block's logarithms once (:func:`~sweeper.evaluation.adjustment_curve`). Probabilities
    that underflowed to 0 stay the least likely class, without log(0) warnings."""
    tiny = np.finfo(np.float64).tiny
    step = max(1, BLOCK_VALUES // max(scores.shape[-1], 1))
    for start in range(0, scores.shape[0], step):
        yield start, np.log(np.maximum(scores[start:start + step].astype(np.float64), tiny))


def fbeta(recall: Any, precision: Any, beta: float = 1.0) -> Any:
    """``(1 + b^2) P R / (b^2 P + R)``, 0 where both are 0; scalars or arrays.

    ``beta > 1`` favours recall, ``beta < 1`` precision; ``beta = 1`` is F1.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    weight = beta**2
    denominator = weight * precision + recall
    value = np.divide(
        (1 + weight) * precision * recall, denominator,
        out=np.zeros(np.broadcast(recall, precision).shape), where=denominator > 0,
    )
    return float(value) if value.ndim == 0 else value


@dataclass(frozen=True)
class Constraints:
    """Floors on validation precision and recall (``None``: no floor)."""

    min_precision: float | None = None
    min_recall: float | None = None

    def violations(self, recall: Any, precision: Any) -> dict[str, Any]:
        """Per floor, how far below it a point is (scalars, or arrays of points), in Optuna's
        convention: feasible where <= 0."""
        found = {}
        if self.min_precision is not None:
            found["min_precision"] = self.min_precision - precision
        if self.min_recall is not None:
            found["min_recall"] = self.min_recall - recall
        return found

    def feasible(self, recall: Any, precision: Any) -> np.ndarray:
        """Whether each point meets every floor: exactly where :meth:`violations` are <= 0."""
        recall, precision = np.asarray(recall), np.asarray(precision)
        meets = np.ones(np.broadcast(recall, precision).shape, dtype=bool)
        for violation in self.violations(recall, precision).values():
            meets &= violation <= 0
        return meets
