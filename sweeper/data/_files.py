"""Data from a study file's ``[data] source``: a CSV file, an ``.npz`` archive, or a built-in.

The task follows from the labels: ``label_columns`` (CSV) or a 2-D ``y`` (NPZ) is multi-label,
``label_column`` or a 1-D ``y`` (class ids, names or booleans, as :func:`sweeper.sweep` takes
them) is multi-class (binary, when it holds two values, one step later:
:func:`sweeper.data.resolve_task`).
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from sweeper.config import DataConfig, Task
from sweeper.data._arrays import class_ids
from sweeper.data._builtin import BUILTIN_SOURCES
from sweeper.data._dataset import Dataset, validated_dataset
from sweeper.errors import DataError

__all__ = ["load_source"]

CSV_ONLY_KEYS = ("label_columns", "label_column", "feature_columns")


def _load_npz(path: Path, section: DataConfig) -> Dataset:
    where = str(path)
    for key in CSV_ONLY_KEYS:
        if getattr(section, key) is not None:
            raise DataError(
                f"{where}: [data] {key} applies to CSV files only, not to .npz.", key=key
            )
    try:
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
            missing = [key for key in ("X", "y") if key not in archive.files]
            if missing:
                raise DataError(f"{where}: .npz file has no array named {missing[0]!r}.")
            X, y = archive["X"], archive["y"]
            names = archive["labels"] if "labels" in archive.files else None
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{where}: cannot read .npz file: {error}.") from None
    return _arrays_dataset(X, y, names, where)


def _load_npy_folder(path: Path, section: DataConfig) -> Dataset:
    """A folder of ``X.npy`` (memory-mapped: read as the checks and the training need it, never
    whole), ``y.npy`` and optionally ``labels.npy``: data larger than host memory."""
    where = str(path)
    for key in CSV_ONLY_KEYS:
        if getattr(section, key) is not None:
            raise DataError(
                f"{where}: [data] {key} applies to CSV files only, not to .npy folders.",
                key=key,
            )
    missing = [name for name in ("X.npy", "y.npy") if not (path / name).is_file()]
    if missing:
        raise DataError(f"{where}: the folder has no {missing[0]} (a folder source holds "
                        "X.npy and y.npy).")
    try:
        X = np.load(path / "X.npy", mmap_mode="r", allow_pickle=False)
        y = np.load(path / "y.npy", allow_pickle=False)
        labels = path / "labels.npy"
        names = np.load(labels, allow_pickle=False) if labels.is_file() else None
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{where}: cannot read .npy file: {error}.") from None
    return _arrays_dataset(X, y, names, where)


def _arrays_dataset(X: np.ndarray, y: np.ndarray, names: np.ndarray | None,
                    where: str) -> Dataset:
    """``X``, ``y`` and label names read from a file, as a validated dataset: a 2-D ``y`` is
    multi-label, a 1-D ``y`` multi-class (a 2-valued one becomes binary when the task is
    resolved).

    A 1-D ``y`` of ids ``0..K-1`` keeps its ids (``K`` is its largest id plus one, as studies
    made before other values were accepted were fingerprinted); any other 1-D ``y`` (class
    names, booleans, whole-number floats, other integers) goes through the API's conversion
    (:func:`~sweeper.data._arrays.class_ids`), so a file holds what ``sweeper.sweep`` accepts."""
    found: tuple[str, ...] | None = None
    classes: tuple[Any, ...] | None = None
    if y.ndim == 2:
        task = Task.MULTILABEL
        n_outputs = y.shape[1]
    elif y.ndim == 1:
        task = Task.MULTICLASS
        if np.issubdtype(y.dtype, np.integer) and (y.size == 0 or y.min() >= 0):
            n_outputs = int(y.max()) + 1 if y.size else 0
            y = y.astype(np.int64)
            classes = tuple(range(n_outputs))
        else:
            y, classes, found = class_ids(y, f"{where}: y")
            n_outputs = len(classes)
    else:
        raise DataError(f"{where}: y must be 1-D (classes) or 2-D (0/1 labels).")
    if names is not None:
        labels = tuple(str(name) for name in names.tolist())
        if len(labels) != n_outputs:
            raise DataError(f"{where}: 'labels' names {len(labels)} labels, y has {n_outputs}.")
    elif found is not None:
        labels = found
    else:
        labels = tuple(f"label_{j}" for j in range(n_outputs))
    return validated_dataset(X, y, task, labels, where, classes=classes)


def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(repr(name) for name in names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def _parse_float(text: str, column: str, row: int, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(
            f"{where}: column {column!r}, line {row}: not a number: {text!r}.", key=column
        ) from None


DELIMITERS = ",;\t|"
"""What a CSV's fields may be separated by: the header line tells which (spreadsheets in many
locales write ``;``)."""


def _delimiter(header_line: str) -> str:
    """The delimiter of a CSV from its header line: the candidate that splits it most (a
    comma when none does)."""
    counts = {candidate: header_line.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] > 0 else ","


def _read_csv_rows(path: Path, where: str) -> list[list[str]]:
    """The rows of a CSV file: UTF-8 with or without a byte-order mark, delimiter detected."""
    try:
        # utf-8-sig drops a BOM, which would otherwise glue itself to the first column's name.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            text = handle.read()
    except UnicodeDecodeError as error:
        raise DataError(
            f"{where}: not UTF-8 text (byte {error.start}); save the CSV as UTF-8."
        ) from None
    except OSError as error:
        raise DataError(f"{where}: cannot read CSV file: {error.strerror or error}.") from None
    first_line = text.split("\n", 1)[0]
    try:
        return list(csv.reader(text.splitlines(), delimiter=_delimiter(first_line)))
    except csv.Error as error:
        raise DataError(f"{where}: cannot read CSV file: {error}.") from None


def _load_csv(path: Path, section: DataConfig) -> Dataset:
    where = str(path)
    if section.label_columns is None and section.label_column is None:
        raise DataError(
            f"{where}: a CSV source needs [data] label_columns (multi-label) "
            "or label_column (multi-class)."
        )
    rows = _read_csv_rows(path, where)
    if not rows:
        raise DataError(f"{where}: CSV file is empty.")
    header, body = [name.strip() for name in rows[0]], [row for row in rows[1:] if row]
    if "" in header:
        raise DataError(
            f"{where}: column {header.index('') + 1} of the header has no name.", key="header"
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DataError(
            f"{where}: the header names column {duplicated[0]!r} "
            f"{header.count(duplicated[0])} times; column names must be unique.",
            key=duplicated[0],
        )
    if not body:
        raise DataError(f"{where}: CSV file has a header but no data rows.")
    index = {name: position for position, name in enumerate(header)}
    label_names = section.label_columns or (section.label_column,)
    for name in label_names + (section.feature_columns or ()):
        if name not in index:
            raise DataError(
                f"{where}: no column named {name!r} in the header (columns: "
                f"{_listed(header)}).", key=name,
            )
    leaked = [name for name in section.feature_columns or () if name in label_names]
    if leaked:
        raise DataError(
            f"{where}: column {leaked[0]!r} is both a label and a feature: the model would "
            "read the answer from its inputs.", key=leaked[0],
        )
    features = section.feature_columns or tuple(n for n in header if n not in label_names)
    if not features:
        raise DataError(f"{where}: no feature columns left besides the labels.")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(
                f"{where}: line {number} has {len(row)} fields, the header has {len(header)}."
            )
    X = np.array(
        [[_parse_float(row[index[n]], n, i, where) for n in features] for i, row in
         enumerate(body, start=2)],
        dtype=np.float64,
    ).reshape(len(body), len(features))
    if section.label_columns is not None:
        y = np.array(
            [[_parse_float(row[index[n]], n, i, where) for n in section.label_columns]
             for i, row in enumerate(body, start=2)],
            dtype=np.float64,
        ).reshape(len(body), len(section.label_columns))
        return validated_dataset(X, y, Task.MULTILABEL, section.label_columns, where)
    assert section.label_column is not None  # checked on entry: label_columns is None here
    values = [row[index[section.label_column]].strip() for row in body]
    if any(value == "" for value in values):
        raise DataError(f"{where}: column {section.label_column!r} has empty class names.")
    try:
        classes = sorted(set(values), key=float)
    except ValueError:
        classes = sorted(set(values))
    ids = {name: position for position, name in enumerate(classes)}
    y = np.array([ids[value] for value in values], dtype=np.int64)
    return validated_dataset(X, y, Task.MULTICLASS, tuple(classes), where,
                             classes=_class_values_of(classes))


def _class_values_of(names: list[str]) -> tuple[str | int, ...]:
    """A CSV's class values as the user means them: integers where every one is an integer
    written as text (``0``/``1``), else the text."""
    try:
        numbers = [int(name) for name in names]
    except ValueError:
        return tuple(names)
    return tuple(numbers) if [str(n) for n in numbers] == names else tuple(names)


def load_source(section: DataConfig, base_dir: Path) -> Dataset:
    """Load the study's data: ``builtin:NAME``, a ``.csv`` / ``.npz`` path, or a folder of
    ``X.npy`` (memory-mapped) and ``y.npy``.

    Relative paths are resolved against ``base_dir``, the study file's folder.
    """
    source = section.source
    assert source is not None  # a study file must set [data] source
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTIN_SOURCES:
            raise DataError(
                f"[data] source: unknown built-in data set {name!r}; "
                f"choose one of {sorted(BUILTIN_SOURCES)}."
            )
        for key in CSV_ONLY_KEYS:
            if getattr(section, key) is not None:
                raise DataError(
                    f"[data] {key} applies to CSV files only, not to {source}.", key=key
                )
        return BUILTIN_SOURCES[name](seed=section.seed)
    path = Path(source)
    if not path.is_absolute():
        path = base_dir / path
    if path.is_dir():
        return _load_npy_folder(path, section)
    if not path.is_file():
        raise DataError(f"{path}: data file not found.")
    if path.suffix.lower() == ".npz":
        return _load_npz(path, section)
    if path.suffix.lower() == ".csv":
        return _load_csv(path, section)
    raise DataError(f"{path}: unsupported data file type; use .csv or .npz.")

