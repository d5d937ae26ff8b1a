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

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Standardizer"]

FIT_BLOCK_BYTES = 32 * 2**20
"""The statistics are summed over blocks of about this many float64 bytes. The blocks fix the
order of the float64 sums, hence the last bits of a study's stored mean and scale (and of its
standardised features' fingerprint): a value to keep."""


@dataclass(frozen=True)
class Standardizer:
    """``(X - mean) / scale`` per feature (flat) or per channel (the last axis); a constant
    feature has scale 1 (it becomes 0)."""

    mean: np.ndarray
    scale: np.ndarray

    @staticmethod
    def applies(X: Any) -> bool:
        """Whether features like ``X`` are standardised: floating ones only."""
        return X.dtype.kind == "f"

    @classmethod
    def fit(cls, X: Any) -> Standardizer:
        """Mean and standard deviation of each feature (2-D) or channel (the last axis of
        more), in float64 (float32 sums drift), a block of rows at a time.

        ``X`` is an array or a :class:`~sweeper.data.RowView` of a memory map's rows: each
        block reads only the samples it covers, so the statistics of data larger than host
        memory are computed without holding it. The blocks are the same flat rows (a flat row
        is one feature vector, or one pixel's channels) whatever ``X`` is, so the sums, and the
        study's stored mean and scale, do not depend on where the features live."""
        per_sample = int(np.prod(X.shape[1:-1])) if X.ndim > 2 else 1
        channels = int(X.shape[-1])
        n_flat = int(X.shape[0]) * per_sample
        rows = max(1, FIT_BLOCK_BYTES // max(channels * X.dtype.itemsize * 2, 1))
        total = np.zeros(channels, np.float64)
        squares = np.zeros(channels, np.float64)
        for block in _flat_blocks(X, n_flat, rows, per_sample, channels):
            total += block.sum(axis=0)
        mean = total / n_flat
        for block in _flat_blocks(X, n_flat, rows, per_sample, channels):
            squares += ((block - mean) ** 2).sum(axis=0)
        std = np.sqrt(squares / n_flat)
        scale = np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)
        return cls(mean=mean, scale=scale)

    def transform(self, X: Any) -> np.ndarray:
        """Standardised float32 features (what the models train and score on), computed in
        float64 a block of rows at a time (:data:`FIT_BLOCK_BYTES` of float64) into the one
        float32 result, so no float64 copy of a whole split exists (a block of a memory map's
        rows is transformed as it is read)."""
        X = np.asarray(X)
        scaled = np.empty(X.shape, np.float32)
        rows = max(1, FIT_BLOCK_BYTES // max(8 * int(np.prod(X.shape[1:])), 1))
        for start in range(0, X.shape[0], rows):
            block = np.array(X[start:start + rows], dtype=np.float64)
            block -= self.mean
            block /= self.scale
            scaled[start:start + rows] = block
        return scaled

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Standardizer:
        return cls(mean=np.asarray(data["mean"], dtype=np.float64),
                   scale=np.asarray(data["scale"], dtype=np.float64))


def _flat_blocks(X: Any, n_flat: int, rows: int, per_sample: int,
                 channels: int) -> Iterator[np.ndarray]:
    """Blocks of ``rows`` flat rows of ``X`` (``(samples * per_sample, channels)``) in float64,
    each read from the samples it covers only."""
    for start in range(0, n_flat, rows):
        stop = min(start + rows, n_flat)
        first, last = start // per_sample, -(-stop // per_sample)
        samples = np.asarray(X[first:last]).reshape(-1, channels)
        offset = first * per_sample
        yield np.asarray(samples[start - offset:stop - offset], dtype=np.float64)
