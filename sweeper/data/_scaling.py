"""Feature standardisation: each feature to mean 0 and variance 1, fitted on the training rows.

Where it is meaningful: flat features ``(rows, features)`` per feature; sequences and images
``(rows, ..., channels)`` per channel (the last axis), so every pixel or time step of a channel
is scaled alike and a shifted image is the same image; integer features (token ids, counts,
uint8 pixels) never, since an id is no quantity and an ``Embedding`` needs the ids as given.

A network trained on raw features ranks weight candidates by how well each copes with the
features' scales (a feature in the thousands next to one in [0, 1] makes the first steps of
every member diverge or stall), not by the weights. Standardising first is what a practitioner
does anyway; the mean and scale are stored with the study and exported, so production training
and inference apply exactly the same transformation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Standardizer"]


@dataclass(frozen=True)
class Standardizer:
    """``(X - mean) / scale`` per feature (flat) or per channel (the last axis); a constant
    feature has scale 1 (it becomes 0)."""

    mean: np.ndarray
    scale: np.ndarray

    @staticmethod
    def applies(X: np.ndarray) -> bool:
        """Whether features like ``X`` are standardised: floating ones only."""
        return X.dtype.kind == "f"

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """Mean and standard deviation of each feature (2-D) or channel (the last axis of
        more), in float64 (float32 sums drift), a block of rows at a time."""
        flat = X.reshape(-1, X.shape[-1]) if X.ndim > 2 else X
        rows = max(1, (32 * 2**20) // max(flat[:1].nbytes * 2, 1))
        total = np.zeros(flat.shape[1], np.float64)
        squares = np.zeros(flat.shape[1], np.float64)
        for start in range(0, flat.shape[0], rows):
            block = np.asarray(flat[start:start + rows], dtype=np.float64)
            total += block.sum(axis=0)
        mean = total / flat.shape[0]
        for start in range(0, flat.shape[0], rows):
            block = np.asarray(flat[start:start + rows], dtype=np.float64)
            squares += ((block - mean) ** 2).sum(axis=0)
        std = np.sqrt(squares / flat.shape[0])
        scale = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)
        return cls(mean=mean, scale=scale)

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardised float32 features (what the models train and score on)."""
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Standardizer:
        return cls(mean=np.asarray(data["mean"], dtype=np.float64),
                   scale=np.asarray(data["scale"], dtype=np.float64))
