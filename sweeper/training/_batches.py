"""The sweeper's batch order: which rows each gradient step sees, the same on every path.

The packed trainer, a user's training step through :func:`fit_plain` and production training
from an export all draw the batches from :func:`batch_order`, so a member trained packed and a
lone model trained on the same seed see the same rows in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

__all__ = ["batch_order", "fit_plain"]


def batch_order(
    n_rows: int, batch_size: int, epochs: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per epoch, the shuffled row indices as a ``(steps, batch_size)`` matrix and its mask.

    The last batch is padded with row 0 and masked out, so a masked mean over each batch equals
    Keras's mean over a short last batch.
    """
    rng = np.random.default_rng(seed)
    steps = -(-n_rows // batch_size)
    padding = steps * batch_size - n_rows
    mask = np.concatenate([np.ones(n_rows, np.float32), np.zeros(padding, np.float32)])
    orders = []
    for _ in range(epochs):
        order = np.concatenate([rng.permutation(n_rows), np.zeros(padding, np.int64)])
        orders.append((order.reshape(steps, batch_size).astype(np.int32),
                       mask.reshape(steps, batch_size)))
    return orders


class _SweeperBatches(keras.utils.PyDataset):
    """The sweeper's batch order as a Keras dataset: epoch ``e`` yields the batches of
    :func:`batch_order`'s ``e``-th permutation (the last one short, as Keras's own).

    The epoch is set by a callback at each epoch's start (:meth:`follow`): Keras also calls
    ``on_epoch_end`` after probing the first batches, so counting those calls would drift."""

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int, epochs: int, seed: int):
        super().__init__()
        self.X, self.y = X, y
        self.orders = batch_order(X.shape[0], batch_size, epochs, seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.orders[0][0].shape[0]

    def __getitem__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        order, mask = self.orders[min(self.epoch, len(self.orders) - 1)]
        rows = order[step][mask[step] > 0]
        return self.X[rows], self.y[rows]

    def follow(self) -> keras.callbacks.Callback:
        """A callback that points the dataset at the epoch ``fit`` is starting."""
        return keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs=None: setattr(self, "epoch", epoch)
        )


def fit_plain(
    model: keras.Model,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    initial_epoch: int = 0,
) -> keras.Model:
    """Train a compiled plain model with the sweeper's batch order (for production training).

    With :func:`sweeper.training.build_mlp`, an exported trial's seed and its ``training``
    epochs, this reproduces the trial's training; any other compiled model trains on the same
    sequence of batches. ``validation_data`` and ``callbacks`` go to ``model.fit`` (Keras's
    ``EarlyStopping(restore_best_weights=True)`` stops as the sweeper's early stopping does).
    ``initial_epoch`` continues a fit (``epochs`` stays the total, as in ``model.fit``) on the
    batches of its epochs: deferred re-weighting's second phase, after recompiling the model
    with the weighted loss and the same optimizer (see ``ExportedWeights.weight_schedule``).
    """
    batches = _SweeperBatches(X, y, batch_size, epochs, seed)
    model.fit(batches, epochs=epochs, shuffle=False, validation_data=validation_data,
              callbacks=[batches.follow(), *callbacks], verbose=0, initial_epoch=initial_epoch)
    return model
