from __future__ import annotations

import keras
import numpy as np
import pytest

from sweeper.errors import ConfigError
from sweeper.training import PackedMLP, build_mlp, load_factory, pack_factory_models

numpy = keras.ops.convert_to_numpy
X = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)


def test_packed_member_initial_weights_do_not_depend_on_packing():
    alone = PackedMLP(5, 3, (8, 4), seeds=[11])
    packed = PackedMLP(5, 3, (8, 4), seeds=[3, 11, 7])
    for lone_kernel, packed_kernel in zip(alone.kernels, packed.kernels, strict=True):
        np.testing.assert_array_equal(numpy(lone_kernel)[0], numpy(packed_kernel)[1])
    np.testing.assert_allclose(numpy(alone(X))[:, 0], numpy(packed(X))[:, 1], rtol=1e-5)
    assert packed(X).shape == (7, 3, 3)


def test_plain_mlp_starts_as_the_packed_member():
    plain = build_mlp(5, 3, (8, 4), seed=11)
    member = PackedMLP(5, 3, (8, 4), seeds=[11])
    np.testing.assert_allclose(numpy(plain(X)), numpy(member(X))[:, 0], rtol=1e-5, atol=1e-6)


def small_factory(input_shape, n_outputs):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(n_outputs)])


def test_factory_copies_are_reseeded_per_member():
    packed = pack_factory_models(small_factory, (5,), 2, seeds=[1, 1, 2])
    logits = numpy(packed(X))
    assert logits.shape == (7, 3, 2)
    np.testing.assert_allclose(logits[:, 0], logits[:, 1])
    assert not np.allclose(logits[:, 0], logits[:, 2])


def wrong_output_factory(input_shape, n_outputs):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(n_outputs + 1)])


def not_a_model_factory(input_shape, n_outputs):
    return "model"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (wrong_output_factory, r"output must have shape \(batch, 2\)"),
        (not_a_model_factory, "expected a keras.Model, got str"),
    ],
)
def test_bad_factories_are_reported(factory, message):
    with pytest.raises(ConfigError, match=message):
        pack_factory_models(factory, (5,), 2, seeds=[0])


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_such_module_xyz:build", "cannot import module 'no_such_module_xyz'"),
        ("json:missing", "has no function 'missing'"),
    ],
)
def test_load_factory_errors(reference, message):
    with pytest.raises(ConfigError, match=message):
        load_factory(reference)


def test_load_factory_imports_from_study_folder(tmp_path):
    (tmp_path / "my_models_mod.py").write_text(
        "import keras\n"
        "def build(n_features, n_outputs):\n"
        "    return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(n_outputs)])\n"
    )
    factory = load_factory("my_models_mod:build", tmp_path)
    assert factory(4, 2).output_shape == (None, 2)


def test_a_linear_head_whose_first_logits_happen_to_lie_in_0_1_is_not_taken_for_probabilities():
    """A fresh model with small positive weights gives logits in [0, 1] on a few rows; scaled
    rows move them out, so it is a logits model. A sigmoid output stays in [0, 1] and is still
    refused."""
    from sweeper.errors import FactoryError
    from sweeper.training import check_factory

    small = keras.initializers.Constant(0.01)

    def tiny(shape, outputs):
        inputs = keras.Input(shape)
        hidden = keras.layers.Dense(4, activation="relu", kernel_initializer=small)(inputs)
        return keras.Model(inputs, keras.layers.Dense(outputs, kernel_initializer=small)(hidden))

    def squashed(shape, outputs):
        inputs = keras.Input(shape)
        return keras.Model(inputs, keras.ops.sigmoid(keras.layers.Dense(outputs)(inputs)))

    probe = np.abs(np.random.default_rng(0).normal(size=(16, 5))).astype(np.float32)
    first = keras.ops.convert_to_numpy(tiny((5,), 1)(probe))
    assert np.all((first >= 0) & (first <= 1))  # what the unscaled check alone refused
    check_factory(tiny, (5,), 1, probe)
    with pytest.raises(FactoryError, match="outputs all lie in"):
        check_factory(squashed, (5,), 1, probe)
