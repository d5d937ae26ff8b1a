"""Calibration of a model's probabilities: the Brier score and the expected calibration error.

Weighting the loss shifts a model's probabilities away from the frequencies it sees (a
``pos_weight`` of 30 makes a label look 30 times as common), so a weighted model that ranks
well may be badly calibrated. These two figures make that visible beside recall and precision.

- **Binary and multi-label** (one sigmoid probability per output): every (row, label) pair is
  one prediction ``p`` of its 0/1 truth ``y``, ``N = rows * labels`` of them pooled.

  - Brier score: ``mean over the N pairs of (p - y)^2``.
  - ECE: the pairs binned by ``p`` into :data:`CALIBRATION_BINS` (15) equal-width bins,
    ``sum over bins of (bin count / N) * |mean y - mean p|`` (an empty bin adds nothing).

- **Multi-class** (a softmax over ``K`` classes): each row is one prediction, ``N = rows``.

  - Brier score: ``mean over rows of sum_k (p_k - onehot(y)_k)^2`` (0 to 2).
  - ECE on the top class (Guo et al., ICML 2017): each row's confidence ``max_k p_k`` against
    whether its argmax is the true class (1 or 0), binned and summed as above.

Bins are right-closed, ``(b / 15, (b + 1) / 15]`` for ``b = 0 .. 14``, with ``p = 0`` in the
first bin: the binning of Guo et al. Probabilities are read in float64.

Both figures are those of the model's *probabilities*, not of a decision: every operating point
of one trained model (its own threshold and every point of its curve, or for multi-class every
logit-adjustment tau) shares them, and for multi-class they are the unadjusted softmax's (the
decision subtracts ``tau * log prior`` from the log probabilities; the probabilities stay).

A model whose scores are not all finite (a diverged trial), or an empty split, has no figures:
the functions return NaN and :class:`Calibration` holds ``None``; nothing raises.

Pure NumPy: no Keras, no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweeper.config import Task

__all__ = [
    "CALIBRATION_BINS",
    "Calibration",
    "brier_score",
    "calibration",
    "expected_calibration_error",
]

CALIBRATION_BINS = 15
"""Equal-width bins of the expected calibration error (Guo et al. 2017's 15)."""


BLOCK_VALUES = 2**18
"""Scores read per block, as float64 (2 MB): the figures are sums over the rows, accumulated
block by block, so a split of thousands of labels is never copied whole (issue 30)."""


def _blocks(scores: np.ndarray) -> range:
    """Start rows of blocks of about :data:`BLOCK_VALUES` scores; ``range.step`` rows each."""
    per_row = max(1, int(np.prod(scores.shape[1:], dtype=np.int64)))
    return range(0, scores.shape[0], max(1, BLOCK_VALUES // per_row))


def _measurable(scores: Any) -> np.ndarray | None:
    """The scores as an array, or ``None`` when there is nothing to measure: no rows, or a
    score that is not finite."""
    p = np.asarray(scores)
    if p.size == 0:
        return None
    rows = _blocks(p)
    if not all(np.isfinite(p[start:start + rows.step]).all() for start in rows):
        return None
    return p


def brier_score(y_true: Any, scores: Any, task: Task) -> float:
    """The Brier score of probabilities ``scores`` (``(rows, outputs)``) against ``y_true``
    (``(rows, labels)`` of 0/1, or ``(rows,)`` class ids): see the module's docstring. NaN if a
    score is not finite or there are no rows."""
    scores = _measurable(scores)
    if scores is None:
        return math.nan
    sigmoid = Task(task).sigmoid
    truth = np.asarray(y_true).reshape(scores.shape if sigmoid else (-1,))
    total, rows = 0.0, _blocks(scores)
    for start in rows:
        p = scores[start:start + rows.step].astype(np.float64)
        if sigmoid:
            y = truth[start:start + rows.step].astype(np.float64)
        else:
            y = np.zeros_like(p)
            y[np.arange(p.shape[0]), truth[start:start + rows.step]] = 1.0
        total += float(np.sum((p - y) ** 2))
    return total / (scores.size if sigmoid else scores.shape[0])


def expected_calibration_error(
    y_true: Any, scores: Any, task: Task, bins: int = CALIBRATION_BINS
) -> float:
    """The expected calibration error with ``bins`` equal-width, right-closed bins: see the
    module's docstring. NaN if a score is not finite or there are no rows. Each (row, label)
    pair's probability and 0/1 truth (sigmoid tasks), or each row's top-class confidence and
    correctness (multi-class), binned block by block."""
    scores = _measurable(scores)
    if scores is None:
        return math.nan
    sigmoid = Task(task).sigmoid
    truth = np.asarray(y_true).reshape(scores.shape if sigmoid else (-1,))
    edges = np.arange(bins + 1) / bins  # b / bins exactly, so 1.0 is the last edge
    counts, sum_p, sum_y = (np.zeros(bins) for _ in range(3))
    rows = _blocks(scores)
    for start in rows:
        block = scores[start:start + rows.step].astype(np.float64)
        if sigmoid:
            p = block.ravel()
            y = truth[start:start + rows.step].astype(np.float64).ravel()
        else:
            p = block.max(axis=-1)
            y = (np.argmax(block, axis=-1) == truth[start:start + rows.step]).astype(np.float64)
        # side="left": the first edge >= p, so bin b holds edges[b] < p <= edges[b + 1].
        index = np.clip(np.searchsorted(edges, p, side="left") - 1, 0, bins - 1)
        counts += np.bincount(index, minlength=bins)
        sum_p += np.bincount(index, weights=p, minlength=bins)
        sum_y += np.bincount(index, weights=y, minlength=bins)
    filled = counts > 0
    gaps = np.abs(sum_y[filled] - sum_p[filled]) / counts[filled]
    return float(np.sum(counts[filled] / counts.sum() * gaps))


def _figure(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


@dataclass(frozen=True)
class Calibration:
    """A model's Brier score and ECE on one split; ``None`` where undefined (a diverged
    trial's non-finite scores). The same for every decision of that model."""

    brier: float | None
    ece: float | None

    @classmethod
    def of(cls, y_true: Any, scores: Any, task: Task) -> Calibration:
        return cls(
            brier=_figure(brier_score(y_true, scores, task)),
            ece=_figure(expected_calibration_error(y_true, scores, task)),
        )

    def to_dict(self) -> dict[str, float | None]:
        return {"brier": self.brier, "ece": self.ece}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(brier=_figure(data.get("brier")), ece=_figure(data.get("ece")))


def calibration(y_true: Any, scores: Any, task: Task) -> Calibration:
    """The Brier score and ECE of ``scores`` (probabilities) against ``y_true``."""
    return Calibration.of(y_true, scores, task)
