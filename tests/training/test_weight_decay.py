"""The searched weight decay: each packed member decays with its own ``weight_decay`` as a lone
Keras model whose optimizer has it (Keras's decoupled decay, at the step's learning rate), for
the built-in MLP (members stacked in one variable) and a factory's copies, beside members of
other decays and none; it replaces the optimizer's own decay; a user's training step gets it
in ``arguments.optimizer()``. Real Keras on the suite's backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from sweeper.config import ModelConfig
from sweeper.evaluation import probabilities
from sweeper.search import multilabel_loss_weights
from sweeper.training import (
    FitTrainer,
    WeightedBinaryCrossentropy,
    build_mlp,
    build_optimizer,
    fit_plain,
    train_and_score,
)
from tests.training.test_fit import sweeper_batches_step
from tests.training.test_models import small_factory
from tests.training.test_packed import multilabel_splits  # noqa: F401  (the fixture)

SETTINGS = {"hidden": [16], "epochs": 4, "batch_size": 64, "learning_rate": 0.02,
            "patience": 0, "schedule": "cosine"}
POS_WEIGHTS = [[1, 1, 1, 1], [6, 6, 2, 1], [0.5, 3, 3, 3]]
DECAYS = [0.0, 0.3, 0.05]


def lone_scores(splits, model: ModelConfig, factory, pos_weight, decay) -> np.ndarray:
    train, validation = splits.train, splits.validation
    keras.utils.set_random_seed(7)
    lone = build_mlp(5, 4, (16,), seed=7) if factory is None else factory((5,), 4)
    steps = -(-train.X.shape[0] // model.batch_size)
    lone.compile(optimizer=build_optimizer(model, steps_per_epoch=steps, epochs=model.epochs,
                                           weight_decay=decay),
                 loss=WeightedBinaryCrossentropy(pos_weight=pos_weight))
    fit_plain(lone, train.X, train.y.astype(np.float32), epochs=model.epochs,
              batch_size=model.batch_size, seed=7)
    return probabilities(keras.ops.convert_to_numpy(lone(validation.X)), "multilabel")


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("factory", [None, small_factory], ids=["packed-mlp", "factory-copies"])
def test_each_member_decays_as_its_lone_model_with_its_weight_decay(
    multilabel_splits, factory, optimizer  # noqa: F811
):
    model = ModelConfig.from_mapping({**SETTINGS, "optimizer": optimizer})
    weights = np.stack([multilabel_loss_weights(w) for w in POS_WEIGHTS])
    packed = train_and_score(multilabel_splits, model,
                             {"weights": weights, "weight_decay": np.asarray(DECAYS)},
                             seed=7, factory=factory)
    for member in (1, 2):
        expected = lone_scores(multilabel_splits, model, factory, POS_WEIGHTS[member],
                               DECAYS[member])
        np.testing.assert_allclose(packed.validation[member], expected, atol=3e-4)
    undecayed = train_and_score(multilabel_splits, model, {"weights": weights}, seed=7,
                                factory=factory)
    assert np.abs(undecayed.validation[1] - packed.validation[1]).max() > 1e-3  # it acts
    if optimizer != "adamw":  # adamw decays on its own (0.004) unless a decay replaces it
        np.testing.assert_allclose(undecayed.validation[0], packed.validation[0], atol=1e-5)


@pytest.mark.slow
def test_a_users_step_gets_the_members_weight_decay_in_its_optimizer(multilabel_splits):  # noqa: F811
    model = ModelConfig.from_mapping(SETTINGS)
    weights = np.stack([multilabel_loss_weights(w) for w in POS_WEIGHTS])
    parameters = {"weights": weights, "weight_decay": np.asarray(DECAYS)}
    packed = train_and_score(multilabel_splits, model, parameters, seed=7)
    fitted = FitTrainer(multilabel_splits, model, members=3, seed=7,
                        fit=sweeper_batches_step).train_and_score(parameters)
    np.testing.assert_allclose(fitted.validation, packed.validation, atol=3e-4)
