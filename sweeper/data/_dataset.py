"""A data set of one task, validated, and its train / validation / test splits.

A :class:`Dataset` is features ``X`` (float32, finite) and labels ``y``: a 0/1 matrix of shape
``(n, L)`` for a multi-label task, or a vector of class ids in ``[0, K)`` for a multi-class task.
Every loader (files, built-ins, arrays in memory) ends in :func:`validated_dataset`, so the same
checks run on every source, before a study is created, each raising
:class:`~sweeper.errors.DataError` with one line naming the problem.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from sweeper.config import Split, Task
from sweeper.errors import DataError

__all__ = ["Dataset", "Splits", "validated_dataset"]


@dataclass(frozen=True)
class Dataset:
    """Validated features and labels of one task."""

    X: np.ndarray
    y: np.ndarray
    task: Task
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task(self.task))

    @property
    def n_outputs(self) -> int:
        return len(self.labels)

    def label_counts(self) -> np.ndarray:
        """Positives per label (multi-label) or samples per class (multi-class)."""
        if self.task is Task.MULTILABEL:
            return self.y.sum(axis=0).astype(np.int64)
        return np.bincount(self.y, minlength=self.n_outputs).astype(np.int64)

    def subset(self, rows: np.ndarray) -> Dataset:
        return Dataset(X=self.X[rows], y=self.y[rows], task=self.task, labels=self.labels)

    def fingerprint(self) -> str:
        """A short hash of features, labels and label names: the data a study was run on."""
        digest = hashlib.sha256()
        digest.update(self.task.encode())
        digest.update("\x1f".join(self.labels).encode())
        for array in (self.X, self.y):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Splits:
    train: Dataset
    validation: Dataset
    test: Dataset

    def held_out(self, split: Split) -> Dataset:
        """The validation or the test rows."""
        return self.validation if split is Split.VALIDATION else self.test


def _check_features(X: np.ndarray, where: str) -> np.ndarray:
    if X.ndim != 2:
        raise DataError(
            f"{where}: features must be a 2-D array, but got shape {X.shape}.", key="X"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{where}: features are empty (shape {X.shape}).", key="X")
    try:
        X = X.astype(np.float32)
    except (TypeError, ValueError):
        raise DataError(f"{where}: features are not numeric.", key="X") from None
    bad = ~np.isfinite(X)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise DataError(
            f"{where}: features contain NaN or inf ({int(bad.sum())} values; "
            f"first at row {row}, feature {column}).", key="X",
        )
    return X


def _check_multilabel(y: np.ndarray, labels: tuple[str, ...], where: str) -> np.ndarray:
    if not np.isin(y, (0, 1)).all():
        column = int(np.argwhere(~np.isin(y, (0, 1)))[0][1])
        raise DataError(
            f"{where}: label {labels[column]!r} has values other than 0 and 1 "
            "(or missing values).", key=labels[column],
        )
    return y.astype(np.uint8)


def validated_dataset(
    X: np.ndarray, y: np.ndarray, task: Task, labels: tuple[str, ...], where: str
) -> Dataset:
    """Check features and labels (finite numbers, equal lengths, 0/1 labels) and build the
    :class:`Dataset`; ``where`` names the source in messages."""
    X = _check_features(X, where)
    if task is Task.MULTILABEL:
        y = _check_multilabel(y, labels, where)
    if X.shape[0] != y.shape[0]:
        raise DataError(
            f"{where}: X and y have different lengths ({X.shape[0]} and {y.shape[0]} rows).",
            key="y",
        )
    if task is Task.MULTICLASS and len(labels) < 2:
        raise DataError(
            f"{where}: the labels hold one class only ({labels[0] if labels else 'none'!r}); "
            "a classifier needs at least two.", key="y",
        )
    return Dataset(X=X, y=y, task=task, labels=labels)

