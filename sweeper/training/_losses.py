"""The packed loss: several weight candidates trained at once, each under its own remedy.

A packed model outputs ``(batch, members, outputs)`` logits; its loss is the *sum* over members
of each member's own loss, so each member's gradient is exactly the gradient it would get alone.
Each member's loss is its remedy's (:data:`sweeper.remedies.REMEDIES`), so one batch may mix
remedies.

**The loss parameters** a trainer receives are a mapping of arrays with a leading member axis:

- ``weights``: ``(members, 2, labels)`` (the positives' then the negatives' weights, binary and
  multi-label) or ``(members, K, K)`` (the cost-weight matrix ``M``, multi-class; see
  :mod:`sweeper.search`);
- for each remedy ``r`` the batch holds (a study's ``[search] remedies`` and its candidates'),
  ``"remedy.r"``, ``(members,)``, 1 for the members it trains and 0 for the others, and its
  arrays as ``"r.key"`` (:meth:`~sweeper.remedies.Remedy.member_parameters`; a member of
  another remedy carries neutral values, and its loss under ``r`` is masked out). A mapping
  with ``weights`` alone trains every member with the plain weighted loss;
- ``switch`` and ``until`` ``(members,)``: deferred re-weighting's schedule, read by the
  trainer, not the loss (see :class:`~sweeper.training.Trainer`).

:class:`TrainingLoss` is that loss for one task, in the two forms training needs: the packed
per-member losses, and the Keras loss of one member (its remedy's,
:meth:`~sweeper.remedies.Remedy.keras_loss`), which a user's own training step and production
training from an export both compile with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from sweeper.config import Task
from sweeper.remedies import REMEDIES, membership, remedy_named
from sweeper.remedies._losses import loss_targets

__all__ = [
    "SCHEDULE_PARAMETERS",
    "LossParameters",
    "TrainingLoss",
    "as_loss_parameters",
    "loss_for",
    "packed_loss_per_row",
    "packed_member_losses",
    "remedies_in",
]

LossParameters = Mapping[str, Any]
"""A batch's loss parameters by name (see the module docstring), each an array whose first
axis is the member (packed form) or, for :meth:`TrainingLoss.keras_loss`, one member's values
without that axis."""

SCHEDULE_PARAMETERS = ("switch", "until")
"""The parameters the trainer reads (deferred re-weighting's schedule), not the loss."""


def as_loss_parameters(parameters: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A batch's loss parameters as a dict of float32 arrays; they must hold ``weights``."""
    if not isinstance(parameters, Mapping) or "weights" not in parameters:
        raise ValueError("loss parameters must be a mapping holding `weights` (see "
                         "sweeper.training.TrainingLoss), but got "
                         f"{type(parameters).__name__}.")
    return {name: np.asarray(value, dtype=np.float32) for name, value in parameters.items()}


def remedies_in(parameters: Mapping[str, Any]) -> list[str]:
    """The remedies a batch's parameters hold (their membership arrays), in registry order;
    ``["weights"]`` for plain weights."""
    return [name for name in REMEDIES if membership(name) in parameters] or ["weights"]


def _own(parameters: Mapping[str, Any], remedy: str) -> dict[str, Any]:
    """A remedy's arrays, without their ``"remedy."`` prefix."""
    prefix = f"{remedy}."
    return {name[len(prefix):]: value for name, value in parameters.items()
            if name.startswith(prefix)}


class TrainingLoss:
    """The loss of one task, packed and per member (see the module docstring).

    The contract, which tests hold every remedy to: for the same labels, logits and
    parameters, ``keras_loss(p_m)(y, logits[:, m])`` equals the mean over rows of
    ``member_losses(y, logits, p)[:, m]``."""

    def __init__(self, task: Task | str) -> None:
        self.task = Task(task)

    def weights_shape(self, n_outputs: int) -> tuple[int, int]:
        """One member's ``weights`` shape for ``n_outputs`` labels or classes."""
        return (n_outputs, n_outputs) if self.task is Task.MULTICLASS else (2, n_outputs)

    def member_losses(self, y_true: Any, logits: Any, parameters: LossParameters) -> Any:
        """``(batch, members)``: each row's loss under each member's parameters, for
        ``(batch, members, outputs)`` logits, computed in float32 (whatever the logits' dtype:
        under mixed precision they are bfloat16)."""
        logits = ops.cast(logits, "float32")
        weights = ops.cast(parameters["weights"], "float32")
        targets = loss_targets(self.task, y_true, logits)
        names = remedies_in(parameters)
        total = None
        for name in names:
            own = {key: ops.cast(value, "float32")
                   for key, value in _own(parameters, name).items()}
            losses = REMEDIES[name].member_losses(self.task, targets, logits, weights, own)
            if len(names) > 1:
                losses = losses * ops.cast(parameters[membership(name)], "float32")
            total = losses if total is None else total + losses
        return total

    def keras_loss(self, parameters: LossParameters) -> keras.losses.Loss:
        """The Keras loss of one member (``parameters`` without the member axis), for a model
        with ``(batch, outputs)`` logits: its remedy's."""
        names = remedies_in(parameters)
        name = names[0] if len(names) == 1 else next(
            n for n in names if float(np.asarray(parameters[membership(n)])) == 1.0)
        own = {key: np.asarray(value, dtype=np.float64)
               for key, value in _own(parameters, name).items()}
        return remedy_named(name).keras_loss(self.task, np.asarray(parameters["weights"]), own)


def loss_for(task: Task | str) -> TrainingLoss:
    """The loss of ``task``."""
    return TrainingLoss(task)


def packed_member_losses(task: Task, y_true: Any, logits: Any,
                         parameters: LossParameters) -> Any:
    """``(batch, members)``: each row's loss under each member's own parameters
    (:meth:`TrainingLoss.member_losses`). A member's mean over rows is the loss its lone
    model reports (early stopping watches it on the validation rows)."""
    return TrainingLoss(task).member_losses(y_true, logits, parameters)


def packed_loss_per_row(task: Task, y_true: Any, logits: Any,
                        parameters: LossParameters) -> Any:
    """Per-row loss of a packed model: the sum over members of each member's own loss.

    The mean over rows of the result is ``sum_m mean_rows(loss_m)``: each member's gradient
    equals its lone gradient, and members share nothing but the batch order.
    """
    return ops.sum(packed_member_losses(task, y_true, logits, parameters), axis=-1)
