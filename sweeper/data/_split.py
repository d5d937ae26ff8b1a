"""The stratified train / validation / test split, and the checks a split must pass."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from sweeper.config import AUTO_FOLDS, MIN_VALIDATION_POSITIVES, DataConfig, Task
from sweeper.data._dataset import Dataset, Splits
from sweeper.data._rows import scaled_features
from sweeper.data._scaling import Standardizer
from sweeper.errors import DataError

__all__ = ["assign_folds", "make_splits", "split_dataset", "unevaluable"]

logger = logging.getLogger(__name__)


def _stratification_keys(dataset: Dataset) -> np.ndarray:
    """Class id per row, or for multi-label the row's rarest positive label (L if none).

    Stratifying on the rarest label keeps every label with a few positives in every split,
    which is what matters for rare labels; frequent labels spread evenly on their own.
    """
    if dataset.task is Task.MULTICLASS:
        return dataset.y
    counts = dataset.label_counts()
    y = dataset.y
    keys = np.empty(y.shape[0], dtype=np.int64)
    # A block of rows at a time: the int64 rarity matrix is 8 bytes per label and row.
    step = max(1, RARITY_BLOCK_BYTES // (8 * max(y.shape[1], 1)))
    for start in range(0, y.shape[0], step):
        positive = y[start:start + step].astype(bool)
        rarity = np.where(positive, counts[None, :], np.iinfo(np.int64).max)
        block = np.argmin(rarity, axis=1)
        block[~positive.any(axis=1)] = dataset.n_outputs
        keys[start:start + step] = block
    return keys


RARITY_BLOCK_BYTES = 8 * 2**20


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
    assignment = _assign_splits(
        dataset, validation_fraction=validation_fraction, test_fraction=test_fraction, seed=seed
    )
    return Splits(
        train=dataset.subset(np.flatnonzero(assignment == TRAIN)),
        validation=dataset.subset(np.flatnonzero(assignment == VALIDATION)),
        test=dataset.subset(np.flatnonzero(assignment == TEST)),
    )


def _assign_splits(
    dataset: Dataset, *, validation_fraction: float, test_fraction: float, seed: int
) -> np.ndarray:
    """Per row: :data:`TRAIN`, :data:`VALIDATION` or :data:`TEST` (see :func:`split_dataset`)."""
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
    return assignment


def assign_folds(dataset: Dataset, n_folds: int, seed: int) -> np.ndarray:
    """Stratified K-fold assignment: the fold (0 to ``n_folds - 1``) of each row.

    Each stratum (a class, or a multi-label row's rarest label) is shuffled and dealt out in
    turn, starting with the folds that hold fewest rows so far: a stratum's rows differ by at
    most one between folds, and so do the folds' sizes.
    """
    rng = np.random.default_rng([seed, n_folds])
    keys = _stratification_keys(dataset)
    folds = np.empty(keys.size, dtype=np.int64)
    sizes = np.zeros(n_folds, dtype=np.int64)
    for key in np.unique(keys):
        rows = rng.permutation(np.flatnonzero(keys == key))
        smallest_first = np.argsort(sizes, kind="stable")
        folds[rows] = smallest_first[np.arange(rows.size) % n_folds]
        sizes += np.bincount(folds[rows], minlength=n_folds)
    return folds


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


def _choose_folds(dataset: Dataset, validation: Dataset, config: DataConfig):
    """``config.folds``, or for ``"auto"`` :data:`AUTO_FOLDS` when one validation split would
    hold fewer than :data:`MIN_VALIDATION_POSITIVES` positives of the rarest label or class,
    else 1; with the reason, for ``"auto"``."""
    if config.folds is not None:
        return config.folds, None
    counts = validation.label_counts()
    rarest = int(np.argmin(counts))
    what = {Task.MULTILABEL: "positives of label", Task.BINARY: "rows of the positive class"}.get(
        dataset.task, "samples of class")
    held = f"{counts[rarest]} {what} {dataset.labels[rarest]!r}"
    if counts[rarest] < MIN_VALIDATION_POSITIVES:
        return AUTO_FOLDS, (
            f"{AUTO_FOLDS}-fold cross-validation: one validation split would hold {held} "
            f"(fewer than {MIN_VALIDATION_POSITIVES}), too few to rank trials; "
            "[data] folds = 1 turns it off"
        )
    return 1, (
        f"one validation split, holding {held} (at least {MIN_VALIDATION_POSITIVES}); "
        f"[data] folds = {AUTO_FOLDS} cross-validates"
    )


def make_splits(dataset: Dataset, config: DataConfig) -> Splits:
    """Split as ``config`` says (cross-validation folds on the non-test rows where ``folds``
    says so), check that every label or class can be learnt (each has a positive, and for
    labels a negative, in the training rows), and standardise the features."""
    assignment = _assign_splits(
        dataset,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    counts = np.bincount(assignment, minlength=3)
    for part, name, key in ((TEST, "test", "test_fraction"),
                            (VALIDATION, "validation", "validation_fraction"),
                            (TRAIN, "training", None)):
        if counts[part] == 0:
            raise DataError(
                f"{dataset.X.shape[0]} rows are too few to split: the {name} split gets none "
                f"(validation_fraction {config.validation_fraction}, test_fraction "
                f"{config.test_fraction}).", key=key or "y",
            )
    validation = dataset.subset(np.flatnonzero(assignment == VALIDATION))
    n_folds, note = _choose_folds(dataset, validation, config)
    test = dataset.subset(np.flatnonzero(assignment == TEST))
    if n_folds == 1:
        train = dataset.subset(np.flatnonzero(assignment == TRAIN))
        splits = Splits(train=train, validation=validation, test=test, note=note)
    else:
        pool = dataset.subset(np.flatnonzero(assignment != TEST))
        if pool.X.shape[0] < 2 * n_folds:
            raise DataError(
                f"[data] folds = {n_folds} needs at least {2 * n_folds} non-test rows, but "
                f"there are {pool.X.shape[0]}.", key="folds",
            )
        folds = assign_folds(pool, n_folds, config.seed)
        splits = Splits(train=pool, validation=pool, test=test, folds=folds, note=note)
    counts = splits.train.label_counts()
    if dataset.task is Task.BINARY:
        _check_binary(dataset, splits)
    if (counts == 0).any():
        name = dataset.labels[int(np.flatnonzero(counts == 0)[0])]
        raise DataError(
            f"{dataset.task.unit} {name!r} has no positive sample in the training split.", key=name
        )
    if dataset.task is Task.MULTILABEL and (counts == splits.train.y.shape[0]).any():
        name = dataset.labels[int(np.flatnonzero(counts == splits.train.y.shape[0])[0])]
        raise DataError(f"label {name!r} has no negative sample in the training split.", key=name)
    missing = unevaluable(splits)
    if len(missing) == dataset.n_outputs:
        raise DataError(
            f"no {dataset.task.unit} can be evaluated: each has fewer than 3 "
            f"{'positives' if dataset.task is Task.MULTILABEL else 'samples'} or none left for "
            "validation and test; give more rows of the rare ones.", key="y",
        )
    if missing:
        logger.warning(
            "%s %s cannot be evaluated (fewer than 3 %s, so none reaches validation or test): "
            "left out of macro averages.", dataset.task.units, ", ".join(map(repr, missing)),
            "positives" if dataset.task is Task.MULTILABEL else "samples",
        )
    if config.standardize and Standardizer.applies(dataset.X):
        return standardized(splits)
    return splits


def _check_binary(dataset: Dataset, splits: Splits) -> None:
    """A binary task's classes, each in one line: the positive class needs a row in training,
    validation and test, the negative class one in training."""
    assert dataset.classes is not None  # a binary dataset keeps its two values
    negative, positive = dataset.classes
    rows = int(dataset.y.sum())
    for part, name in ((splits.train, "training"), (splits.validation, "validation"),
                       (splits.test, "test")):
        if int(part.y.sum()) == 0:
            raise DataError(
                f"the positive class {positive!r} has no row in the {name} split ({rows} "
                f"positive row{'s' * (rows != 1)} in all; each split needs one, so at least 3); "
                "give more positive rows.", key="positive_label",
            )
    if int(splits.train.y.sum()) == splits.train.y.shape[0]:
        raise DataError(
            f"the negative class {negative!r} has no row in the training split.", key="y"
        )


def standardized(splits: Splits) -> Splits:
    """Every split's features standardised with the training rows' mean and scale (with
    cross-validation the non-test rows': each fold's model sees the other folds' statistics
    too, a small leak that keeps one transformation for the whole study and for production).

    Features in memory are transformed now; the views of a memory map
    (:class:`~sweeper.data.RowView`) standardise each block as it is read, so no standardised
    copy of data larger than host memory is made."""
    scaling = Standardizer.fit(splits.train.X)

    def scaled(dataset: Dataset) -> Dataset:
        return dataclasses.replace(dataset, X=scaled_features(dataset.X, scaling))

    train = scaled(splits.train)
    validation = train if splits.folds is not None else scaled(splits.validation)
    return dataclasses.replace(
        splits, train=train, validation=validation, test=scaled(splits.test), scaling=scaling
    )
