"""``deferred``: deferred re-weighting (DRW, Cao et al. 2019).

The weighted loss of :mod:`~sweeper.remedies._weights`, unweighted (every weight 1) for the first
``switch_epoch(switch_fraction, epochs)`` epochs and weighted from then on, ``epochs`` (the
study's deferral length) at most: the schedule is a share of that length, so its weighted phase
ends with it (early stopping may end it sooner), not at an early-stopping cap. The trainer runs
the schedule (:attr:`~sweeper.remedies.Remedy.defers`); the loss is the plain weighted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sweeper.config._vocabulary import Task
from sweeper.remedies._remedy import Baseline, Remedy
from sweeper.remedies._weights import Weights, weighted_keras_loss

if TYPE_CHECKING:
    import keras

__all__ = ["DEFERRED_SWITCH", "Deferred"]

DEFERRED_SWITCH = 0.75
"""The ``deferred_balanced`` baseline's switch: the share of the epochs trained unweighted."""


class Deferred(Remedy):
    name = "deferred"
    title = "deferred weights (DRW)"
    defers = True
    description = ("deferred re-weighting (DRW, Cao et al. 2019): the loss unweighted (every "
                   "weight 1) for the first switch_epoch epochs, then weighted: "
                   "ExportedWeights.loss(weighted=False) and weight_schedule().")

    def member_losses(self, task: Task, targets: Any, logits: Any, weights: Any,
                      parameters: Mapping[str, Any]) -> Any:
        return Weights().member_losses(task, targets, logits, weights, parameters)

    def keras_loss(self, task: Task, weights: np.ndarray,
                   parameters: Mapping[str, np.ndarray]) -> keras.losses.Loss:
        return weighted_keras_loss(task, weights)

    def baselines(self, task: Task) -> tuple[Baseline, ...]:
        return (Baseline("deferred_balanced", "deferred balanced weights (DRW at 75%)",
                         {"switch_fraction": DEFERRED_SWITCH},
                         {"family": "sklearn_balanced", "exponent": None}),)

    def summary(self, values: Mapping[str, float]) -> str:
        return f"deferred from {values['switch_fraction']:.0%}"
