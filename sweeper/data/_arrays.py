"""Data already in memory: NumPy arrays, or a pandas DataFrame / Series.

What :func:`sweeper.sweep` accepts, turned into a validated :class:`Dataset`:

- ``y`` 2-D (an array, or a DataFrame of 0/1 columns): multi-label, one column per label;
- ``y`` 1-D (an array or a Series) of integer ids ``0..K-1``: multi-class; of any other values
  (class names, or ids that are not ``0..K-1``): multi-class with the sorted distinct values as
  class names. The distinct values are kept as the dataset's ``classes`` (ints, booleans or
  strings), so that a 1-D ``y`` of two values becomes binary one step later
  (:func:`sweeper.data.resolve_task`).

Label names come from ``labels``, else from a DataFrame's columns or the class names, else
``label_0, label_1, ...``. pandas is imported only when it is given: the sweeper does not need it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from sweeper.config import Task
from sweeper.data._dataset import Dataset, validated_dataset
from sweeper.errors import DataError

__all__ = ["class_ids", "dataset_from_arrays"]


def _is_pandas(value: Any) -> bool:
    """Without importing pandas: only an object made by pandas can be one of its types."""
    return "pandas" in sys.modules and type(value).__module__.startswith("pandas")


def _features(X: Any) -> np.ndarray:
    if _is_pandas(X):
        non_numeric = [str(c) for c, kind in X.dtypes.items() if kind.kind not in "biuf"]
        if non_numeric:
            raise DataError(
                f"X: column {non_numeric[0]!r} is not numeric; encode it first.",
                key=non_numeric[0],
            )
        return X.to_numpy(dtype=np.float64)
    if isinstance(X, np.ndarray):
        return X  # its own dtype and shape (a memory map stays one): checked by the Dataset
    try:
        return np.asarray(X)
    except (TypeError, ValueError):
        raise DataError("X: features are not numeric.", key="X") from None


def _label_names(given: Sequence[str] | None, found: Sequence[Any] | None, count: int):
    if given is not None:
        names = tuple(str(name) for name in given)
        if len(names) != count:
            raise DataError(f"labels: {len(names)} names given for {count} labels or classes.",
                            key="labels")
        if len(set(names)) != len(names):
            raise DataError("labels: the names are not distinct.", key="labels")
        return names
    if found is not None:
        return tuple(str(name) for name in found)
    return tuple(f"label_{j}" for j in range(count))


def dataset_from_arrays(X: Any, y: Any, *, labels: Sequence[str] | None = None) -> Dataset:
    """A validated :class:`Dataset` from features ``X`` ``(n, ...)`` (flat features, sequences,
    images, integer token ids; a DataFrame is flat) and labels ``y``."""
    features = _features(X)
    found = None
    if _is_pandas(y) and getattr(y, "ndim", 1) == 2:
        found = list(y.columns)
    values = y.to_numpy() if _is_pandas(y) else np.asarray(y)
    if values.ndim == 2:
        if values.shape[1] == 0:
            raise DataError("y: no label columns.", key="y")
        try:  # numbers are checked in their own dtype: an int8 y is never widened
            matrix = values if values.dtype.kind in "biuf" else values.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError("y: a 2-D y must hold 0/1 labels.", key="y") from None
        names = _label_names(labels, found, matrix.shape[1])
        return validated_dataset(features, matrix, Task.MULTILABEL, names, "arrays")
    if values.ndim != 1:
        raise DataError(
            f"y: must be 1-D (classes) or 2-D (0/1 labels), but got shape {values.shape}.", key="y"
        )
    ids, found_values, class_names = class_ids(values)
    names = _label_names(labels, class_names, len(found_values))
    return validated_dataset(features, ids, Task.MULTICLASS, names, "arrays",
                             classes=found_values)


def class_ids(
    values: np.ndarray, where: str = "y"
) -> tuple[np.ndarray, tuple[Any, ...], tuple[str, ...] | None]:
    """A 1-D ``y`` of class values as ``(ids, classes, names)``: int64 ids ``0..K-1`` into the
    sorted distinct values, those values as the user's ``classes`` (ints, booleans or strings:
    what :func:`sweeper.data.resolve_task` names a binary task's classes by), and the class names
    (``None`` when ``y`` already holds the ids ``0..K-1``: no names to take from them).

    The one conversion of a 1-D target, shared by :func:`dataset_from_arrays` and the file
    sources, so that a ``y`` means the same whether it comes from Python or from a file;
    ``where`` starts its messages (``y``, or a file's path and ``y``)."""
    booleans = values.dtype == bool
    values = _class_values(values, where)
    classes, ids = np.unique(values, return_inverse=True)
    found_values = tuple(bool(v) for v in classes.tolist()) if booleans else tuple(
        classes.tolist())
    integer_ids = np.issubdtype(values.dtype, np.integer) and np.array_equal(
        classes, np.arange(classes.size)
    )
    names = None if integer_ids else tuple(str(name) for name in classes.tolist())
    return ids.reshape(-1).astype(np.int64), found_values, names


def _class_values(values: np.ndarray, where: str) -> np.ndarray:
    """A 1-D ``y`` as class values: booleans and whole-number floats become integer ids; a
    missing value, or a fraction (a score, not a class), is refused naming its row."""
    if values.dtype == bool:
        return values.astype(np.int64)
    if np.issubdtype(values.dtype, np.number):
        as_float = values.astype(np.float64)
        bad = ~np.isfinite(as_float) | (as_float != np.round(as_float))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{where}: row {row} holds {values[row].item()!r}, which is no class id; a 1-D y "
                "holds class ids or names (for several 0/1 labels per row, give a 2-D y).",
                key="y",
            )
        return as_float.astype(np.int64)
    missing = [row for row, value in enumerate(values.tolist())
               if value is None or (isinstance(value, float) and value != value)]
    if missing:
        raise DataError(f"{where}: row {missing[0]} has no class (a missing value).", key="y")
    return values.astype(str)
