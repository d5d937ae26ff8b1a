"""The paired bootstrap of F1 on the validation rows, and the selection-aware comparison the
verdict rests on.

Every trial and every baseline of a study is scored on the same validation rows, so most of the
noise in their F1 is shared and cancels in a difference. :func:`resample_weights` draws one set
of bootstrap resamples of those rows per study (Poisson(1) weights per row, seeded by the
study): the same for every trial and baseline, whichever worker scores it. Each record keeps its
F1 under every resample at its chosen operating point (:func:`bootstrap_f1`): a vector of
:data:`RESAMPLES` numbers, which is all the comparison needs.

:func:`compare_choice` accounts for **the choice**: the lead of the best of N trials is biased
upward (it was chosen on these rows), so its lower bound is simultaneous over the N trials
(max-t over the bootstrap, Romano and Wolf 2005): it holds for every trial at once, so also for
the one chosen. A trial is recommended when that bound is above 0. How often this recommends a
truly better trial, and how often one that is not, is measured on problems whose truth is
known (``benchmarks/verdict_calibration.py``).
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass

import numpy as np

from sweeper.config import Task
from sweeper.evaluation._decision import fbeta
from sweeper.evaluation._metrics import averaged

__all__ = [
    "CONFIDENCE",
    "RESAMPLES",
    "ChoiceComparison",
    "bootstrap_f1",
    "compare_choice",
    "decode_resampled",
    "encode_resampled",
    "paired_differences",
    "resample_weights",
]

RESAMPLES = 200
"""Bootstrap resamples per study: enough for a 90% interval's ends to about +-0.1 standard
errors, at 400 bytes a record."""
CONFIDENCE = 0.95
"""The lower bound's confidence, one-sided and simultaneous over the trials the best was
chosen from: the simulation benchmark measures its false alarms (at most 5%)."""
_CHUNK_BYTES = 32 * 2**20
"""Rows (times labels) per matrix product: the products' working memory stays about this size."""


@functools.lru_cache(maxsize=4)
def resample_weights(n_rows: int, seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """``(resamples, n_rows)`` Poisson(1) bootstrap weights (uint8: a row drawn more than 255
    times has probability below 1e-300), the same for every caller with the same rows and seed
    (so trials and baselines are resampled in pairs); read-only."""
    rng = np.random.default_rng([seed, 0xB007])
    weights = np.empty((resamples, n_rows), np.uint8)
    for resample in weights:  # one resample's int64 draws at a time: the same stream
        np.minimum(rng.poisson(1.0, size=n_rows), 255, out=resample, casting="unsafe")
    weights.flags.writeable = False
    return weights


def _row_step(weights: np.ndarray, columns: int) -> int:
    """Rows per chunk, so a chunk's float copies take about :data:`_CHUNK_BYTES`."""
    return max(1, _CHUNK_BYTES // max(8 * max(columns, weights.shape[0]), 1))


def _column_sums(weights: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``weights @ matrix`` for a 0/1 or count ``(rows, columns)`` matrix, in chunks of rows."""
    rows, columns = matrix.shape
    step = _row_step(weights, columns)
    total = np.zeros((weights.shape[0], columns))
    for start in range(0, rows, step):
        total += (weights[:, start:start + step].astype(np.float32)
                  @ matrix[start:start + step].astype(np.float32))
    return total


def _class_sums(weights: np.ndarray, ids: np.ndarray, n_classes: int) -> np.ndarray:
    """``(resamples, classes)``: each class's summed row weights (the rows grouped by
    ``ids``), in chunks of rows."""
    sums = np.zeros((weights.shape[0], n_classes))
    step = _row_step(weights, 1)
    for start in range(0, ids.size, step):
        chunk = ids[start:start + step]
        order = np.argsort(chunk, kind="stable")
        classes, first = np.unique(chunk[order], return_index=True)
        block = weights[:, start:start + step][:, order].astype(np.float64)
        sums[:, classes] += np.add.reduceat(block, first, axis=1)
    return sums


def bootstrap_f1(y_true: np.ndarray, decisions: np.ndarray, task: Task, average: str,
                 weights: np.ndarray) -> np.ndarray:
    """F1 of one set of decisions on the validation rows under each resample: ``(resamples,)``.

    ``decisions`` are 0/1 per row and label (binary, multi-label) or class ids (multi-class),
    as :func:`~sweeper.evaluation.predict` gives; ``weights`` from :func:`resample_weights`.
    Recall and precision are averaged as the study averages them (micro or macro, a label
    without positives in a resample left out of the macro average, as on the whole split)."""
    task = Task(task)
    if task.sigmoid:
        truth = np.asarray(y_true).astype(bool).reshape(len(y_true), -1)
        decided = np.asarray(decisions).astype(bool).reshape(len(y_true), -1)
        if average == "micro":  # per-row counts are enough
            counts = np.stack([(truth & decided).sum(axis=1), decided.sum(axis=1),
                               truth.sum(axis=1)], axis=1)
            tp, predicted, positives = (_column_sums(weights, counts)[:, i] for i in range(3))
            recall = np.divide(tp, positives, out=np.zeros_like(tp), where=positives > 0)
            precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
            return np.asarray(fbeta(recall, precision))
        tp = _column_sums(weights, truth & decided)
        predicted = _column_sums(weights, decided)
        positives = _column_sums(weights, truth)
    else:
        ids = np.asarray(y_true).reshape(-1).astype(np.int64)
        chosen = np.asarray(decisions).reshape(-1).astype(np.int64)
        n_classes = int(max(ids.max(initial=0), chosen.max(initial=0))) + 1
        tp = _class_sums(weights, np.where(ids == chosen, ids, n_classes), n_classes + 1)
        tp = tp[:, :n_classes]  # a miss counts in the extra column
        predicted = _class_sums(weights, chosen, n_classes)
        positives = _class_sums(weights, ids, n_classes)
    figures = [averaged(tp[b][:, None], predicted[b][:, None], positives[b], average)
               for b in range(weights.shape[0])]
    return np.asarray([float(fbeta(recall[0], precision[0])) for recall, precision in figures])


def encode_resampled(values: np.ndarray) -> str:
    """A record's resampled F1s as text: 16 bits each (steps of 1.5e-5), base64."""
    scaled = np.round(np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0) * 65535)
    return base64.b64encode(scaled.astype("<u2").tobytes()).decode("ascii")


def decode_resampled(text: str) -> np.ndarray:
    """What :func:`encode_resampled` wrote, as float64."""
    raw = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype="<u2")
    return raw.astype(np.float64) / 65535


