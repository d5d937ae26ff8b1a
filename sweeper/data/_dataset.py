"""A data set of one task, validated, and its train / validation / test splits.

A :class:`Dataset` is features ``X`` of any shape ``(rows, ...)`` (float32 and finite, or
integers in their own dtype: pixels, token ids) and labels ``y``: a 0/1 matrix of shape
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweeper.config import Split, Task
from sweeper.data._rows import Features, block_rows, rows_of, with_dtype
from sweeper.data._scaling import Standardizer
from sweeper.errors import DataError

__all__ = ["Dataset", "Splits", "validated_dataset"]


@dataclass(frozen=True)
class Dataset:
    """Validated features and labels of one task.

    ``X`` is an array in memory, a memory map, or a :class:`~sweeper.data.RowView` of a memory
    map's rows (what :meth:`subset` and the splits of a map hold, so that data larger than host
    memory is read a block at a time, never whole); ``y`` is always in memory."""

    X: Features
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

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: ``(features,)``, ``(steps, channels)``, ``(h, w, channels)``."""
        return tuple(int(d) for d in self.X.shape[1:])

    @property
    def n_features(self) -> int:
        """Values per sample (the product of :attr:`input_shape`)."""
        return int(np.prod(self.input_shape))

    def label_counts(self) -> np.ndarray:
        """Positives per label (multi-label; binary: of the positive class) or samples per
        class (multi-class)."""
        if self.task.sigmoid:
            return self.y.sum(axis=0).astype(np.int64)
        return np.bincount(self.y, minlength=self.n_outputs).astype(np.int64)

    def subset(self, rows: np.ndarray) -> Dataset:
        """The rows ``rows``: copied from an array in memory, a :class:`RowView` of a memory map
        (the map and the indices; rows are read when a consumer asks for them)."""
        return Dataset(X=rows_of(self.X, rows), y=self.y[rows], task=self.task,
                       labels=self.labels, classes=self.classes)

    def fingerprint(self) -> str:
        """A short hash of features, labels and label names (and, binary, the two class
        values): the data a study was run on.

        Each array is hashed a block of rows at a time, in order: the same bytes as the whole
        C-ordered array's, so the hash (and a stored study's) is the same whether the features
        are in memory, a memory map or a view of one, without holding them whole."""
        digest = hashlib.sha256()
        digest.update(self.task.encode())
        digest.update("\x1f".join(self.labels).encode())
        if self.task is Task.BINARY:
            digest.update(json.dumps(list(self.classes or ())).encode())
        for array in (self.X, self.y):
            digest.update(str(array.shape).encode())
            rows = block_rows(array)
            for start in range(0, array.shape[0], rows):
                digest.update(np.ascontiguousarray(array[start:start + rows]).data)
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


INTEGER_LIMIT = np.iinfo(np.int32).max
"""Integer features (token ids, counts, pixels) are held in their own dtype when it has 32 bits
or fewer, else as int32 (the device's integer width): a wider value is refused by name."""


def _scan(X: np.ndarray, bad: Callable[[np.ndarray], np.ndarray]) -> tuple[int, np.ndarray | None]:
    """How many values ``bad`` marks, and the index of the first, scanning blocks of rows
    (:data:`~sweeper.data._rows.BLOCK_BYTES`), so a memory-mapped array larger than the host's
    memory is read once and never held whole."""
    rows = block_rows(X)
    count, first = 0, None
    for start in range(0, X.shape[0], rows):
        marked = bad(X[start:start + rows])
        found = int(np.count_nonzero(marked))
        if found and first is None:
            first = np.argwhere(marked)[0]
            first[0] += start
        count += found
    return count, first


def _position(index: np.ndarray) -> str:
    """Where a value sits: ``row 3, feature 2`` (flat features), ``row 3, position (4, 5, 0)``."""
    row, *rest = (int(i) for i in index)
    if len(rest) == 1:
        return f"row {row}, feature {rest[0]}"
    return f"row {row}, position {tuple(rest)}"


