"""The stratified train / validation / test split, and the checks a split must pass."""

from __future__ import annotations

import numpy as np

from sweeper.config import DataConfig, Task
from sweeper.data._dataset import Dataset, Splits
from sweeper.errors import DataError

__all__ = ["make_splits", "split_dataset"]


def _stratification_keys(dataset: Dataset) -> np.ndarray:
    """Class id per row, or for multi-label the row's rarest positive label (L if none).

    Stratifying on the rarest label keeps every label with a few positives in every split,
    which is what matters for rare labels; frequent labels spread evenly on their own.
    """
    if dataset.task is Task.MULTICLASS:
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


def make_splits(dataset: Dataset, config: DataConfig) -> Splits:
    """Split as ``config`` says, then check that every label or class can be learnt: each has a
    positive (and, for labels, a negative) in the training split."""
    splits = split_dataset(
        dataset,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    counts = splits.train.label_counts()
    if (counts == 0).any():
        name = dataset.labels[int(np.flatnonzero(counts == 0)[0])]
        raise DataError(
            f"{dataset.task.unit} {name!r} has no positive sample in the training split.", key=name
        )
    if dataset.task is Task.MULTILABEL and (counts == splits.train.y.shape[0]).any():
        name = dataset.labels[int(np.flatnonzero(counts == splits.train.y.shape[0])[0])]
        raise DataError(f"label {name!r} has no negative sample in the training split.", key=name)
    return splits
