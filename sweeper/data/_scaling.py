"""Feature standardisation: each feature to mean 0 and variance 1, fitted on the training rows.

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
    """``(X - mean) / scale`` per feature; a constant feature has scale 1 (it becomes 0)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """Mean and standard deviation of each column, in float64 (float32 sums drift)."""
        mean = X.mean(axis=0, dtype=np.float64)
        std = X.std(axis=0, dtype=np.float64)
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
