"""``weights``: the weighted cross-entropy from the first epoch (every study before remedies).

Sigmoid tasks: ``tf.nn.weighted_cross_entropy_with_logits`` per label with the positives' and
the negatives' weights, averaged over labels; multi-class: softmax cross-entropy with each row
weighted by ``sum_k M[y, k] p_k`` (true-class weighting is ``M[y, k] = w_y``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sweeper.config._vocabulary import Task
from sweeper.remedies._remedy import Remedy

if TYPE_CHECKING:
    import keras

__all__ = ["Weights", "weighted_keras_loss"]


class Weights(Remedy):
    name = "weights"
    title = "weights"
    description = "the weighted loss from the first epoch."

    def member_losses(self, task: Task, targets: Any, logits: Any, weights: Any,
                      parameters: Mapping[str, Any]) -> Any:
        from keras import ops

        from sweeper.remedies._losses import (
            cost_weighted_softmax_cross_entropy,
            weighted_sigmoid_cross_entropy,
        )

        if Task(task).sigmoid:
            return ops.mean(weighted_sigmoid_cross_entropy(
                targets, logits, weights[:, 0, :], weights[:, 1, :]), axis=-1)
        return cost_weighted_softmax_cross_entropy(targets, logits, weights)

    def keras_loss(self, task: Task, weights: np.ndarray,
                   parameters: Mapping[str, np.ndarray]) -> keras.losses.Loss:
        return weighted_keras_loss(task, weights)


def weighted_keras_loss(task: Task, weights: np.ndarray) -> keras.losses.Loss:
    """The plain weighted loss's Keras class: :class:`~sweeper.remedies.WeightedBinaryCrossentropy`
    (``neg_weight`` only where it is not all ones), or for a matrix whose rows are constant
    (true-class weighting) :class:`~sweeper.remedies.WeightedSparseCategoricalCrossentropy`
    with one weight per class, else
    :class:`~sweeper.remedies.CostSensitiveSparseCategoricalCrossentropy`."""
    from sweeper.remedies import _losses

    weights = np.asarray(weights, dtype=np.float64)
    if Task(task).sigmoid:
        negative = None if np.all(weights[1] == 1.0) else weights[1]
        return _losses.WeightedBinaryCrossentropy(pos_weight=weights[0], neg_weight=negative)
    if np.all(weights == weights[:, :1]):
        return _losses.WeightedSparseCategoricalCrossentropy(class_weight=weights[:, 0].tolist())
    return _losses.CostSensitiveSparseCategoricalCrossentropy(weights)