@dataclass(frozen=True)
class ChoiceComparison:
    """The best searched trial against the best baseline, paired on the validation rows, with
    the choice of the best of N accounted for (see :func:`compare_choice`). Figures are
    differences in validation F1 (trial minus baseline)."""

    difference: float
    """The best trial's F1 minus the best baseline's, as measured on the validation rows."""
    low: float
    """The lower bound: ``difference - critical * standard_error``, simultaneous over the
    trials it was chosen from."""
    high: float
    standard_error: float
    """The bootstrap standard error of the best trial's paired difference."""
    critical: float
    """The multiple of the standard error the bound takes: the 95% quantile of the largest
    studentised deviation among the trials (1.645 for one trial, more for more)."""
    trials: int
    """How many trials the best was chosen from."""

    @property
    def beats(self) -> bool:
        """Whether the trial is better than every baseline by this comparison."""
        return self.low > 0

    def to_dict(self) -> dict[str, float | int]:
        return {"difference": self.difference, "low": self.low, "high": self.high,
                "standard_error": self.standard_error, "critical": self.critical,
                "trials": self.trials}


def paired_differences(trial_f1: np.ndarray, trial_resampled: np.ndarray,
                       baseline_f1: np.ndarray, baseline_resampled: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each trial's F1 minus the best baseline's ``(trials,)``, the same under each resample
    ``(trials, resamples)`` (the best baseline chosen again in each), and each difference's
    bootstrap standard error ``(trials,)``."""
    trial_f1 = np.asarray(trial_f1, dtype=np.float64).reshape(-1)
    trial_resampled = np.asarray(trial_resampled, dtype=np.float64).reshape(trial_f1.size, -1)
    baseline_f1 = np.asarray(baseline_f1, dtype=np.float64).reshape(-1)
    baseline_resampled = np.asarray(baseline_resampled, dtype=np.float64).reshape(
        baseline_f1.size, -1)
    differences = trial_f1 - baseline_f1.max()
    resampled = trial_resampled - baseline_resampled.max(axis=0)
    errors = (resampled.std(axis=1, ddof=1) if resampled.shape[1] > 1
              else np.full(trial_f1.size, np.inf))
    return differences, resampled, errors


def compare_choice(trial_f1: np.ndarray, trial_resampled: np.ndarray,
                   baseline_f1: np.ndarray, baseline_resampled: np.ndarray,
                   confidence: float = CONFIDENCE) -> ChoiceComparison:
    """Compare the best of the trials with the best of the baselines, paired and aware of the
    choice.

    ``trial_f1`` ``(trials,)`` and ``trial_resampled`` ``(trials, resamples)``: each trial's
    F1 at its operating point, measured and under each resample; the same for the baselines.
    Each trial's paired difference to the best baseline (chosen again in each resample) has a
    bootstrap standard error; the critical value is the ``confidence`` quantile, over the
    resamples, of the largest studentised deviation of any trial from its own measured
    difference (the max-t construction of simultaneous bounds, Romano and Wolf 2005). The
    lower bound then holds for every trial at once, so also for the one chosen as the best:
    forty trials no better than the baseline give a best whose lead is mostly the luck of these
    rows, and the bound, wider than one trial's, says so."""
    trial_f1 = np.asarray(trial_f1, dtype=np.float64).reshape(-1)
    differences, resampled, errors = paired_differences(trial_f1, trial_resampled, baseline_f1,
                                                        baseline_resampled)
    scale = np.where(errors > 0, errors, np.inf)
    deviations = (resampled - differences[:, None]) / scale[:, None]
    critical = float(np.quantile(deviations.max(axis=0), confidence))
    best = int(np.argmax(trial_f1))
    margin = critical * float(errors[best])
    return ChoiceComparison(difference=float(differences[best]),
                            low=float(differences[best]) - margin,
                            high=float(differences[best]) + margin,
                            standard_error=float(errors[best]), critical=critical,
                            trials=int(trial_f1.size))
