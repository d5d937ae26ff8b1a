"""Data sets: loading, validation, the built-in seed problems, and the stratified split.

A :class:`Dataset` is features ``X`` (float32, finite) and labels ``y``: a 0/1 matrix of shape
``(n, L)`` for a multi-label task, or a vector of class ids in ``[0, K)`` for a multi-class task.
The task follows from the labels: ``label_columns`` (CSV) or a 2-D ``y`` (NPZ) is multi-label,
``label_column`` or a 1-D integer ``y`` is multi-class.

Every check that can fail on a user's data runs here, before a study is created, and raises
:class:`~sweeper.errors.DataError` with one line naming the problem.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweeper.errors import DataError
from sweeper.studyfile import DataSection
from sweeper.weights import Task

__all__ = [
    "BUILTIN_SOURCES",
    "Dataset",
    "LongtailSpec",
    "Splits",
    "load_dataset",
    "longtail_spec",
    "make_longtail_multilabel",
    "make_seed_multiclass",
    "make_seed_multilabel",
    "prepare_splits",
    "seed_multilabel_optimal_hypervolume",
    "seed_multilabel_posterior",
    "split_dataset",
]

SEED_MULTICLASS_COUNTS = (198, 436, 710, 272)


@dataclass(frozen=True)
class Dataset:
    """Validated features and labels of one task."""

    X: np.ndarray
    y: np.ndarray
    task: Task
    labels: tuple[str, ...]

    @property
    def n_outputs(self) -> int:
        return len(self.labels)

    def label_counts(self) -> np.ndarray:
        """Positives per label (multi-label) or samples per class (multi-class)."""
        if self.task == "multilabel":
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


def make_seed_multilabel(
    *, n_rows: int = 30_000, n_labels: int = 30, signal: float = 0.1, seed: int = 0
) -> Dataset:
    """Seed 000: independent labels, each positive with probability ``1/n_labels``.

    Feature ``j`` is 1 for a positive label ``j`` with probability ``signal`` (10%), else 0, so
    90% of positives are indistinguishable from negatives and an unweighted model predicts
    (almost) all zeros.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random((n_rows, n_labels)) < 1.0 / n_labels).astype(np.uint8)
    X = (y.astype(bool) & (rng.random((n_rows, n_labels)) < signal)).astype(np.float32)
    labels = tuple(f"Class{j + 1}" for j in range(n_labels))
    return Dataset(X=X, y=y, task="multilabel", labels=labels)


def seed_multilabel_posterior(X: np.ndarray, *, signal: float = 0.1) -> np.ndarray:
    """``P(y_j = 1 | x)`` of ``builtin:seed-multilabel``, in closed form.

    Feature ``j`` is 1 only for a positive, so ``x_j = 1`` means ``y_j = 1`` surely; otherwise,
    with prior ``p = 1/L``, Bayes gives ``p (1 - signal) / (p (1 - signal) + 1 - p)`` (0.0301 for
    30 labels). The other features say nothing about label ``j``.
    """
    prior = 1.0 / X.shape[1]
    hidden = prior * (1 - signal) / (prior * (1 - signal) + 1 - prior)
    return np.where(np.asarray(X) > 0, 1.0, hidden)


def seed_multilabel_optimal_hypervolume(dataset: Dataset) -> float:
    """Hypervolume (reference 0, 0) of the Bayes-optimal micro PR curve of a seed-multilabel
    split, in closed form.

    The posterior takes two values, so the optimal ranking has two tied groups: the ``A`` pairs
    with ``x_j = 1`` (all positive: recall ``A/P`` at precision 1), then every other pair, which
    a threshold can only take in a random order. Taking a fraction ``l`` of that group gives
    ``TP = A + l b`` and ``TP + FP = A + l t`` (``b = P - A`` positives, ``t`` pairs in it), so
    precision falls monotonically and the area is ``A/P + (b/P) * integral_0^1 TP/(TP+FP) dl``
    ``= A/P + (b/P) [b/t + (A - b A/t) ln(1 + t/A) / t]``.
    """
    signalled = float(np.count_nonzero(dataset.X > 0))
    positives = float(dataset.y.sum())
    rest_positives = positives - signalled
    rest = float(dataset.y.size) - signalled
    integral = rest_positives / rest + (
        (signalled - rest_positives * signalled / rest) * np.log1p(rest / signalled) / rest
    )
    return signalled / positives + rest_positives / positives * integral