def _check_features(X: np.ndarray, where: str) -> Features:
    """Checked features of any shape ``(rows, ...)``: flat features, sequences ``(rows, steps,
    channels)``, images ``(rows, height, width, channels)``, integer token ids.

    Floating features become float32 (checked in their own precision first, so a float64
    value beyond float32's range is named instead of becoming inf); integer features keep their
    dtype (uint8 images stay uint8; int64 ids become int32 when they fit); booleans become
    uint8; a memory map is converted as each block is read (a :class:`RowView`), not copied
    whole. Each problem is a :class:`DataError` naming the first bad value."""
    X = np.asarray(X) if not isinstance(X, np.ndarray) else X
    if X.dtype == object or X.dtype.kind in "USV":
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{where}: features are not numeric.", key="X") from None
    if X.ndim < 2:
        raise DataError(
            f"{where}: features must be an array of shape (rows, ...) with one row per sample, "
            f"but got shape {X.shape}.", key="X",
        )
    if X.size == 0:
        raise DataError(f"{where}: features are empty (shape {X.shape}).", key="X")
    if np.iscomplexobj(X):
        raise DataError(f"{where}: features are complex numbers; give real ones.", key="X")
    if X.dtype == bool:
        return with_dtype(X, np.uint8)
    if X.dtype.kind in "iu":
        if X.dtype.itemsize <= 4 and X.dtype != np.uint32:
            return X
        _, first = _scan(X, lambda block: (block < -INTEGER_LIMIT - 1) | (block > INTEGER_LIMIT))
        if first is not None:
            raise DataError(
                f"{where}: integer feature at {_position(first)} is {X[tuple(first)]}, beyond "
                "int32's range; integer features are ids or counts the device holds as int32.",
                key="X",
            )
        return with_dtype(X, np.int32)
    if X.dtype.kind != "f":
        raise DataError(f"{where}: features of dtype {X.dtype} are not numeric.", key="X")
    count, first = _scan(X, lambda block: ~np.isfinite(block))
    if first is not None:
        raise DataError(
            f"{where}: features contain NaN or inf ({count} values; "
            f"first at {_position(first)}).", key="X",
        )
    if X.dtype.itemsize > 4:
        _, first = _scan(X, lambda block: np.abs(block) > FLOAT32_MAX)
        if first is not None:
            raise DataError(
                f"{where}: feature at {_position(first)} is {X[tuple(first)]:.3g}, beyond "
                "float32's range (about 3.4e38); rescale it.", key="X",
            )
    return X if X.dtype == np.float32 else with_dtype(X, np.float32)


def _check_multilabel(y: np.ndarray, labels: tuple[str, ...], where: str) -> np.ndarray:
    """0/1 labels as uint8 (no copy where they are uint8, int8 or bool already), checked a
    block of rows at a time, so thousands of labels are never widened or copied whole to be
    checked."""
    _, first = _scan(y, lambda block: (block != 0) & (block != 1))
    if first is not None:
        column = labels[int(first[1])]
        raise DataError(
            f"{where}: label {column!r} has values other than 0 and 1 (or missing values).",
            key=column,
        )
    if y.dtype in (np.int8, np.bool_):  # the same bytes: a view, not a copy
        return y.view(np.uint8)
    return np.asarray(y, dtype=np.uint8)


def validated_dataset(
    X: np.ndarray, y: np.ndarray, task: Task, labels: tuple[str, ...], where: str,
    classes: tuple[Any, ...] | None = None,
) -> Dataset:
    """Check features and labels (finite numbers, equal lengths, 0/1 labels) and build the
    :class:`Dataset`; ``where`` names the source in messages, ``classes`` are the user's class
    values of a 1-D ``y`` (see :attr:`Dataset.classes`)."""
    features = _check_features(X, where)
    repeated = sorted({name for name in labels if labels.count(name) > 1})
    if repeated:
        raise DataError(f"{where}: label name {repeated[0]!r} appears more than once.",
                        key=repeated[0])
    if task is Task.MULTILABEL:
        y = _check_multilabel(y, labels, where)
    if features.shape[0] != y.shape[0]:
        raise DataError(
            f"{where}: X and y have different lengths ({features.shape[0]} and {y.shape[0]} rows).",
            key="y",
        )
    if task is Task.MULTICLASS and len(labels) < 2:
        raise DataError(
            f"{where}: the labels hold one class only ({labels[0] if labels else 'none'!r}); "
            "a classifier needs at least two.", key="y",
        )
    return Dataset(X=features, y=y, task=task, labels=labels, classes=classes)

