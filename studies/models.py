"""Model factories the study files in this folder name (``factory = "models:NAME"``): the study
file's folder is importable, and every worker imports them from there."""

from __future__ import annotations

import keras


def small_conv(input_shape: tuple[int, ...], n_outputs: int) -> keras.Model:
    """A small conv net for 8x8 grey images of uint8 pixels, with logit outputs."""
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(n_outputs),
    ])
