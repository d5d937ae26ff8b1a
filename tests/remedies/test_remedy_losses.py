"""Every registered remedy's loss: its packed per-member form equals its Keras loss object of
one member and a brute-force NumPy loop of its published formula, in a packed batch that mixes
every remedy of the task; Keras's own focal losses where their parametrisation matches;
serialisation round trips; finite gradients at extreme logits. No training: these run on
either backend."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest

from sweeper.config import Task
from sweeper.remedies import REMEDIES, ldam_margins
from sweeper.search import Candidate, batch_loss_parameters
from sweeper.training import (
    SCHEDULE_PARAMETERS,
    CostSensitiveSparseCategoricalCrossentropy,
    FocalBinaryCrossentropy,
    FocalSparseCategoricalCrossentropy,
    LogitAdjustedBinaryCrossentropy,
    LogitAdjustedSparseCategoricalCrossentropy,
    RemedyLoss,
    WeightedBinaryCrossentropy,
    loss_for,
)

RNG = np.random.default_rng(7)
ROWS, OUTPUTS = 40, 3
COUNTS = np.array([60, 25, 6])
N = 120


def numpy_of(value) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def remedies_of(task: Task) -> list[str]:
    return [name for name, remedy in REMEDIES.items() if task in remedy.tasks]


def drawn_values(name: str, rng: np.random.Generator) -> dict[str, float]:
    """Values inside each searched range, away from its ends (a clip of 0 would skip ASL's
    margin branch: one member draws a positive one)."""
    return {s.key: float(rng.uniform(*s.default)) if s.default[1] > s.default[0]
            else s.default[0] for s in REMEDIES[name].searched} | (
        {"clip": 0.07} if name == "asymmetric" else {})


def mixed_batch(task: Task, rng=RNG) -> tuple[list[str], dict[str, np.ndarray]]:
    """One member per remedy of the task, then a second ASL member without its margin:
    the parameters the trial loop builds, with random weights in place of the candidates'."""
    names = remedies_of(task)
    base = (Candidate(exponent=0.5, normalisation="none", threshold=None,
                      class_weighting="true_class", tau=0.0) if task is Task.MULTICLASS
            else Candidate(exponent=0.5, normalisation="none", threshold=0.5,
                           threshold_rule="global"))
    members = [(name, drawn_values(name, rng)) for name in names]
    if task.sigmoid:
        members.append(("asymmetric", {"gamma_neg": 3.0, "gamma_pos": 0.5, "clip": 0.0}))
    candidates = [dataclasses.replace(base, remedy=name, remedy_values=values)
                  for name, values in members]
    outputs = 1 if task is Task.BINARY else OUTPUTS
    counts = COUNTS[:outputs]
    parameters = batch_loss_parameters(candidates, counts, N, task, epochs=10)
    parameters["weights"] = rng.uniform(0.2, 5, size=parameters["weights"].shape)
    for name in SCHEDULE_PARAMETERS:
        parameters.pop(name, None)
    return [name for name, _ in members], parameters


def labels_for(task: Task, rng=RNG) -> np.ndarray:
    if task is Task.MULTICLASS:
        return rng.integers(0, OUTPUTS, ROWS).astype(np.int32)
    outputs = 1 if task is Task.BINARY else OUTPUTS
    return (rng.random((ROWS, outputs)) < 0.3).astype(np.float32)


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def brute_force(name: str, task: Task, y: np.ndarray, logits: np.ndarray,
                weights: np.ndarray, values: dict[str, np.ndarray]) -> float:
    """One member's mean loss, a row and an output at a time, from each remedy's published
    formula (its module docstring)."""
    total = 0.0
    for row in range(y.shape[0]):
        z = logits[row].astype(np.float64)
        if name == "logit_adjusted":
            z = z + float(values["tau_train"]) * np.asarray(values["log_prior"])
        if task.sigmoid:
            value = 0.0
            for j in range(z.size):
                p, q, r = sigmoid(z[j]), weights[0, j], weights[1, j]
                if name == "focal":
                    g = float(values["gamma"])
                    value += (q * (1 - p) ** g * -math.log(p) if y[row, j] == 1
                              else r * p ** g * -math.log(1 - p))
                elif name == "asymmetric":
                    shifted = max(p - float(values["clip"]), 0.0)
                    value += (q * (1 - p) ** float(values["gamma_pos"]) * -math.log(p)
                              if y[row, j] == 1 else
                              r * shifted ** float(values["gamma_neg"])
                              * -math.log(max(1 - shifted, 1e-8)))
                else:
                    value += q * -math.log(p) if y[row, j] == 1 else r * -math.log(1 - p)
            total += value / z.size
            continue
        true = int(y[row])
        if name == "ldam_drw":
            z = float(values["logit_scale"]) * (z - np.asarray(values["margin"]) * (
                np.arange(z.size) == true))
        prob = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        row_weight = float(weights[true] @ prob)  # sum_k M[y, k] p_k
        factor = (1 - prob[true]) ** float(values["gamma"]) if name == "focal" else 1.0
        total += factor * row_weight * -math.log(prob[true])
    return total / y.shape[0]


