from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sweeper.config import ModelConfig
from sweeper.data import Dataset, split_dataset
from sweeper.evaluation import probabilities
from sweeper.search import multiclass_loss_weights, multilabel_loss_weights
from sweeper.training import train_and_score
from tests.support import make_multiclass_arrays, make_multilabel_arrays
from tests.training.test_models import small_factory

MODEL = ModelConfig(hidden=(16,), epochs=3, batch_size=64, learning_rate=0.01)


@pytest.fixture(scope="module")
def multilabel_splits():
    X, y = make_multilabel_arrays()
    data = Dataset(X=X, y=y, task="multilabel", labels=("a", "b", "c", "d"))
    return split_dataset(data, validation_fraction=0.25, test_fraction=0.25, seed=0)


@pytest.mark.parametrize("factory", [None, small_factory], ids=["packed-mlp", "factory-copies"])
def test_packed_member_trains_as_it_would_alone(multilabel_splits, factory):
    weights = np.stack([
        multilabel_loss_weights([1, 1, 1, 1]),
        multilabel_loss_weights([7, 7, 2, 1]),
        multilabel_loss_weights([0.5, 3, 3, 3], neg_weight=[2, 1, 1, 0.5]),
    ])
    packed = train_and_score(multilabel_splits, MODEL, {"weights": weights}, seed=5,
                             factory=factory)
    alone = train_and_score(multilabel_splits, MODEL, {"weights": weights[1:2]}, seed=5,
                            factory=factory)
    assert packed.validation.shape == (3, *multilabel_splits.validation.y.shape)
    np.testing.assert_allclose(packed.validation[1], alone.validation[0], atol=2e-4)
    np.testing.assert_allclose(packed.test[1], alone.test[0], atol=2e-4)
    # the members really differ: their weights pull their scores apart
    assert np.abs(packed.validation[0] - packed.validation[1]).max() > 0.05
    assert not packed.diverged.any()


def test_multiclass_scores_are_probabilities():
    X, y = make_multiclass_arrays()
    data = Dataset(X=X, y=y, task="multiclass", labels=("A", "B", "C", "D"))
    splits = split_dataset(data, validation_fraction=0.25, test_fraction=0.25, seed=0)
    weights = np.stack([multiclass_loss_weights(np.ones(4))] * 2)
    scores = train_and_score(splits, MODEL, {"weights": weights}, seed=0)
    np.testing.assert_allclose(scores.validation.sum(axis=-1), 1.0, atol=1e-5)
    accuracy = (scores.validation[0].argmax(axis=-1) == splits.validation.y).mean()
    assert accuracy > 0.5  # it learned something: chance is about 0.44 (the largest class)


