"""The seam between the trial loop and training: a :class:`Trainer` turns a batch of loss
parameters into scores.

The trial loop (:mod:`sweeper.study`) asks Optuna for a batch of trials, turns each trial's
candidate into its loss parameters, and hands the batch to a trainer; everything after it
(records, storage, the front, the verdict, the export) reads only the :class:`BatchScores` it
returns. :class:`~sweeper.training.PackedTrainer` (every member in one packed network) and
:class:`~sweeper.training.FitTrainer` (the user's own training step, one model per member)
are the two implementations; the storage benchmark adds one that returns scores at once.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BatchScores", "Trainer", "TrainingProgress"]


@dataclass(frozen=True)
class TrainingProgress:
    """Where a batch's training is, reported after each epoch (packed) or model (a user's
    step): what the log and the progress bar show while a long batch trains."""

    epoch: int
    """Epochs done (packed), or models trained (a user's step)."""
    epochs: int
    """The most there will be: the epoch budget, or the number of models."""
    training: int
    """Members still training (early stopping has not ended them)."""
    members: int
    best_loss: float | None = None
    """The lowest validation loss any member reached so far (``None``: not measured)."""
    unit: str = "epoch"
    """What :attr:`epoch` counts: ``epoch`` (packed) or ``model`` (a user's step)."""

    def describe(self) -> str:
        """``epoch 12 of at most 212, 5 of 8 members training, best validation loss 0.2310``"""
        best = "" if self.best_loss is None else f", best validation loss {self.best_loss:.4f}"
        return (f"{self.unit} {self.epoch} of at most {self.epochs}, {self.training} of "
                f"{self.members} members training{best}")


@dataclass(frozen=True)
class BatchScores:
    """Each member's probabilities on the validation and test rows, and the wall time spent."""

    validation: np.ndarray
    """``(members, validation rows, outputs)``; out of fold under cross-validation."""
    test: np.ndarray
    """``(members, test rows, outputs)``; the mean of the fold members' under cross-validation."""
    seconds: float
    epochs: np.ndarray | None = None
    """Per member, the epochs its kept weights trained for (early stopping's best epoch + 1);
    ``None`` when unknown or when every member trained all epochs."""

    @functools.cached_property
    def diverged(self) -> np.ndarray:
        """Per member: whether training produced non-finite scores (computed once)."""
        finite = np.isfinite(self.validation).all(axis=(1, 2)) & np.isfinite(self.test).all(
            axis=(1, 2)
        )
        return ~finite


class Trainer(abc.ABC):
    """Trains a batch of ``members`` loss candidates from their initial state and scores them.

    The contract:

    - **Built with** the study's splits (train, validation, test, and the folds under
      cross-validation), its model settings (``[model]``, with ``epochs`` and ``batch_size``
      resolved), the number of members and the seed; reused for every batch of that size.
    - **Receives**, per call of :meth:`train_and_score`, the batch's loss parameters: a
      mapping of arrays with a leading member axis (the layout :mod:`sweeper.training`'s loss
      documents): ``weights``, ``(members, 2, labels)`` for binary and multi-label
      (positives' and negatives' weights) or ``(members, classes, classes)`` for multi-class
      (see :mod:`sweeper.search`), and each remedy's membership and arrays
      (:mod:`sweeper.remedies`). A ``switch`` parameter (deferred re-weighting: per member,
      the epoch from which its weights apply) is the trainer's, not the loss's: the member
      trains unweighted before it and is not judged by early stopping until it (the packed
      trainer per member, a user's own step in two calls); so is ``until`` (per member, the
      most epochs it trains; 0: all of them), a deferred member's length.
    - **Returns** :class:`BatchScores`: each member's probabilities on the validation rows (out
      of fold under K-fold cross-validation: row ``r`` scored by the member that did not learn
      from it) and on the test rows (the mean of the K fold members'), the best epochs and the
      seconds spent. Every member trains as it would alone: the same initial weights for the
      same seed, whatever the batch's size or its other members.
    """

    members: int
    """Candidates per batch."""
    on_progress: Callable[[TrainingProgress], None] | None = None
    """Called with the batch's progress as it trains (set by the trial loop)."""

    def report(self, progress: TrainingProgress) -> None:
        if self.on_progress is not None:
            self.on_progress(progress)

    @abc.abstractmethod
    def train_and_score(self, parameters: Mapping[str, Any]) -> BatchScores:
        """Train every member from its initial state with its own loss parameters and score
        the validation and test rows."""
