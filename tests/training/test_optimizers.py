"""``[model]`` training settings: each packed member trains as a lone Keras model compiled with
the same optimizer, schedule and clipping would (its own optimizer state, schedule position and
clipping), on real Keras, on the backend the suite runs on."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from sweeper.config import OPTIMIZERS, ModelConfig, Named
from sweeper.errors import ConfigError
from sweeper.evaluation import probabilities
from sweeper.search import multilabel_loss_weights
from sweeper.training import (
    WeightedBinaryCrossentropy,
    build_mlp,
    build_optimizer,
    fit_plain,
    train_and_score,
)
from tests.training.test_models import small_factory
from tests.training.test_packed import multilabel_splits  # noqa: F401  (the fixture)

BASE_SETTINGS = {"hidden": [16], "epochs": 4, "batch_size": 64, "learning_rate": 0.02,
                 "patience": 0}
BASE = ModelConfig.from_mapping(BASE_SETTINGS)
POS_WEIGHTS = [[1, 1, 1, 1], [6, 6, 2, 1], [0.5, 3, 3, 3]]
SETTINGS = {
    "sgd-nesterov": {"optimizer": {"name": "sgd", "momentum": 0.9, "nesterov": True}},
    "adamw": {"optimizer": {"name": "adamw", "weight_decay": 0.05}},
    "rmsprop": {"optimizer": "rmsprop"},
    "cosine-warmup": {"schedule": {"name": "cosine", "warmup_epochs": 1, "alpha": 0.1}},
    "exponential": {"schedule": {"name": "exponential", "decay_rate": 0.5}},
    "clipnorm": {"clipnorm": 0.02},
    "global-clipnorm": {"global_clipnorm": 0.02},
    "clipvalue": {"clipvalue": 0.002},
}


def lone_scores(splits, model: ModelConfig, factory, pos_weight) -> np.ndarray:
    """A lone Keras model compiled with the settings' optimizer (Keras clipping), trained on
    the sweeper's batch order."""
    train, validation = splits.train, splits.validation
    keras.utils.set_random_seed(7)
    lone = build_mlp(5, 4, (16,), seed=7) if factory is None else factory((5,), 4)
    steps = -(-train.X.shape[0] // model.batch_size)
    lone.compile(optimizer=build_optimizer(model, steps_per_epoch=steps, epochs=model.epochs),
                 loss=WeightedBinaryCrossentropy(pos_weight=pos_weight))
    fit_plain(lone, train.X, train.y.astype(np.float32), epochs=model.epochs,
              batch_size=model.batch_size, seed=7)
    return probabilities(keras.ops.convert_to_numpy(lone(validation.X)), "multilabel")


@pytest.mark.parametrize("factory", [None, small_factory], ids=["packed-mlp", "factory-copies"])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_a_packed_member_trains_as_a_lone_model_with_the_same_settings(
    multilabel_splits, setting, factory  # noqa: F811
):
    """Member 1 of 3 equals the lone model within 3e-4 (float32 summation order), and the
    setting changed what it learned (the test would notice a setting ignored)."""
    model = ModelConfig.from_mapping({**BASE_SETTINGS, **SETTINGS[setting]})
    weights = np.stack([multilabel_loss_weights(w) for w in POS_WEIGHTS])
    packed = train_and_score(multilabel_splits, model, {"weights": weights}, seed=7,
                             factory=factory)
    expected = lone_scores(multilabel_splits, model, factory, POS_WEIGHTS[1])
    np.testing.assert_allclose(packed.validation[1], expected, atol=3e-4)
    plain = train_and_score(multilabel_splits, BASE, {"weights": weights[1:2]}, seed=7,
                            factory=factory)
    assert np.abs(plain.validation[0] - packed.validation[1]).max() > 1e-3


@pytest.mark.parametrize(("setting", "message"), [
    ({"optimizer": {"name": "sgd", "momentun": 0.9}}, r"\[model\] optimizer: 'sgd' refused"),
    ({"optimizer": {"name": "adam", "learning_rate": 0.1}},
     r"`learning_rate` is not set here: use \[model\] learning_rate"),
    ({"optimizer": "adamx"}, r"\[model\] optimizer: expected a name from"),
    ({"optimizer": "lamb"}, r"\[model\] optimizer: 'lamb' is not offered: Keras's Lamb takes its "
                            r"trust ratio's norms over a whole variable"),
    ({"optimizer": Named("lamb")}, r"\[model\] optimizer: 'lamb' is not offered"),
    ({"optimizer": {"name": "Adafactor"}},
     r"\[model\] optimizer: 'adafactor' is not offered: Keras's Adafactor factors"),
    ({"schedule": {"name": "cosine", "decay_steps": 3}}, "'cosine' takes no argument"),
    ({"schedule": {"name": "exponential", "decay_rate": 0}},
     r"\[model\] schedule: 'exponential' decay_rate: expected a number in \(0, 1\], got 0"),
    ({"schedule": {"name": "cosine", "warmup_epochs": -1}},
     r"'cosine' warmup_epochs: expected an integer >= 0, got -1"),
    ({"clipnorm": 1.0, "global_clipnorm": 1.0}, "cannot both be set"),
    ({"clipvalue": -1.0}, r"\[model\] clipvalue: expected a finite number > 0"),
])
def test_bad_training_settings_are_one_line_naming_the_key(setting, message):
    with pytest.raises(ConfigError, match=message):
        model = ModelConfig.from_mapping(setting)
        build_optimizer(model, steps_per_epoch=10, epochs=2)


def test_an_export_gives_back_the_optimizer_its_trial_trained_with(tmp_path):
    """A sweep with SGD, momentum and a cosine schedule: the export's optimizer() is that
    optimizer, fresh, with the same schedule; a study's file and the API spell it alike."""
    import sweeper
    from tests.support import make_multilabel_arrays

    X, y = make_multilabel_arrays(n_rows=400)
    model = {"hidden": [8], "epochs": 3, "batch_size": 64, "learning_rate": 0.05,
             "optimizer": {"name": "sgd", "momentum": 0.9},
             "schedule": {"name": "cosine", "alpha": 0.2}, "global_clipnorm": 1.0}
    result = sweeper.sweep(X, y, trials=2, model=model, data={"folds": 1},
                           storage=f"sqlite:///{tmp_path / 's.db'}", progress=False)
    result.export(tmp_path / "w.json")
    optimizer = sweeper.load_export(tmp_path / "w.json").optimizer(steps_per_epoch=10)
    assert isinstance(optimizer, keras.optimizers.SGD)
    config = optimizer.get_config()
    assert config["momentum"] == 0.9 and config["global_clipnorm"] == 1.0
    schedule = config["learning_rate"]
    assert schedule["class_name"] == "CosineDecay"
    assert schedule["config"]["decay_steps"] == 30 and schedule["config"]["alpha"] == 0.2
    assert schedule["config"]["initial_learning_rate"] == pytest.approx(0.05)


def test_an_argument_the_optimizer_refuses_leaves_no_study_behind(tmp_path, capsys):
    """A study file whose optimizer table has a typo: one line naming the file and the key,
    exit 2, before the study's database is created."""
    from sweeper.cli import main
    from tests.support import STUDY_TEMPLATE, make_multilabel_arrays

    X, y = make_multilabel_arrays(n_rows=400)
    np.savez(tmp_path / "small.npz", X=X, y=y)
    path = tmp_path / "typo.toml"
    path.write_text(STUDY_TEMPLATE.format(
        name="typo", storage=f"sqlite:///{tmp_path / 'typo.db'}", trials=2, source="small.npz",
        data_extra="", epochs=2, pack=2, artifacts=str(tmp_path / "artifacts"),
    ).replace("[model]\n", '[model]\noptimizer = {name = "sgd", momentun = 0.9}\n'))
    assert main(["run", str(path), "--quiet"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines[-1].startswith(f"sweeper: error: {path}: [model] optimizer: 'sgd' refused")
    assert "momentun" in lines[-1]
    assert not (tmp_path / "typo.db").exists()


@pytest.mark.parametrize("factory", [None, small_factory], ids=["packed-mlp", "factory-copies"])
def test_mixed_bfloat16_computes_in_bfloat16_as_a_lone_keras_model_does(
    multilabel_splits, factory  # noqa: F811
):
    """``precision = "mixed_bfloat16"``: the packed network computes in bfloat16 (float32
    variables), its member agrees with a lone Keras model built under the same policy within
    0.05 (bfloat16 keeps 8 bits of mantissa, and the two sum in different orders), differs from
    the float32 member (the setting took effect), and Keras's global policy is left as it was."""
    from sweeper.training import PackedTrainer
    from sweeper.training._models import dtype_policy

    model = ModelConfig.from_mapping({**BASE_SETTINGS, "precision": "mixed_bfloat16"})
    weights = np.stack([multilabel_loss_weights(w) for w in POS_WEIGHTS])
    trainer = PackedTrainer(multilabel_splits, model, members=3, seed=7, factory=factory)
    assert keras.config.dtype_policy().name == "float32"
    outputs = trainer.network(multilabel_splits.validation.X[:4])
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    assert all(v.dtype == "float32" for v in trainer.network.trainable_variables)
    packed = trainer.train_and_score({"weights": weights})
    with dtype_policy("mixed_bfloat16"):
        expected = lone_scores(multilabel_splits, model, factory, POS_WEIGHTS[1])
    np.testing.assert_allclose(packed.validation[1], expected, atol=0.05)
    plain = train_and_score(multilabel_splits, BASE, {"weights": weights[1:2]}, seed=7,
                            factory=factory)
    assert np.abs(plain.validation[0] - packed.validation[1]).max() > 1e-3


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_listed_optimizer_trains_a_packed_member_as_it_trains_alone(
    multilabel_splits, name  # noqa: F811
):
    """The packing promise for each optimizer ``[model] optimizer`` lists: member 1 of a pack
    of 3 (the built-in MLP, whose members share each variable along its first axis) scores as
    the same candidate trained at pack 1."""
    model = ModelConfig.from_mapping({**BASE_SETTINGS, "optimizer": name})
    weights = np.stack([multilabel_loss_weights(w) for w in POS_WEIGHTS])
    packed = train_and_score(multilabel_splits, model, {"weights": weights}, seed=7)
    alone = train_and_score(multilabel_splits, model, {"weights": weights[1:2]}, seed=7)
    np.testing.assert_allclose(packed.validation[1], alone.validation[0], atol=3e-5)
    np.testing.assert_allclose(packed.test[1], alone.test[0], atol=3e-5)


def test_every_listed_optimizer_is_built_from_its_keras_class():
    """Not through ``keras.optimizers.get`` (which does not know every optimizer by name):
    each listed name has its class, and the class is the one Keras names so."""
    import keras

    from sweeper.training._optimizers import OPTIMIZER_CLASSES

    assert tuple(OPTIMIZER_CLASSES) == OPTIMIZERS
    for name in OPTIMIZERS:
        model = ModelConfig.from_mapping({**BASE_SETTINGS, "optimizer": name})
        built = build_optimizer(model, steps_per_epoch=4, epochs=2)
        assert type(built) is getattr(keras.optimizers, OPTIMIZER_CLASSES[name])
        assert type(built).__name__.lower() == name
