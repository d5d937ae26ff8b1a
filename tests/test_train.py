from __future__ import annotations

import numpy as np
import pytest

from sweeper.config import ModelConfig
from sweeper.data import Dataset, split_dataset
from sweeper.evaluation import probabilities
from sweeper.search import multiclass_loss_weights, multilabel_loss_weights
from sweeper.training import train_and_score
from tests.conftest import make_multiclass_arrays, make_multilabel_arrays
from tests.test_models import small_factory

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
    packed = train_and_score(multilabel_splits, MODEL, weights, seed=5, factory=factory)
    alone = train_and_score(multilabel_splits, MODEL, weights[1:2], seed=5, factory=factory)
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
    scores = train_and_score(splits, MODEL, weights, seed=0)
    np.testing.assert_allclose(scores.validation.sum(axis=-1), 1.0, atol=1e-5)
    accuracy = (scores.validation[0].argmax(axis=-1) == splits.validation.y).mean()
    assert accuracy > 0.5  # it learned something: chance is about 0.44 (the largest class)


def test_probabilities_are_stable():
    logits = np.array([[-800.0, 0.0, 800.0]])
    np.testing.assert_allclose(probabilities(logits, "multilabel"), [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(probabilities(logits, "multiclass"), [[0.0, 0.0, 1.0]])
