"""A trainer that stands in for Keras where only the trial loop matters.

The tests of the loop, storage, liveness and resume exercise asking, telling, records, the
front and the budget; what a network would learn changes none of that. :class:`FakeTrainer`
honours the :class:`~sweeper.training.Trainer` contract (its shapes, out-of-fold validation,
determinism for the same seed and parameters, a member's scores independent of its batch) and
answers at once. Its probabilities follow the labels and the loss weights the way a trained
model's would (a larger positive or class weight raises that output's scores), so fronts,
verdicts and exports computed from them are not degenerate.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from sweeper.data import Splits
from sweeper.training import BatchScores, Trainer


class FakeTrainer(Trainer):
    """Instant scores for ``members`` candidates (see the module's docstring); ``separation``
    is how far the labels' logits stand apart before noise (1.5: fronts of a few points)."""

    def __init__(self, splits: Splits, members: int, *, seed: int = 0,
                 separation: float = 1.5) -> None:
        self.splits = splits
        self.members = members
        self.seed = seed
        self.separation = separation
        self.calls = 0
        """Batches scored so far (tests read it to see which path trained)."""

    def _logits(self, y: np.ndarray, outputs: int, shift: np.ndarray, rows: int,
                salt: int) -> np.ndarray:
        """Noisy logits that separate the rows' labels, moved by the member's log weights;
        the noise depends on the seed, the rows' split and the member's parameters only."""
        rng = np.random.default_rng([self.seed, salt])
        if y.ndim == 1:  # class ids
            target = np.zeros((rows, outputs), np.float32)
            target[np.arange(rows), y] = 1.0
        else:
            target = y.reshape(rows, -1).astype(np.float32)
        noise = rng.standard_normal((rows, outputs)).astype(np.float32)
        return self.separation * (2.0 * target - 1.0) + noise + shift

    def train_and_score(self, weights: np.ndarray | Mapping[str, Any]) -> BatchScores:
        """Each member's probabilities: its labels' logits moved by the log of its weights
        (a zero weight or cost counts as a tiny one)."""
        self.calls += 1
        parameters = dict(weights) if isinstance(weights, Mapping) else {"weights": weights}
        loss_weights = np.asarray(parameters["weights"], dtype=np.float64)
        validation, test = [], []
        sigmoid = self.splits.validation.task.sigmoid
        for member in range(self.members):
            member_weights = loss_weights[member]
            floor = 1e-6
            if sigmoid:  # (2, labels): positives' and negatives' weights
                shift = np.log(np.maximum(member_weights[0], floor)
                               / np.maximum(member_weights[1], floor))
            else:  # (classes, classes): each true class's row of weights, summed
                shift = np.log(np.maximum(member_weights.sum(axis=1), floor))
            shift = shift.astype(np.float32) - (0.0 if sigmoid else shift.mean())
            salt = zlib.crc32(np.ascontiguousarray(member_weights).tobytes())
            scores = []
            for split, data in (("validation", self.splits.validation),
                                ("test", self.splits.test)):
                logits = self._logits(data.y, data.n_outputs, shift, data.y.shape[0],
                                      salt + len(split))
                if sigmoid:
                    scores.append(1.0 / (1.0 + np.exp(-logits)))
                else:
                    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
                    scores.append(exp / exp.sum(axis=1, keepdims=True))
            validation.append(scores[0])
            test.append(scores[1])
        return BatchScores(validation=np.stack(validation).astype(np.float32),
                           test=np.stack(test).astype(np.float32), seconds=0.0)


def run_fake_study(prepared: Any, **options: Any) -> Any:
    """The real trial loop (:func:`~sweeper.study.run_study`) on a prepared sweep
    (:func:`~sweeper.api.prepare_study_file` or :func:`~sweeper.prepare`), quietly, with
    :class:`FakeTrainer`'s instant scores; returns its :class:`~sweeper.study.RunSummary`."""
    from sweeper.study import run_study

    options.setdefault("make_trainer",
                       lambda members: FakeTrainer(prepared.splits, members))
    return run_study(prepared.study, config=prepared.config, info=prepared.info,
                     splits=prepared.splits, progress=False, **options)
