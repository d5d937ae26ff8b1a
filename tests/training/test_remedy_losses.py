"""The remedies' losses (focal, logit-adjusted): the packed form equals the Keras loss object of
one member, Keras's own focal losses where their parametrisation matches, a brute-force NumPy
loop otherwise; serialisation round trips. No training: these run on either backend."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from sweeper.training import (
    LOSSES,
    CostSensitiveSparseCategoricalCrossentropy,
    FocalBinaryCrossentropy,
    FocalSparseCategoricalCrossentropy,
    LogitAdjustedBinaryCrossentropy,
    LogitAdjustedSparseCategoricalCrossentropy,
    WeightedBinaryCrossentropy,
)

RNG = np.random.default_rng(7)
ROWS, MEMBERS, OUTPUTS = 40, 4, 3


def numpy_of(value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def mixed_parameters(loss, rng=RNG) -> dict[str, np.ndarray]:
    """Four members: plain, focal, logit-adjusted, both (every member carries every parameter;
    neutral values turn a remedy off)."""
    log_prior = np.log(rng.dirichlet(np.ones(OUTPUTS), size=MEMBERS))
    return {
        "weights": rng.uniform(0.2, 5, size=(MEMBERS, *loss.weights_shape(OUTPUTS))),
        "gamma": np.array([0.0, 2.0, 0.0, 1.5]),
        "tau_train": np.array([0.0, 0.0, 1.0, 0.7]),
        "log_prior": log_prior,
    }


def labels_for(loss, rng=RNG) -> np.ndarray:
    if loss.weights_shape(OUTPUTS)[0] == 2:
        return (rng.random((ROWS, OUTPUTS)) < 0.3).astype(np.float32)
    return rng.integers(0, OUTPUTS, ROWS).astype(np.int32)


def brute_force(name: str, y: np.ndarray, logits: np.ndarray, p: dict[str, np.ndarray]) -> float:
    """One member's loss, a row and an output at a time, from the formulas of issue 20."""
    weights, gamma = p["weights"], float(p.get("gamma", 0.0))
    shift = float(p.get("tau_train", 0.0)) * np.asarray(p.get("log_prior", 0.0))
    total = 0.0
    for row in range(y.shape[0]):
        z = logits[row].astype(np.float64) + shift
        if name == "sigmoid_cross_entropy":
            value = 0.0
            for j in range(z.size):
                prob = 1.0 / (1.0 + math.exp(-z[j]))
                if y[row, j] == 1:
                    value += weights[0, j] * (1 - prob) ** gamma * -math.log(prob)
                else:
                    value += weights[1, j] * prob ** gamma * -math.log(1 - prob)
            total += value / z.size
        else:
            prob = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            true = int(y[row])
            row_weight = float(weights[true] @ prob)  # sum_k M[y, k] p_k
            total += (1 - prob[true]) ** gamma * row_weight * -math.log(prob[true])
    return total / y.shape[0]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_mixed_batch_of_remedies_is_the_same_function_packed_and_as_keras_losses(name):
    """Every member of a packed batch carries every remedy parameter: member m's packed loss
    (mean over rows) equals its own Keras loss object and the brute-force formula."""
    loss = LOSSES[name]
    parameters = mixed_parameters(loss)
    y = labels_for(loss)
    logits = (RNG.normal(size=(ROWS, MEMBERS, OUTPUTS)) * 2).astype(np.float32)
    packed = numpy_of(loss.member_losses(
        y, logits, {key: value.astype(np.float32) for key, value in parameters.items()}
    )).mean(axis=0)
    for m in range(MEMBERS):
        one = {key: value[m] for key, value in parameters.items()}
        keras_loss = loss.keras_loss(one)
        alone = float(numpy_of(keras_loss(y, logits[:, m])))
        assert packed[m] == pytest.approx(alone, rel=1e-5)
        assert alone == pytest.approx(brute_force(name, y, logits[:, m], one), rel=1e-4)
    kinds = [type(loss.keras_loss({key: value[m] for key, value in parameters.items()}))
             for m in range(MEMBERS)]
    if name == "sigmoid_cross_entropy":
        assert kinds == [WeightedBinaryCrossentropy, FocalBinaryCrossentropy,
                         LogitAdjustedBinaryCrossentropy, LogitAdjustedBinaryCrossentropy]
    else:
        assert kinds == [CostSensitiveSparseCategoricalCrossentropy,
                         FocalSparseCategoricalCrossentropy,
                         LogitAdjustedSparseCategoricalCrossentropy,
                         LogitAdjustedSparseCategoricalCrossentropy]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_neutral_remedy_parameters_change_nothing(name):
    """gamma = 0 and tau_train = 0 are today's loss, value for value."""
    loss = LOSSES[name]
    parameters = mixed_parameters(loss)
    y = labels_for(loss)
    logits = (RNG.normal(size=(ROWS, MEMBERS, OUTPUTS)) * 3).astype(np.float32)
    plain = numpy_of(loss.member_losses(y, logits, {"weights": parameters["weights"]}))
    neutral = numpy_of(loss.member_losses(y, logits, {
        **parameters, "gamma": np.zeros(MEMBERS), "tau_train": np.zeros(MEMBERS)}))
    np.testing.assert_allclose(neutral, plain, rtol=1e-5)  # float32 rounding: same function