@pytest.mark.parametrize("task", list(Task), ids=str)
def test_every_remedy_is_one_function_packed_as_a_keras_loss_and_by_its_formula(task):
    """A packed batch of every remedy of the task (each member's loss is its own remedy's; the
    others are masked out): member m's packed loss (mean over rows) equals its remedy's Keras
    loss object of member m and the brute-force formula."""
    names, parameters = mixed_batch(task)
    y = labels_for(task)
    logits = (RNG.normal(size=(ROWS, len(names), parameters["weights"].shape[-1])) * 2
              ).astype(np.float32)
    loss = loss_for(task)
    packed = numpy_of(loss.member_losses(
        y, logits, {key: value.astype(np.float32) for key, value in parameters.items()}
    )).mean(axis=0)
    for m, name in enumerate(names):
        one = {key: value[m] for key, value in parameters.items()}
        keras_loss = loss.keras_loss(one)
        alone = float(numpy_of(keras_loss(y, logits[:, m])))
        assert packed[m] == pytest.approx(alone, rel=1e-5), name
        own = {key.split(".", 1)[1]: value for key, value in one.items()
               if key.startswith(f"{name}.")}
        assert alone == pytest.approx(
            brute_force(name, task, y, logits[:, m], one["weights"], own), rel=1e-4), name


def test_each_remedy_gives_its_own_keras_class():
    kinds = {}
    for task in (Task.MULTILABEL, Task.MULTICLASS):
        names, parameters = mixed_batch(task)
        for m, name in enumerate(names):
            one = {key: value[m] for key, value in parameters.items()}
            kinds[task.value, name] = type(loss_for(task).keras_loss(one)).__name__
    assert kinds == {
        ("multilabel", "weights"): "WeightedBinaryCrossentropy",
        ("multilabel", "deferred"): "WeightedBinaryCrossentropy",
        ("multilabel", "focal"): "FocalBinaryCrossentropy",
        ("multilabel", "logit_adjusted"): "LogitAdjustedBinaryCrossentropy",
        ("multilabel", "asymmetric"): "RemedyLoss",
        ("multiclass", "weights"): "CostSensitiveSparseCategoricalCrossentropy",
        ("multiclass", "deferred"): "CostSensitiveSparseCategoricalCrossentropy",
        ("multiclass", "focal"): "FocalSparseCategoricalCrossentropy",
        ("multiclass", "logit_adjusted"): "LogitAdjustedSparseCategoricalCrossentropy",
        ("multiclass", "ldam_drw"): "RemedyLoss",
    }  # random weights: the multi-class matrices are not true-class ones


def test_a_true_class_matrix_gives_the_per_class_weighted_loss():
    weights = np.tile(np.array([[1.0], [2.0], [4.0]]), (1, 3))
    loss = loss_for(Task.MULTICLASS).keras_loss({"weights": weights})
    assert type(loss).__name__ == "WeightedSparseCategoricalCrossentropy"
    assert loss.class_weight == [1.0, 2.0, 4.0]


def test_ldam_margins_are_proportional_to_the_counts_to_the_minus_quarter():
    margins = ldam_margins(np.array([10_000, 625, 16, 1]), 0.5)
    np.testing.assert_allclose(margins, [0.05, 0.1, 0.25, 0.5])


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


def test_the_new_remedies_have_finite_gradients_at_extreme_logits():
    """ASL's margin branch (clamped logs) and LDAM's scaled margins stay finite where p is 0
    or 1, with and without a margin."""
    cases = [
        (RemedyLoss("multilabel", "asymmetric", [[2.0, 1.0], [1.0, 1.0]],
                    {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": clip}),
         np.array([[1.0, 0.0]])) for clip in (0.0, 0.05)
    ] + [(RemedyLoss("multiclass", "ldam_drw", np.ones((2, 2)),
                     {"margin": [0.5, 0.2], "logit_scale": 30.0}), np.array([0]))]
    for loss, y in cases:
        for value in (-200.0, 0.0, 200.0):
            logits = np.array([[value, -value]], dtype=np.float32)
            if keras.backend.backend() == "jax":
                import jax

                grad = jax.grad(lambda z, loss=loss, y=y: loss(y, z))(logits)
            else:
                import tensorflow as tf

                variable = tf.Variable(logits)
                with tf.GradientTape() as tape:
                    result = loss(y, variable)
                grad = tape.gradient(result, variable)
            assert np.all(np.isfinite(numpy_of(grad))), (loss.remedy, value)


LOSS_OBJECTS = [
    RemedyLoss("multilabel", "asymmetric", [[1.0, 2.5], [0.5, 1.0]],
               {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05}),
    RemedyLoss("multiclass", "ldam_drw", np.ones((3, 3)),
               {"margin": [0.1, 0.3, 0.5], "logit_scale": 2.0}),
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
        binary = isinstance(loss, WeightedBinaryCrossentropy) or getattr(
            loss, "task", None) == Task.MULTILABEL
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


def test_a_remedy_loss_of_an_unknown_remedy_or_bad_weights_is_refused():
    with pytest.raises(KeyError, match="unknown remedy 'smote'"):
        RemedyLoss("multilabel", "smote", [[1.0], [1.0]])
    with pytest.raises(ValueError, match="`weights` must be a matrix"):
        RemedyLoss("multilabel", "asymmetric", [[1.0, -1.0], [1.0, 1.0]])
