from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from sweeper.losses import (
    WeightedBinaryCrossentropy,
    WeightedSparseCategoricalCrossentropy,
    packed_loss_per_row,
)

RNG = np.random.default_rng(0)
LOGITS = (RNG.standard_normal((32, 5)) * 4).astype(np.float32)
LABELS = (RNG.random((32, 5)) < 0.3).astype(np.float32)
POS_WEIGHT = np.array([1.0, 27.0, 0.5, 3.0, 0.0], dtype=np.float32)


def test_weighted_binary_matches_tensorflow():
    expected = tf.reduce_mean(
        tf.nn.weighted_cross_entropy_with_logits(
            labels=LABELS, logits=LOGITS, pos_weight=POS_WEIGHT
        )
    )
    loss = WeightedBinaryCrossentropy(pos_weight=POS_WEIGHT)
    assert float(loss(LABELS, LOGITS)) == pytest.approx(float(expected), rel=1e-5)


def test_weighted_binary_is_stable_for_extreme_logits():
    loss = WeightedBinaryCrossentropy(pos_weight=[2.0, 2.0])
    value = float(loss(np.array([[1.0, 0.0]]), np.array([[-500.0, 500.0]], dtype=np.float32)))
    assert value == pytest.approx((2 * 500 + 500) / 2)


def test_weighted_sparse_categorical_matches_seed_001_formula():
    classes = RNG.integers(0, 4, size=32)
    logits = RNG.standard_normal((32, 4)).astype(np.float32)
    class_weight = np.array([2.04, 0.93, 0.57, 1.49], dtype=np.float32)
    one_hot = tf.one_hot(classes, 4)
    weights = tf.reduce_sum(class_weight * one_hot, axis=1)
    expected = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(one_hot, logits) * weights)
    loss = WeightedSparseCategoricalCrossentropy(class_weight=class_weight)
    assert float(loss(classes, logits)) == pytest.approx(float(expected), rel=1e-5)
    assert float(loss(classes.reshape(-1, 1), logits)) == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize(
    "loss",
    [
        WeightedBinaryCrossentropy(pos_weight=[1.0, 2.5, 30.0]),
        WeightedSparseCategoricalCrossentropy(class_weight=[0.2, 0.3, 0.5]),
    ],
)
def test_losses_round_trip_through_keras_serialisation(loss):
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    y_true = (
        np.array([[1, 0, 1]]) if isinstance(loss, WeightedBinaryCrossentropy) else np.array([2])
    )
    logits = np.array([[0.3, -1.2, 2.0]], dtype=np.float32)
    assert float(restored(y_true, logits)) == pytest.approx(float(loss(y_true, logits)))


def test_model_compiled_with_loss_saves_and_loads(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss=WeightedBinaryCrossentropy(pos_weight=[4.0, 0.5]))
    model.fit(np.ones((4, 3)), np.array([[1, 0]] * 4), epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.loss.pos_weight == [4.0, 0.5]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pos_weight": [1.0, -1.0]}, "finite values >= 0"),
        ({"pos_weight": [1.0, float("nan")]}, "finite values >= 0"),
        ({"pos_weight": []}, "non-empty vector"),
    ],
)
def test_bad_weight_vectors_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WeightedBinaryCrossentropy(**kwargs)


def test_packed_multilabel_loss_is_the_sum_of_member_losses():
    weights = np.stack([POS_WEIGHT, np.ones(5, np.float32), POS_WEIGHT * 2])
    packed_logits = np.stack([LOGITS, LOGITS * 0.5, -LOGITS], axis=1)
    per_row = packed_loss_per_row("multilabel", LABELS, packed_logits, weights)
    total = float(np.mean(keras.ops.convert_to_numpy(per_row)))
    lone = sum(
        float(WeightedBinaryCrossentropy(pos_weight=weights[m])(LABELS, packed_logits[:, m]))
        for m in range(3)
    )
    assert total == pytest.approx(lone, rel=1e-5)


def test_packed_multiclass_loss_is_the_sum_of_member_losses():
    classes = RNG.integers(0, 4, size=32)
    logits = RNG.standard_normal((32, 2, 4)).astype(np.float32)
    weights = np.array([[1, 2, 3, 4], [0.5, 0.5, 1, 1]], dtype=np.float32)
    per_row = packed_loss_per_row("multiclass", classes, logits, weights)
    total = float(np.mean(keras.ops.convert_to_numpy(per_row)))
    lone = sum(
        float(WeightedSparseCategoricalCrossentropy(class_weight=weights[m])(classes, logits[:, m]))
        for m in range(2)
    )
    assert total == pytest.approx(lone, rel=1e-5)