@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, 0.25), (0.5, 0.8), (3.0, None)])
def test_binary_focal_equals_keras_binary_focal_crossentropy(gamma, alpha):
    """Keras's alpha is one scalar: positives weighted ``alpha``, negatives ``1 - alpha`` on
    every label (``pos_weight = [alpha] * L``, ``neg_weight = [1 - alpha] * L``); without class
    balancing both are 1."""
    y = (RNG.random((64, 5)) < 0.3).astype(np.float32)
    logits = (RNG.normal(size=(64, 5)) * 2).astype(np.float32)
    if alpha is None:
        ours = FocalBinaryCrossentropy(pos_weight=[1.0] * 5, gamma=gamma)
        theirs = keras.losses.BinaryFocalCrossentropy(from_logits=True, gamma=gamma)
    else:
        ours = FocalBinaryCrossentropy(pos_weight=[alpha] * 5, neg_weight=[1 - alpha] * 5,
                                       gamma=gamma)
        theirs = keras.losses.BinaryFocalCrossentropy(
            from_logits=True, gamma=gamma, apply_class_balancing=True, alpha=alpha)
    assert float(numpy_of(ours(y, logits))) == pytest.approx(
        float(numpy_of(theirs(y, logits))), rel=1e-4)


@pytest.mark.parametrize("gamma", [0.0, 2.0, 0.7])
def test_multiclass_focal_equals_keras_categorical_focal_crossentropy(gamma):
    """Keras's per-class alpha is the true-class weight: ``M[y, k] = alpha_y``; its targets
    are one-hot, ours class ids."""
    alpha = [0.25, 1.5, 3.0, 0.7]
    y = RNG.integers(0, 4, 64)
    logits = (RNG.normal(size=(64, 4)) * 2).astype(np.float32)
    ours = FocalSparseCategoricalCrossentropy(np.tile(np.array(alpha)[:, None], (1, 4)),
                                              gamma=gamma)
    theirs = keras.losses.CategoricalFocalCrossentropy(from_logits=True, gamma=gamma,
                                                       alpha=alpha)
    one_hot = np.eye(4, dtype=np.float32)[y]
    assert float(numpy_of(ours(y, logits))) == pytest.approx(
        float(numpy_of(theirs(one_hot, logits))), rel=1e-4)


def test_balanced_softmax_is_cross_entropy_of_the_prior_shifted_logits():
    """tau = 1 with unit weights (Ren et al. 2020): softmax cross-entropy of ``z + log pi``."""
    prior = np.array([0.7, 0.2, 0.1])
    y = RNG.integers(0, 3, 32)
    logits = RNG.normal(size=(32, 3)).astype(np.float32)
    ours = LogitAdjustedSparseCategoricalCrossentropy(np.ones((3, 3)), log_prior=np.log(prior))
    theirs = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    shifted = (logits + np.log(prior)).astype(np.float32)
    assert float(numpy_of(ours(y, logits))) == pytest.approx(
        float(numpy_of(theirs(y, shifted))), rel=1e-5)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_remedies_have_finite_gradients_at_extreme_logits(gamma):
    """The focal factors are written through softplus / logsumexp: no 0 * inf at p = 0 or 1."""
    for loss, y in (
        (FocalBinaryCrossentropy([2.0, 1.0], gamma=gamma), np.array([[1.0, 0.0]])),
        (FocalSparseCategoricalCrossentropy(np.ones((2, 2)), gamma=gamma), np.array([0])),
    ):
        for value in (-200.0, 200.0):
            logits = keras.Variable(np.array([[value, -value]], dtype=np.float32))
            if keras.backend.backend() == "jax":
                import jax

                grad = jax.grad(lambda z, loss=loss, y=y: loss(y, z))(logits.value)
            else:
                import tensorflow as tf

                with tf.GradientTape() as tape:
                    result = loss(y, logits.value)
                grad = tape.gradient(result, logits.value)
            assert np.all(np.isfinite(numpy_of(grad)))