def make_seed_multiclass(
    *,
    counts: tuple[int, ...] = SEED_MULTICLASS_COUNTS,
    n_features: int = 8,
    separation: float = 1.5,
    seed: int = 0,
) -> Dataset:
    """Seed 001: four classes of 198/436/710/272 samples with overlapping Gaussian features.

    Class ``c`` has mean ``separation * e_c`` (a unit vector per class in the first ``K`` features)
    and unit variance in every feature, so neighbouring classes overlap and an unweighted model
    sacrifices the small classes to the large one.
    """
    rng = np.random.default_rng(seed)
    n_classes = len(counts)
    if n_features < n_classes:
        raise ValueError(f"`n_features >= {n_classes}` must hold, but got {n_features=}.")
    y = np.repeat(np.arange(n_classes), counts)
    rng.shuffle(y)
    means = np.zeros((n_classes, n_features))
    means[np.arange(n_classes), np.arange(n_classes)] = separation
    X = (means[y] + rng.standard_normal((y.size, n_features))).astype(np.float32)
    labels = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ"[c] for c in range(n_classes))
    return Dataset(X=X, y=y.astype(np.int64), task="multiclass", labels=labels)


@dataclass(frozen=True)
class LongtailSpec:
    """The generative model of ``builtin:longtail-multilabel``.

    Label ``j`` is positive with probability ``priors[j]`` (log-spaced from 1/10 to 1/300),
    independently of the others. Feature ``j`` is Gaussian: ``x_j ~ N(strengths[j] * y_j, 1)``,
    with signal strengths spread from 0.5 (noisy) to 3.0 (clean) and assigned to labels in a
    fixed shuffled order, so rarity and noise do not go together. A few extra features are pure
    noise. The posterior of each label is then known in closed form (:meth:`posterior`).
    """

    priors: np.ndarray
    strengths: np.ndarray
    n_noise: int

    def posterior(self, X: np.ndarray) -> np.ndarray:
        """``P(y_j = 1 | x)`` for every row and label: the Bayes-optimal scores.

        With ``x_j | y_j ~ N(m y_j, 1)`` and ``y_j`` independent of the other features, the
        log-odds are ``log(p/(1-p)) + m x_j - m^2 / 2``.
        """
        n_labels = self.priors.size
        x = np.asarray(X, dtype=np.float64)[:, :n_labels]
        log_odds = (np.log(self.priors / (1 - self.priors)) + self.strengths * x
                    - self.strengths**2 / 2)
        return 0.5 * (1.0 + np.tanh(0.5 * log_odds))


def longtail_spec(n_labels: int = 30, n_noise: int = 4, seed: int = 0) -> LongtailSpec:
    rng = np.random.default_rng([seed, 7])
    priors = np.geomspace(1 / 10, 1 / 300, n_labels)
    strengths = rng.permutation(np.linspace(0.5, 3.0, n_labels))
    return LongtailSpec(priors=priors, strengths=strengths, n_noise=n_noise)


def make_longtail_multilabel(
    *, n_rows: int = 30_000, n_labels: int = 30, n_noise: int = 4, seed: int = 0
) -> Dataset:
    """Long-tailed multi-label data whose true posterior is known (see :class:`LongtailSpec`)."""
    spec = longtail_spec(n_labels, n_noise, seed)
    rng = np.random.default_rng(seed)
    y = (rng.random((n_rows, n_labels)) < spec.priors).astype(np.uint8)
    signal = spec.strengths * y + rng.standard_normal((n_rows, n_labels))
    noise = rng.standard_normal((n_rows, n_noise))
    X = np.hstack([signal, noise]).astype(np.float32)
    labels = tuple(f"Tail{j + 1}" for j in range(n_labels))
    return Dataset(X=X, y=y, task="multilabel", labels=labels)


