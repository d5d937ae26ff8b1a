"""The stratified train / validation / test split, and the checks a split must pass."""

from __future__ import annotations

import logging

import numpy as np

from sweeper.config import DataConfig, Task
from sweeper.data._dataset import Dataset, Splits
from sweeper.errors import DataError

__all__ = ["make_splits", "split_dataset", "unevaluable"]

logger = logging.getLogger(__name__)


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


TRAIN, VALIDATION, TEST = 0, 1, 2


def split_dataset(
    dataset: Dataset, *, validation_fraction: float, test_fraction: float, seed: int
) -> Splits:
    """Train / validation / test split, stratified, fixed by ``seed``.

    Each stratum is shuffled and cut on its own; a stratum of at least three rows gives at least
    one row to each split. Multi-label rows are stratified by their rarest label, so a label's
    positives can all fall elsewhere; :func:`_reach_every_split` then moves single rows so that
    every label with at least three positives has one in each split.
    """
    rng = np.random.default_rng(seed)
    keys = _stratification_keys(dataset)
    assignment = np.empty(keys.size, dtype=np.int8)
    for key in np.unique(keys):
        rows = rng.permutation(np.flatnonzero(keys == key))
        n_test = round(rows.size * test_fraction)
        n_validation = round(rows.size * validation_fraction)
        if rows.size >= 3:
            n_test, n_validation = max(n_test, 1), max(n_validation, 1)
        n_test = min(n_test, rows.size)
        n_validation = min(n_validation, rows.size - n_test)
        assignment[rows[:n_test]] = TEST
        assignment[rows[n_test : n_test + n_validation]] = VALIDATION
        assignment[rows[n_test + n_validation :]] = TRAIN
    if dataset.task is Task.MULTILABEL:
        _reach_every_split(dataset.y, assignment, rng)
    return Splits(
        train=dataset.subset(np.flatnonzero(assignment == TRAIN)),
        validation=dataset.subset(np.flatnonzero(assignment == VALIDATION)),
        test=dataset.subset(np.flatnonzero(assignment == TEST)),
    )


def _reach_every_split(y: np.ndarray, assignment: np.ndarray, rng: np.random.Generator) -> None:
    """Move rows so that each label with >= 3 positives has one in every split (in place).

    Labels are visited rarest first; a split that lacks a label's positive takes one from the
    split holding most of them (if it can spare one), the row with the fewest other labels, so
    the other labels' counts move as little as possible.
    """
    counts = y.sum(axis=0)
    for label in np.argsort(counts, kind="stable"):
        if counts[label] < 3:
            continue
        positive = y[:, label].astype(bool)
        for missing in (TRAIN, VALIDATION, TEST):
            held = np.bincount(assignment[positive], minlength=3)
            if held[missing] > 0:
                continue
            donor = int(np.argmax(held))
            if held[donor] < 2:
                continue
            rows = np.flatnonzero(positive & (assignment == donor))
            rows = rows[rng.permutation(rows.size)]
            row = rows[np.argmin(y[rows].sum(axis=1), axis=0)]
            assignment[row] = missing


def unevaluable(splits: Splits) -> tuple[str, ...]:
    """Labels (classes) without a positive in the validation or the test split: their figures
    there are undefined, so macro averages leave them out."""
    missing = (splits.validation.label_counts() == 0) | (splits.test.label_counts() == 0)
    return tuple(name for name, gone in zip(splits.train.labels, missing, strict=True) if gone)


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
    missing = unevaluable(splits)
    if missing:
        logger.warning(
            "%s %s cannot be evaluated (fewer than 3 %s, so none reaches validation or test): "
            "left out of macro averages.", dataset.task.units, ", ".join(map(repr, missing)),
            "positives" if dataset.task is Task.MULTILABEL else "samples",
        )
    return splits