LOSS_OBJECTS = [
    FocalBinaryCrossentropy(pos_weight=[1.0, 2.5], neg_weight=[0.5, 1.0], gamma=1.5),
    LogitAdjustedBinaryCrossentropy(pos_weight=[1.0, 2.5], log_prior=[-3.0, -1.2], tau=0.8),
    WeightedBinaryCrossentropy(pos_weight=[1.0, 2.5], gamma=0.5, log_prior=[-3.0, -1.0],
                               tau=1.0),
    FocalSparseCategoricalCrossentropy([[1, 1, 1], [2, 2, 2], [1, 1, 1]], gamma=2.0),
    LogitAdjustedSparseCategoricalCrossentropy(np.ones((3, 3)), log_prior=[-0.3, -1.5, -2.5]),
    CostSensitiveSparseCategoricalCrossentropy(np.ones((3, 3)), gamma=1.0,
                                               log_prior=[-0.3, -1.5, -2.5], tau=0.5),
]


@pytest.mark.parametrize("loss", LOSS_OBJECTS, ids=lambda loss: loss.name)
def test_remedy_losses_round_trip_through_get_config_and_keras_serialisation(loss):
    for restored in (type(loss).from_config(loss.get_config()),
                     keras.losses.deserialize(keras.losses.serialize(loss))):
        assert type(restored) is type(loss)
        assert restored.get_config() == loss.get_config()
        binary = isinstance(loss, WeightedBinaryCrossentropy)
        y = np.array([[1, 0]]) if binary else np.array([2])
        logits = np.array([[0.3, -1.2]] if binary else [[0.3, -1.2, 2.0]], dtype=np.float32)
        assert float(numpy_of(restored(y, logits))) == pytest.approx(
            float(numpy_of(loss(y, logits))))


def test_a_loss_config_written_before_the_remedies_still_loads():
    """Configs saved before gamma / log_prior / tau existed are read with their neutral values."""
    old = {"name": "weighted_binary_crossentropy", "reduction": "sum_over_batch_size",
           "dtype": None, "pos_weight": [1.0, 3.0], "neg_weight": None}
    loss = WeightedBinaryCrossentropy.from_config(old)
    assert (loss.gamma, loss.log_prior, loss.tau) == (0.0, None, 0.0)
    matrix = CostSensitiveSparseCategoricalCrossentropy.from_config(
        {"name": "c", "reduction": "sum_over_batch_size", "dtype": None,
         "weight_matrix": [[1.0, 1.0], [1.0, 1.0]]})
    assert (matrix.gamma, matrix.log_prior, matrix.tau) == (0.0, None, 0.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FocalBinaryCrossentropy([1.0], gamma=-1.0), "`gamma` must be a finite value"),
        (lambda: FocalBinaryCrossentropy([1.0], gamma=float("nan")), "`gamma` must be"),
        (lambda: LogitAdjustedBinaryCrossentropy([1.0, 1.0]), "`log_prior` is required"),
        (lambda: LogitAdjustedBinaryCrossentropy([1.0, 1.0], log_prior=[0.0]),
         "`log_prior` must hold 2 finite values"),
        (lambda: LogitAdjustedSparseCategoricalCrossentropy(np.ones((2, 2)),
                                                            log_prior=[0.0, -np.inf]),
         "`log_prior` must hold 2 finite values"),
        (lambda: FocalSparseCategoricalCrossentropy(np.ones((2, 2)), tau=float("inf")),
         "`tau` must be finite"),
    ],
)
def test_bad_remedy_settings_of_a_keras_loss_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()