def test_probabilities_are_stable():
    logits = np.array([[-800.0, 0.0, 800.0]])
    np.testing.assert_allclose(probabilities(logits, "multilabel"), [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(probabilities(logits, "multiclass"), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("factory", [None, small_factory], ids=["packed-mlp", "factory-copies"])
def test_early_stopping_of_a_packed_member_equals_keras_early_stopping(
    multilabel_splits, factory
):
    """Per-member early stopping: member 1 of a packed pass ends where a lone Keras fit with
    ``EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)`` ends, with the
    same weights: scores within 2e-4 (float32 summation order), the same best epoch."""
    import keras

    from sweeper.training import WeightedBinaryCrossentropy, build_mlp, fit_plain

    model = ModelConfig(hidden=(16,), epochs=40, batch_size=64, learning_rate=0.05, patience=2)
    weights = np.stack([
        multilabel_loss_weights([1, 1, 1, 1]),
        multilabel_loss_weights([9, 9, 9, 9]),
        multilabel_loss_weights([0.2, 3, 3, 3]),
    ])
    packed = train_and_score(multilabel_splits, model, {"weights": weights}, seed=3,
                             factory=factory)
    assert packed.epochs is not None and packed.epochs[1] < model.epochs  # it stopped early
    assert len(set(packed.epochs.tolist())) > 1  # and members stop at their own epochs

    train, validation = multilabel_splits.train, multilabel_splits.validation
    keras.utils.set_random_seed(3)
    lone = build_mlp(4 + 1, 4, (16,), seed=3) if factory is None else factory((5,), 4)
    lone.compile(optimizer=keras.optimizers.Adam(0.05),
                 loss=WeightedBinaryCrossentropy(pos_weight=[9, 9, 9, 9]))
    stopping = keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    fit_plain(lone, train.X, train.y.astype(np.float32), epochs=model.epochs, batch_size=64,
              seed=3, validation_data=(validation.X, validation.y.astype(np.float32)),
              callbacks=[stopping])
    assert stopping.best_epoch + 1 == packed.epochs[1]
    expected = probabilities(keras.ops.convert_to_numpy(lone(validation.X)), "multilabel")
    np.testing.assert_allclose(packed.validation[1], expected, atol=2e-4)


def test_a_member_that_diverges_from_the_start_is_reported_with_early_stopping(
    multilabel_splits,
):
    """Early stopping keeps a member's best finite epoch; one that never had a finite loss is
    not silently restored to its initial weights: its scores show the divergence."""
    model = ModelConfig(hidden=(16,), epochs=5, batch_size=64, learning_rate=0.01, patience=2)
    weights = np.stack([
        multilabel_loss_weights([1, 1, 1, 1]),
        multilabel_loss_weights([np.inf, 1, 1, 1]),
    ])
    scores = train_and_score(multilabel_splits, model, {"weights": weights}, seed=0)
    assert scores.diverged.tolist() == [False, True]


def test_a_fold_member_never_learns_from_its_own_fold():
    """Cross-validation's out-of-fold scores: the member of fold k trains on the other folds
    only, so changing fold k's labels leaves its scores on fold k unchanged, while the
    members that learn from those rows (and the test scores, their mean) move."""
    from sweeper.config import DataConfig
    from sweeper.data import make_splits

    X, y = make_multilabel_arrays()
    data = Dataset(X=X, y=y, task="multilabel", labels=("a", "b", "c", "d"))
    splits = make_splits(data, DataConfig(folds=3))
    model = ModelConfig(hidden=(16,), epochs=4, batch_size=64, learning_rate=0.01, patience=0)
    weights = np.stack([multilabel_loss_weights([1, 1, 1, 1]), multilabel_loss_weights([5] * 4)])
    scores = train_and_score(splits, model, {"weights": weights}, seed=2)
    assert scores.validation.shape == (2, *splits.train.y.shape)
    fold = splits.folds == 0
    flipped = dataclasses.replace(splits.train, y=np.where(fold[:, None], 1 - splits.train.y,
                                                           splits.train.y).astype(np.uint8))
    changed = dataclasses.replace(splits, train=flipped, validation=flipped)
    again = train_and_score(changed, model, {"weights": weights}, seed=2)
    np.testing.assert_allclose(again.validation[:, fold], scores.validation[:, fold], atol=1e-6)
    assert np.abs(again.validation[:, ~fold] - scores.validation[:, ~fold]).max() > 0.05
    assert np.abs(again.test - scores.test).max() > 0.05


def test_cross_validated_members_stop_on_their_own_fold():
    from sweeper.config import DataConfig
    from sweeper.data import make_splits

    X, y = make_multilabel_arrays()
    data = Dataset(X=X, y=y, task="multilabel", labels=("a", "b", "c", "d"))
    splits = make_splits(data, DataConfig(folds=3))
    model = ModelConfig(hidden=(16,), epochs=60, batch_size=32, learning_rate=0.05, patience=2)
    weights = np.stack([multilabel_loss_weights([1, 1, 1, 1])] * 2)
    scores = train_and_score(splits, model, {"weights": weights}, seed=0)
    # Identical candidates: identical fold members, so identical (rounded mean) best epochs.
    assert scores.epochs.shape == (2,) and scores.epochs[0] == scores.epochs[1]
    assert 1 <= scores.epochs[0] < 60
    assert not scores.diverged.any()


def regularised_factory(input_shape, n_outputs):
    import keras

    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Dense(n_outputs, kernel_regularizer=keras.regularizers.L2(1.0)),
    ])


def test_a_factory_models_own_losses_are_trained(multilabel_splits):
    """A factory's regulariser counts in the packed loss, as model.fit would apply it: a
    strong L2 penalty keeps the logits near zero where the plain model's spread out."""
    model = ModelConfig(epochs=5, batch_size=64, learning_rate=0.05, patience=0)
    weights = np.stack([multilabel_loss_weights([1, 1, 1, 1])])
    plain = train_and_score(multilabel_splits, model, {"weights": weights}, seed=0,
                            factory=small_factory)
    penalised = train_and_score(multilabel_splits, model, {"weights": weights}, seed=0,
                                factory=regularised_factory)
    spread = [np.std(np.log(s.validation / (1 - s.validation))) for s in (plain, penalised)]
    assert spread[1] < 0.5 * spread[0]
