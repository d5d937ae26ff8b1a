"""Binary targets: a 1-D ``y`` with two values becomes one 0/1 column of its positive class.

Every source (arrays, CSV ``label_column``, ``.npz`` with a 1-D ``y``) loads a 1-D target as
multi-class with its class values kept (:attr:`Dataset.classes`); :func:`resolve_task` then
applies ``[data] task`` and ``positive_label``:

- ``task = "auto"`` (the default): two values make a binary task, more stay multi-class;
- ``task = "binary"``: the same, but a ``y`` that is not two values is an error;
- ``task = "multiclass"``: a 2-valued ``y`` stays a two-class softmax (what releases before
  binary tasks did).

A binary dataset holds ``y`` as one 0/1 column ``(n, 1)``, 1 for the positive class, with
``labels = (positive name,)`` and ``classes = (negative value, positive value)``: the trainer
trains one logit with the sigmoid loss, and decisions map back to the user's values. The
positive class is ``positive_label`` when given (a class value, or a class's name), else the
rarer value; on a tie (50/50) the second value in sorted order (``1`` of 0/1, ``True`` of
booleans, ``"yes"`` of ``"no"``/``"yes"``).

Pure NumPy, like the rest of :mod:`sweeper.data`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sweeper.config import DataConfig, Task
from sweeper.data._dataset import Dataset

__all__ = ["positive_index", "resolve_task"]


def _text(value: Any) -> str:
    """A class value as text for matching: booleans case-insensitively (``true`` / ``True``)."""
    return str(value).casefold() if isinstance(value, bool) else str(value)


def _matches(value: Any, name: str, given: Any) -> bool:
    if isinstance(given, bool) or isinstance(value, bool):
        return _text(value) == _text(given) or name == str(given)
    return str(value) == str(given) or name == str(given)


def _described(dataset: Dataset) -> str:
    if dataset.task is Task.MULTILABEL:
        return f"y is multi-label ({dataset.n_outputs} labels)"
    return f"y has {dataset.n_outputs} classes"


def positive_index(counts: np.ndarray) -> int:
    """Which of two classes is positive by default: the rarer; on a tie the second."""
    return 0 if counts[0] < counts[1] else 1


def resolve_task(dataset: Dataset, config: DataConfig) -> Dataset:
    """The dataset as ``config`` says (see the module docstring); a setting that does not fit
    the data is a :class:`~sweeper.errors.ConfigError` naming it."""
    given = config.positive_label
    if dataset.task is Task.MULTILABEL:
        if config.task != "auto":
            raise DataConfig.fail(
                "task", f"{config.task!r} needs a 1-D y of class values, but "
                f"{_described(dataset)}.")
        if given is not None:
            raise DataConfig.fail(
                "positive_label", f"applies to a binary y (one column of two values), but "
                f"{_described(dataset)}.")
        return dataset
    if dataset.task is Task.BINARY or config.task == "multiclass":
        return dataset
    if dataset.n_outputs != 2:
        if config.task == "binary":
            raise DataConfig.fail(
                "task", f"'binary' needs a y with two values, but {_described(dataset)}.")
        if given is not None:
            raise DataConfig.fail(
                "positive_label", f"applies to a binary y (one column of two values), but "
                f"{_described(dataset)}.")
        return dataset
    values = dataset.classes if dataset.classes is not None else dataset.labels
    counts = np.bincount(dataset.y, minlength=2)
    if given is None:
        positive = positive_index(counts)
    else:
        found = [j for j in (0, 1) if _matches(values[j], dataset.labels[j], given)]
        if not found:
            raise DataConfig.fail(
                "positive_label", f"{given!r} is not one of y's two values "
                f"({values[0]!r}, {values[1]!r}).")
        positive = found[0]
    automatic = dataset.labels == ("label_0", "label_1") and tuple(values) == (0, 1)
    name = str(values[positive]) if automatic else dataset.labels[positive]
    return Dataset(
        X=dataset.X,
        y=(dataset.y == positive).astype(np.uint8)[:, None],
        task=Task.BINARY,
        labels=(name,),
        classes=(values[1 - positive], values[positive]),
    )
