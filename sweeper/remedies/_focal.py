"""``focal``: the focal loss (Lin et al. 2017), the weights as alpha.

Sigmoid tasks: ``q z (1 - p)^gamma softplus(-x) + r (1 - z) p^gamma softplus(x)`` per label
(:func:`~sweeper.remedies.focal_sigmoid_cross_entropy`); multi-class: each row's weighted
cross-entropy times ``(1 - p_y)^gamma`` (:func:`~sweeper.remedies.focal_factor`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sweeper.config._vocabulary import Task
from sweeper.remedies._remedy import Baseline, Remedy, Searched

if TYPE_CHECKING:
    import keras

__all__ = ["Focal"]


class Focal(Remedy):
    name = "focal"
    title = "focal loss"
    own_searched = (Searched("gamma", (0.5, 3.0), 0.0, 10.0,
                             "focal: range of the focusing exponent gamma (0 is cross-entropy)"),)
    description = ("the focal loss w (1 - p_t)^gamma CE, the weights as alpha (sigmoid: the "
                   "positives' and negatives' weights; softmax: the row's weight).")

    def member_losses(self, task: Task, targets: Any, logits: Any, weights: Any,
                      parameters: Mapping[str, Any]) -> Any:
        from keras import ops

        from sweeper.remedies._losses import (
            cost_weighted_softmax_cross_entropy,
            focal_factor,
            focal_sigmoid_cross_entropy,
        )

        gamma = ops.expand_dims(parameters["gamma"], -1)
        if Task(task).sigmoid:
            return ops.mean(focal_sigmoid_cross_entropy(
                targets, logits, weights[:, 0, :], weights[:, 1, :], gamma), axis=-1)
        per_row = cost_weighted_softmax_cross_entropy(targets, logits, weights)
        return per_row * focal_factor(ops.expand_dims(targets, 1), logits,
                                      parameters["gamma"])

    def keras_loss(self, task: Task, weights: np.ndarray,
                   parameters: Mapping[str, np.ndarray]) -> keras.losses.Loss:
        from sweeper.remedies import _losses

        gamma = float(parameters["gamma"])
        weights = np.asarray(weights, dtype=np.float64)
        if Task(task).sigmoid:
            return _losses.FocalBinaryCrossentropy(pos_weight=weights[0],
                                                   neg_weight=weights[1], gamma=gamma)
        return _losses.FocalSparseCategoricalCrossentropy(weights, gamma=gamma)

    def baselines(self, task: Task) -> tuple[Baseline, ...]:
        return (Baseline("focal", "focal loss (gamma 2)", {"gamma": 2.0}),)

    def summary(self, values: Mapping[str, float]) -> str:
        return f"focal g={values['gamma']:.2f}"
