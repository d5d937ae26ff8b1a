from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from sweeper.search import multiclass_loss_weights, multilabel_loss_weights
from sweeper.training import (
    CostSensitiveSparseCategoricalCrossentropy,
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
        WeightedBinaryCrossentropy(pos_weight=[1.0, 2.5, 30.0], neg_weight=[0.5, 0.6, 0.7]),
        WeightedSparseCategoricalCrossentropy(class_weight=[0.2, 0.3, 0.5]),
        CostSensitiveSparseCategoricalCrossentropy([[0, 1, 2], [3, 0, 1], [1, 1, 0]]),
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
    negatives = np.array([1.0, 0.5, 2.0, 1.0, 1.0], dtype=np.float32)
    weights = np.stack([
        multilabel_loss_weights(POS_WEIGHT),
        multilabel_loss_weights(np.ones(5)),
        multilabel_loss_weights(POS_WEIGHT * 2, negatives),
    ])
    packed_logits = np.stack([LOGITS, LOGITS * 0.5, -LOGITS], axis=1)
    per_row = packed_loss_per_row("multilabel", LABELS, packed_logits, {"weights": weights})
    total = float(np.mean(keras.ops.convert_to_numpy(per_row)))
    lone = sum(
        float(
            WeightedBinaryCrossentropy(pos_weight=weights[m, 0], neg_weight=weights[m, 1])(
                LABELS, packed_logits[:, m]
            )
        )
        for m in range(3)
    )
    assert total == pytest.approx(lone, rel=1e-5)


def test_packed_multiclass_loss_is_the_sum_of_member_losses():
    classes = RNG.integers(0, 4, size=32)
    logits = RNG.standard_normal((32, 2, 4)).astype(np.float32)
    class_weights = np.array([[1, 2, 3, 4], [0.5, 0.5, 1, 1]], dtype=np.float32)
    weights = np.stack([multiclass_loss_weights(w) for w in class_weights])
    per_row = packed_loss_per_row("multiclass", classes, logits, {"weights": weights})
    total = float(np.mean(keras.ops.convert_to_numpy(per_row)))
    lone = sum(
        float(
            WeightedSparseCategoricalCrossentropy(class_weight=class_weights[m])(
                classes, logits[:, m]
            )
        )
        for m in range(2)
    )
    assert total == pytest.approx(lone, rel=1e-5)


def test_negative_weight_multiplies_the_negatives_term():
    neg_weight = np.array([0.5, 1.0, 2.0, 3.0, 0.0], dtype=np.float32)
    softplus = np.logaddexp(0.0, LOGITS.astype(np.float64))
    softplus_of_negative = np.logaddexp(0.0, -LOGITS.astype(np.float64))
    by_hand = LABELS * POS_WEIGHT * softplus_of_negative + (1 - LABELS) * neg_weight * softplus
    loss = WeightedBinaryCrossentropy(pos_weight=POS_WEIGHT, neg_weight=neg_weight)
    assert float(loss(LABELS, LOGITS)) == pytest.approx(by_hand.mean(), rel=1e-5)


CLASSES = RNG.integers(0, 3, size=16)
CLASS_LOGITS = (RNG.standard_normal((16, 3)) * 2).astype(np.float32)
CLASS_WEIGHT = np.array([0.5, 2.0, 4.0])


def softmax_and_cross_entropy(logits, classes):
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return probabilities, -np.log(probabilities[np.arange(len(classes)), classes])


def test_cost_sensitive_loss_with_true_class_rows_is_true_class_weighting():
    matrix = multiclass_loss_weights(CLASS_WEIGHT, "true_class")
    cost = CostSensitiveSparseCategoricalCrossentropy(matrix)
    plain = WeightedSparseCategoricalCrossentropy(CLASS_WEIGHT)
    assert float(cost(CLASSES, CLASS_LOGITS)) == pytest.approx(
        float(plain(CLASSES, CLASS_LOGITS)), rel=1e-5
    )


def test_predicted_class_weighting_uses_the_expected_predicted_weight():
    probabilities, cross_entropy = softmax_and_cross_entropy(CLASS_LOGITS, CLASSES)
    by_hand = np.mean(cross_entropy * (probabilities @ CLASS_WEIGHT))
    matrix = multiclass_loss_weights(CLASS_WEIGHT, "predicted_class")
    loss = CostSensitiveSparseCategoricalCrossentropy(matrix)
    assert float(loss(CLASSES, CLASS_LOGITS)) == pytest.approx(by_hand, rel=1e-5)


def test_cost_matrix_weighting_by_hand():
    # One row, true class 0, logits (0, 0, log 2): p = (1/4, 1/4, 1/2); cross-entropy log 4.
    # Cost of predicting 1 or 2 for truth 0: 1 and 3 (correct: 0); w_0 = 0.5.
    # Row weight: 0.5 * (0 * 1/4 + 1 * 1/4 + 3 * 1/2) = 0.875.
    costs = np.array([[0, 1, 3], [1, 0, 1], [1, 1, 0]], dtype=float)
    matrix = multiclass_loss_weights(CLASS_WEIGHT, "cost_matrix", costs)
    loss = CostSensitiveSparseCategoricalCrossentropy(matrix)
    value = float(loss(np.array([0]), np.array([[0.0, 0.0, np.log(2.0)]], dtype=np.float32)))
    assert value == pytest.approx(0.875 * np.log(4.0), rel=1e-6)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the gradient is taken with tf.GradientTape"
)
def test_cost_weight_steers_the_gradient_but_is_not_minimised():
    """d loss / d logits = weight * (p - onehot): the weight is held constant."""
    matrix = multiclass_loss_weights(CLASS_WEIGHT, "predicted_class")
    loss = CostSensitiveSparseCategoricalCrossentropy(matrix, reduction="sum")
    logits = tf.constant(CLASS_LOGITS)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = loss(CLASSES, logits)
    gradient = tape.gradient(value, logits).numpy()
    probabilities, _ = softmax_and_cross_entropy(CLASS_LOGITS.astype(np.float64), CLASSES)
    weight = probabilities @ CLASS_WEIGHT
    expected = weight[:, None] * (probabilities - np.eye(3)[CLASSES])
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[1, 2, 3]], "must be K x K"),
        ([[1, -1], [0, 1]], "finite values >= 0"),
    ],
)
def test_bad_weight_matrices_are_rejected(matrix, message):
    with pytest.raises(ValueError, match=message):
        CostSensitiveSparseCategoricalCrossentropy(matrix)