BUILTIN_SOURCES = {
    "seed-multilabel": make_seed_multilabel,
    "seed-multiclass": make_seed_multiclass,
    "longtail-multilabel": make_longtail_multilabel,
}


def _check_features(X: np.ndarray, where: str) -> np.ndarray:
    if X.ndim != 2:
        raise DataError(f"{where}: features must be a 2-D array, but got shape {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{where}: features are empty (shape {X.shape}).")
    try:
        X = X.astype(np.float32)
    except (TypeError, ValueError):
        raise DataError(f"{where}: features are not numeric.") from None
    bad = ~np.isfinite(X)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise DataError(
            f"{where}: features contain NaN or inf ({int(bad.sum())} values; "
            f"first at row {row}, feature {column})."
        )
    return X


def _check_multilabel(y: np.ndarray, labels: tuple[str, ...], where: str) -> np.ndarray:
    if not np.isin(y, (0, 1)).all():
        column = int(np.argwhere(~np.isin(y, (0, 1)))[0][1])
        raise DataError(
            f"{where}: label {labels[column]!r} has values other than 0 and 1."
        )
    return y.astype(np.uint8)


def _finish(X: np.ndarray, y: np.ndarray, task: Task, labels: tuple[str, ...], where: str):
    X = _check_features(X, where)
    if X.shape[0] != y.shape[0]:
        raise DataError(
            f"{where}: X and y have different lengths ({X.shape[0]} and {y.shape[0]} rows)."
        )
    return Dataset(X=X, y=y, task=task, labels=labels)


