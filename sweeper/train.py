"""Training: fit one batch of weight candidates together and score the validation and test rows.

One call trains ``P`` members (one per trial of a batch) in one packed model and returns their
scores (probabilities) on the validation and test splits. Thresholds and every figure are computed
from these scores afterwards, in :mod:`sweeper.metrics`; nothing here knows about thresholds.

Reproducibility: Keras is seeded right before building and again right before ``fit``, so the
initial weights and the batch order depend on ``seed`` alone, whatever the number of members.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np

from sweeper.data import Splits
from sweeper.losses import packed_loss
from sweeper.models import ModelFactory, build_packed_model
from sweeper.studyfile import ModelSection
from sweeper.weights import Task

__all__ = ["PackedScores", "probabilities", "train_and_score"]


@dataclass(frozen=True)
class PackedScores:
    """Each member's probabilities on the validation and test rows, and the wall time spent."""

    validation: np.ndarray
    """``(members, validation rows, outputs)``"""
    test: np.ndarray
    """``(members, test rows, outputs)``"""
    seconds: float

    def diverged(self) -> np.ndarray:
        """Per member: whether training produced non-finite scores."""
        finite = np.isfinite(self.validation).all(axis=(1, 2)) & np.isfinite(self.test).all(
            axis=(1, 2)
        )
        return ~finite


def probabilities(logits: np.ndarray, task: Task) -> np.ndarray:
    """Sigmoid per label, or softmax over classes (last axis), computed stably in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    if task == "multilabel":
        return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return (exponentials / exponentials.sum(axis=-1, keepdims=True)).astype(np.float32)


def _logits(network: keras.Model, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Direct calls in chunks: ``predict`` would trace a new function for every new model."""
    parts = [
        keras.ops.convert_to_numpy(network(X[start : start + chunk], training=False))
        for start in range(0, X.shape[0], chunk)
    ]
    return np.concatenate(parts, axis=0)


def train_and_score(
    splits: Splits,
    model: ModelSection,
    weights: np.ndarray,
    *,
    seed: int,
    factory: ModelFactory | None = None,
) -> PackedScores:
    """Train one member per row of ``weights`` (``(members, outputs)``) and score both splits."""
    weights = np.asarray(weights, dtype=np.float32)
    train = splits.train
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    network = build_packed_model(
        n_features=train.X.shape[1],
        n_outputs=train.n_outputs,
        seeds=[seed] * weights.shape[0],
        hidden=model.hidden,
        factory=factory,
    )
    network.compile(
        optimizer=keras.optimizers.Adam(learning_rate=model.learning_rate),
        loss=packed_loss(train.task, weights),
    )
    keras.utils.set_random_seed(seed)
    network.fit(
        train.X, train.y, epochs=model.epochs, batch_size=model.batch_size, shuffle=True,
        verbose=0,
    )
    scored = []
    for split in (splits.validation, splits.test):
        logits = _logits(network, split.X)
        scored.append(np.moveaxis(probabilities(logits, train.task), 1, 0))
    return PackedScores(
        validation=scored[0], test=scored[1], seconds=time.perf_counter() - started
    )
