"""Deferred re-weighting (DRW) in the packed trainer: a deferred member trains unweighted until
its switch epoch, then weighted, and early stopping judges it from its switch on only, as a
lone Keras model trained unweighted, then recompiled with the weighted loss."""

from __future__ import annotations

import numpy as np
import pytest

from sweeper.config import ModelConfig
from sweeper.data import Dataset, split_dataset
from sweeper.evaluation import probabilities
from sweeper.search import multilabel_loss_weights
from sweeper.training import train_and_score
from tests.support import make_multilabel_arrays

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def multilabel_splits():
    X, y = make_multilabel_arrays()
    data = Dataset(X=X, y=y, task="multilabel", labels=("a", "b", "c", "d"))
    return split_dataset(data, validation_fraction=0.25, test_fraction=0.25, seed=0)


def lone_deferred_model(splits, *, switch, epochs, patience, seed, pos_weight):
    """What a user does by hand: ``switch`` epochs unweighted, then the weighted loss with the
    same optimizer from ``initial_epoch=switch`` and a fresh ``EarlyStopping``."""
    import keras

    from sweeper.training import WeightedBinaryCrossentropy, build_mlp, fit_plain

    train, validation = splits.train, splits.validation
    keras.utils.set_random_seed(seed)
    lone = build_mlp(train.n_features, train.n_outputs, (16,), seed=seed)
    optimizer = keras.optimizers.Adam(0.05)
    data = (train.X, train.y.astype(np.float32))
    held = (validation.X, validation.y.astype(np.float32))
    lone.compile(optimizer=optimizer, loss=WeightedBinaryCrossentropy(pos_weight=[1.0] * 4))
    fit_plain(lone, *data, epochs=switch, batch_size=64, seed=seed)
    lone.compile(optimizer=optimizer, loss=WeightedBinaryCrossentropy(pos_weight=pos_weight))
    stopping = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    fit_plain(lone, *data, epochs=epochs, batch_size=64, seed=seed, validation_data=held,
              callbacks=[stopping], initial_epoch=switch)
    return lone, stopping


def test_a_deferred_member_equals_a_lone_model_trained_unweighted_then_weighted(
    multilabel_splits,
):
    """Member 1 switches its weights on at epoch 6: it ends where the lone two-phase fit ends
    (same best epoch, at or after the switch), with the same weights (scores within 2e-4);
    member 2 has the same weights from the start and ends elsewhere."""
    import keras

    model = ModelConfig(hidden=(16,), epochs=40, batch_size=64, learning_rate=0.05, patience=2)
    weights = np.stack([
        multilabel_loss_weights([1, 1, 1, 1]),
        multilabel_loss_weights([9, 9, 9, 9]),
        multilabel_loss_weights([9, 9, 9, 9]),
    ])
    packed = train_and_score(multilabel_splits, model,
                             {"weights": weights, "switch": np.array([0, 6, 0])}, seed=3)
    assert packed.epochs is not None and 6 < packed.epochs[1] < model.epochs

    lone, stopping = lone_deferred_model(multilabel_splits, switch=6, epochs=model.epochs,
                                         patience=2, seed=3, pos_weight=[9, 9, 9, 9])
    assert stopping.best_epoch >= 6
    assert stopping.best_epoch + 1 == packed.epochs[1]
    validation = multilabel_splits.validation
    expected = probabilities(keras.ops.convert_to_numpy(lone(validation.X)), "multilabel")
    np.testing.assert_allclose(packed.validation[1], expected, atol=2e-4)
    # deferring changed the member: the same weights from the start train another model
    assert np.abs(packed.validation[1] - packed.validation[2]).max() > 1e-3


def test_early_stopping_never_ends_a_member_before_its_switch(multilabel_splits):
    """With patience 1 and a loss that stops improving early, an undeferred member stops long
    before the deferred one's switch; the deferred one trains past its switch and keeps
    weights from an epoch at or after it."""
    model = ModelConfig(hidden=(16,), epochs=30, batch_size=64, learning_rate=0.05, patience=1)
    weights = np.stack([multilabel_loss_weights([9, 9, 9, 9])] * 2)
    scores = train_and_score(multilabel_splits, model,
                             {"weights": weights, "switch": np.array([0, 20])}, seed=1)
    assert scores.epochs is not None
    assert scores.epochs[0] < 20 < scores.epochs[1]  # kept epoch (1-based) after the switch


def test_a_deferred_candidate_under_cross_validation_is_k_lone_deferred_models():
    """Under 3-fold cross-validation each fold member of a deferred candidate switches and is
    judged as a lone deferred model trained on the other folds and validated on its own fold:
    with one batch per epoch (the batch holds every row, so a fold member's masked mean is the
    lone model's full-batch loss) the out-of-fold scores are those of three single-split
    trainings, each keeping an epoch after the switch."""
    import dataclasses

    from sweeper.config import DataConfig
    from sweeper.data import Splits, make_splits

    X, y = make_multilabel_arrays()
    data = Dataset(X=X, y=y, task="multilabel", labels=("a", "b", "c", "d"))
    splits = make_splits(data, DataConfig(folds=3, standardize=False))
    assert splits.folds is not None
    model = ModelConfig(hidden=(16,), epochs=40, batch_size=4096, learning_rate=0.05,
                        patience=2)
    parameters = {"weights": np.stack([multilabel_loss_weights([1, 1, 1, 1]),
                                       multilabel_loss_weights([6, 6, 6, 6])]),
                  "switch": np.array([0, 8])}
    packed = train_and_score(splits, model, parameters, seed=4)
    pool = splits.train
    for fold in range(3):
        held = splits.folds == fold
        single = Splits(train=pool.subset(np.flatnonzero(~held)),
                        validation=pool.subset(np.flatnonzero(held)), test=splits.test)
        lone = train_and_score(single, dataclasses.replace(model), parameters, seed=4)
        assert lone.epochs is not None and lone.epochs[1] > 8  # kept after its switch
        np.testing.assert_allclose(packed.validation[:, held], lone.validation, atol=2e-4)
    # The deferred candidate is not the unweighted one: its weights did train.
    assert np.abs(packed.validation[1] - packed.validation[0]).max() > 1e-3


def test_a_deferred_member_s_length_ends_it_as_a_shorter_budget_would(multilabel_splits):
    """``until`` ends member 1 after 14 of the pass's 40 epochs: it keeps the best of those,
    as the same member trained with a budget of 14 epochs (the batch order of an epoch does
    not depend on the budget); member 0, without a length, trains past it."""
    from dataclasses import replace

    model = ModelConfig(hidden=(16,), epochs=40, batch_size=64, learning_rate=0.003,
                        patience=30)
    weights = np.stack([multilabel_loss_weights([6, 6, 6, 6])] * 2)
    long = train_and_score(multilabel_splits, model,
                           {"weights": weights, "switch": np.array([0, 5]),
                            "until": np.array([0, 14])}, seed=2)
    short = train_and_score(multilabel_splits, replace(model, epochs=14),
                            {"weights": weights, "switch": np.array([0, 5])}, seed=2)
    assert long.epochs is not None and short.epochs is not None
    assert 5 < long.epochs[1] == short.epochs[1] <= 14 < long.epochs[0]  # still learning
    np.testing.assert_allclose(long.validation[1], short.validation[1], atol=2e-5)