def _load_npz(path: Path, section: DataSection) -> Dataset:
    where = str(path)
    for key in ("label_columns", "label_column", "feature_columns"):
        if getattr(section, key) is not None:
            raise DataError(f"{where}: [data] {key} applies to CSV files only, not to .npz.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("X", "y") if key not in archive.files]
            if missing:
                raise DataError(f"{where}: .npz file has no array named {missing[0]!r}.")
            X, y = archive["X"], archive["y"]
            names = archive["labels"] if "labels" in archive.files else None
    except DataError:
        raise
    except (OSError, ValueError) as error:
        raise DataError(f"{where}: cannot read .npz file: {error}.") from None
    if y.ndim == 2:
        task: Task = "multilabel"
        n_outputs = y.shape[1]
    elif y.ndim == 1:
        task = "multiclass"
        if not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
            raise DataError(f"{where}: a 1-D y must hold class ids 0, 1, ..., K-1.")
        n_outputs = int(y.max()) + 1 if y.size else 0
    else:
        raise DataError(f"{where}: y must be 1-D (class ids) or 2-D (0/1 labels).")
    if names is not None:
        labels = tuple(str(name) for name in names.tolist())
        if len(labels) != n_outputs:
            raise DataError(f"{where}: 'labels' names {len(labels)} labels, y has {n_outputs}.")
    else:
        labels = tuple(f"label_{j}" for j in range(n_outputs))
    y = _check_multilabel(y, labels, where) if task == "multilabel" else y.astype(np.int64)
    return _finish(X, y, task, labels, where)


def _parse_float(text: str, column: str, row: int, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{where}: column {column!r}, row {row}: not a number: {text!r}.") from None


def _load_csv(path: Path, section: DataSection) -> Dataset:
    where = str(path)
    if section.label_columns is None and section.label_column is None:
        raise DataError(
            f"{where}: a CSV source needs [data] label_columns (multi-label) "
            "or label_column (multi-class)."
        )
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{where}: cannot read CSV file: {error}.") from None
    if not rows:
        raise DataError(f"{where}: CSV file is empty.")
    header, body = rows[0], [row for row in rows[1:] if row]
    index = {name: position for position, name in enumerate(header)}
    label_names = section.label_columns or (section.label_column,)
    for name in label_names + (section.feature_columns or ()):
        if name not in index:
            raise DataError(f"{where}: no column named {name!r} in the header.")
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
        y = _check_multilabel(y, section.label_columns, where)
        return _finish(X, y, "multilabel", section.label_columns, where)
    values = [row[index[section.label_column]].strip() for row in body]
    if any(value == "" for value in values):
        raise DataError(f"{where}: column {section.label_column!r} has empty class names.")
    try:
        classes = sorted(set(values), key=float)
    except ValueError:
        classes = sorted(set(values))
    ids = {name: position for position, name in enumerate(classes)}
    y = np.array([ids[value] for value in values], dtype=np.int64)
    return _finish(X, y, "multiclass", tuple(classes), where)


def load_dataset(section: DataSection, base_dir: Path) -> Dataset:
    """Load the study's data: ``builtin:NAME``, or a ``.csv`` / ``.npz`` path.

    Relative paths are resolved against ``base_dir``, the study file's folder.
    """
    source = section.source
    if source.startswith("builtin:"):
        name = source.removeprefix("builtin:")
        if name not in BUILTIN_SOURCES:
            raise DataError(
                f"[data] source: unknown built-in data set {name!r}; "
                f"choose one of {sorted(BUILTIN_SOURCES)}."
            )
        for key in ("label_columns", "label_column", "feature_columns"):
            if getattr(section, key) is not None:
                raise DataError(f"[data] {key} applies to CSV files only, not to {source}.")
        return BUILTIN_SOURCES[name](seed=section.seed)
    path = Path(source)
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise DataError(f"{path}: data file not found.")
    if path.suffix.lower() == ".npz":
        return _load_npz(path, section)
    if path.suffix.lower() == ".csv":
        return _load_csv(path, section)
    raise DataError(f"{path}: unsupported data file type; use .csv or .npz.")


def _stratification_keys(dataset: Dataset) -> np.ndarray:
    """Class id per row, or for multi-label the row's rarest positive label (L if none).

    Stratifying on the rarest label keeps every label with a few positives in every split,
    which is what matters for rare labels; frequent labels spread evenly on their own.
    """
    if dataset.task == "multiclass":
        return dataset.y
    counts = dataset.label_counts()
    rarity = np.where(dataset.y.astype(bool), counts[None, :], np.iinfo(np.int64).max)
    keys = np.argmin(rarity, axis=1)
    keys[~dataset.y.any(axis=1)] = dataset.n_outputs
    return keys


def split_dataset(
    dataset: Dataset, *, validation_fraction: float, test_fraction: float, seed: int
) -> Splits:
    """Train / validation / test split, stratified, fixed by ``seed``.

    Each stratum is shuffled and cut on its own; a stratum of at least three rows gives at least
    one row to each split.
    """
    rng = np.random.default_rng(seed)
    keys = _stratification_keys(dataset)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for key in np.unique(keys):
        rows = rng.permutation(np.flatnonzero(keys == key))
        n_test = round(rows.size * test_fraction)
        n_validation = round(rows.size * validation_fraction)
        if rows.size >= 3:
            n_test, n_validation = max(n_test, 1), max(n_validation, 1)
        n_test = min(n_test, rows.size)
        n_validation = min(n_validation, rows.size - n_test)
        parts["test"].append(rows[:n_test])
        parts["validation"].append(rows[n_test : n_test + n_validation])
        parts["train"].append(rows[n_test + n_validation :])
    split = {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}
    return Splits(
        train=dataset.subset(split["train"]),
        validation=dataset.subset(split["validation"]),
        test=dataset.subset(split["test"]),
    )


def prepare_splits(section: DataSection, base_dir: Path) -> Splits:
    """Load, split and check that every label or class has a positive in the training split."""
    dataset = load_dataset(section, base_dir)
    splits = split_dataset(
        dataset,
        validation_fraction=section.validation_fraction,
        test_fraction=section.test_fraction,
        seed=section.seed,
    )
    counts = splits.train.label_counts()
    if (counts == 0).any():
        name = dataset.labels[int(np.flatnonzero(counts == 0)[0])]
        kind = "label" if dataset.task == "multilabel" else "class"
        raise DataError(f"{kind} {name!r} has no positive sample in the training split.")
    if dataset.task == "multilabel" and (counts == splits.train.y.shape[0]).any():
        name = dataset.labels[int(np.flatnonzero(counts == splits.train.y.shape[0])[0])]
        raise DataError(f"label {name!r} has no negative sample in the training split.")
    return splits
