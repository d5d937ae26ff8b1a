"""A data set of one task, validated, and its train / validation / test splits.

A :class:`Dataset` is features ``X`` (float32, finite) and labels ``y``: a 0/1 matrix of shape
``(n, L)`` for a multi-label task, a vector of class ids in ``[0, K)`` for a multi-class task,
or for a binary task one 0/1 column ``(n, 1)`` (1: the positive class) with ``labels`` the
positive class's name and ``classes`` the user's two values, ``(negative, positive)``.
Every loader (files, built-ins, arrays in memory) ends in :func:`validated_dataset`, so the same
checks run on every source, before a study is created, each raising
:class:`~sweeper.errors.DataError` with one line naming the problem.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweeper.config import Split, Task
from sweeper.data._scaling import Standardizer
from sweeper.errors import DataError

__all__ = ["Dataset", "Splits", "validated_dataset"]


@dataclass(frozen=True)
class Dataset:
    """Validated features and labels of one task."""

    X: np.ndarray
    y: np.ndarray
    task: Task
    labels: tuple[str, ...]
    classes: tuple[Any, ...] | None = None
    """The user's class values (JSON values: strings, integers, booleans) where ``y`` was one
    column of them: per class in label order (multi-class), or ``(negative, positive)``
    (binary); ``None`` for multi-label data."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", Task(self.task))

    @property
    def n_outputs(self) -> int:
        return len(self.labels)

    def label_counts(self) -> np.ndarray:
        """Positives per label (multi-label; binary: of the positive class) or samples per
        class (multi-class)."""
        if self.task.sigmoid:
            return self.y.sum(axis=0).astype(np.int64)
        return np.bincount(self.y, minlength=self.n_outputs).astype(np.int64)

    def subset(self, rows: np.ndarray) -> Dataset:
        return Dataset(X=self.X[rows], y=self.y[rows], task=self.task, labels=self.labels,
                       classes=self.classes)

    def fingerprint(self) -> str:
        """A short hash of features, labels and label names (and, binary, the two class
        values): the data a study was run on."""
        digest = hashlib.sha256()
        digest.update(self.task.encode())
        digest.update("\x1f".join(self.labels).encode())
        if self.task is Task.BINARY:
            digest.update(json.dumps(list(self.classes or ())).encode())
        for array in (self.X, self.y):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Splits:
    """The rows a study trains on, selects on (validation) and reports on (test).

    With K-fold cross-validation (``folds`` set), ``train`` and ``validation`` are the same
    non-test rows: the member of fold ``k`` trains on the rows of the other folds and scores the
    rows of fold ``k``, so every non-test row is scored once, out of fold, and the validation
    figures are computed on all of them.
    """

    train: Dataset
    validation: Dataset
    test: Dataset
    folds: np.ndarray | None = None
    """Cross-validation only: the fold (0 to K-1) of each row of ``train``."""
    scaling: Standardizer | None = None
    """The standardisation applied to every split's features (``None``: raw features)."""
    note: str | None = None
    """Why the validation is what it is, when the sweeper chose it (``folds = "auto"``)."""

    def held_out(self, split: Split) -> Dataset:
        """The validation or the test rows."""
        return self.validation if split is Split.VALIDATION else self.test

    @property
    def n_folds(self) -> int:
        """K for K-fold cross-validation; 1 for one validation split."""
        return 1 if self.folds is None else int(self.folds.max()) + 1

    @property
    def rows_per_model(self) -> int:
        """Rows each trained model learns from: the training split, or the other K-1 folds."""
        if self.folds is None:
            return self.train.X.shape[0]
        return self.train.X.shape[0] - int(np.bincount(self.folds).mean())


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_features(X: np.ndarray, where: str) -> np.ndarray:
    """Finite float32 features, or a :class:`DataError` naming the first bad value (checked in
    float64 first, so a value beyond float32's range is named instead of becoming inf)."""
    if X.ndim != 2:
        raise DataError(
            f"{where}: features must be a 2-D array, but got shape {X.shape}.", key="X"
        )
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{where}: features are empty (shape {X.shape}).", key="X")
    if np.iscomplexobj(X):
        raise DataError(f"{where}: features are complex numbers; give real ones.", key="X")
    try:
        wide = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: features are not numeric.", key="X") from None
    bad = ~np.isfinite(wide)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise DataError(
            f"{where}: features contain NaN or inf ({int(bad.sum())} values; "
            f"first at row {row}, feature {column}).", key="X",
        )
    huge = np.abs(wide) > FLOAT32_MAX
    if huge.any():
        row, column = np.argwhere(huge)[0]
        raise DataError(
            f"{where}: feature {column} at row {row} is {wide[row, column]:.3g}, beyond float32's "
            f"range (about 3.4e38); rescale it.", key="X",
        )
    return wide.astype(np.float32)


def _check_multilabel(y: np.ndarray, labels: tuple[str, ...], where: str) -> np.ndarray:
    if not np.isin(y, (0, 1)).all():
        column = int(np.argwhere(~np.isin(y, (0, 1)))[0][1])
        raise DataError(
            f"{where}: label {labels[column]!r} has values other than 0 and 1 "
            "(or missing values).", key=labels[column],
        )
    return y.astype(np.uint8)


def validated_dataset(
    X: np.ndarray, y: np.ndarray, task: Task, labels: tuple[str, ...], where: str,
    classes: tuple[Any, ...] | None = None,
) -> Dataset:
    """Check features and labels (finite numbers, equal lengths, 0/1 labels) and build the
    :class:`Dataset`; ``where`` names the source in messages, ``classes`` are the user's class
    values of a 1-D ``y`` (see :attr:`Dataset.classes`)."""
    X = _check_features(X, where)
    repeated = sorted({name for name in labels if labels.count(name) > 1})
    if repeated:
        raise DataError(f"{where}: label name {repeated[0]!r} appears more than once.",
                        key=repeated[0])
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
    return Dataset(X=X, y=y, task=task, labels=labels, classes=classes)

