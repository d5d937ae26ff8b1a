"""Inputs of any shape and dtype: images and sequences with conv factories, integer token ids
with an Embedding factory, uint8 pixels held as uint8, memory-mapped arrays; real Keras on tiny
inputs (8x8 images, a few hundred rows, 2 epochs), real SQLite studies."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import sweeper
from sweeper.config import DataConfig, ModelConfig
from sweeper.data import dataset_from_arrays, make_splits
from sweeper.study import finished_records
from sweeper.training import PackedTrainer, adapt_factory, check_factory

MODEL = {"epochs": 2, "batch_size": 32, "learning_rate": 0.01, "pack": 2}


def conv2d_factory(input_shape, n_outputs):
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(n_outputs),
    ])


def conv1d_factory(input_shape, n_outputs):
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv1D(4, 3, activation="relu"),
        keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(n_outputs),
    ])


def embedding_factory(input_shape, n_outputs):
    return keras.Sequential([
        keras.Input(input_shape, dtype="int32"),
        keras.layers.Embedding(50, 8),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(n_outputs),
    ])


def images(n_rows: int = 300, seed: int = 0, dtype=np.float32):
    """Three classes of 8x8x1 images: a bright row, a bright column, or noise; 200/70/30."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat([0, 1, 2], [n_rows * 2 // 3, n_rows * 7 // 30,
                                              n_rows - n_rows * 2 // 3 - n_rows * 7 // 30]))
    X = rng.uniform(0, 0.3, size=(n_rows, 8, 8, 1))
    X[y == 1, 3, :, 0] += 0.7
    X[y == 2, :, 3, 0] += 0.7
    if dtype == np.uint8:
        return (X * 255).astype(np.uint8), y
    return X.astype(dtype), y


def tokens(n_rows: int = 300, seed: int = 0):
    """Sequences of 12 token ids from 50; a rare label is set when token 7 appears."""
    rng = np.random.default_rng(seed)
    X = rng.integers(8, 50, size=(n_rows, 12))
    y = (rng.random(n_rows) < 0.15).astype(int)
    X[y == 1, rng.integers(0, 12, int(y.sum()))] = 7
    return X.astype(np.int64), y


def sweep(tmp_path, X, y, **options):
    return sweeper.sweep(X, y, trials=2, data={"folds": 1},
                         storage=f"sqlite:///{tmp_path / 's.db'}", progress=False, **options)


@pytest.mark.slow
def test_images_train_with_a_conv2d_factory_standardised_per_channel(tmp_path):
    X, y = images()
    result = sweep(tmp_path, X, y, model={**MODEL, "factory": conv2d_factory})
    assert result.info.input_shape == (8, 8, 1) and result.info.n_features == 64
    assert len(result.info.scaling["mean"]) == 1  # one channel: one mean and scale
    records = finished_records(result.study)
    assert len(records) == 2 and not any(r.diverged for r in records)


@pytest.mark.slow
def test_sequences_train_with_a_conv1d_factory_and_the_built_in_mlp(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(int)
    X = rng.normal(size=(300, 16, 2)).astype(np.float32)
    X[y == 1, 5:9, 0] += 1.5
    conv = sweep(tmp_path, X, y, model={**MODEL, "factory": conv1d_factory})
    assert conv.info.task == "binary" and conv.info.input_shape == (16, 2)
    mlp = sweeper.sweep(X, y, trials=2, data={"folds": 1}, model={**MODEL, "hidden": [8]},
                        storage=f"sqlite:///{tmp_path / 'mlp.db'}", progress=False)
    assert mlp.info.model["hidden"] == [8]  # the built-in MLP on the flattened sequence
    assert all(np.isfinite(r.validation.f1) for r in finished_records(mlp.study))


@pytest.mark.slow
def test_uint8_pixels_stay_uint8_on_the_device_and_are_not_standardised(tmp_path):
    X, y = images(dtype=np.uint8)
    splits = make_splits(dataset_from_arrays(X, y), DataConfig(folds=1))
    assert splits.train.X.dtype == np.uint8 and splits.scaling is None
    model = ModelConfig(factory=conv2d_factory, **MODEL)
    trainer = PackedTrainer(splits, model, members=2, seed=0, factory=conv2d_factory)
    assert keras.backend.standardize_dtype(trainer._pass.X.dtype) == "uint8"
    assert trainer.input_dtype == "float32"  # cast per batch, on the device
    scores = trainer.train_and_score({"weights": np.ones((2, 3, 3), np.float32)})
    assert np.isfinite(scores.validation).all()
    result = sweep(tmp_path, X, y, model={**MODEL, "factory": conv2d_factory})
    assert result.info.input_dtype == "uint8" and result.info.scaling is None


@pytest.mark.slow
def test_token_ids_reach_an_embedding_as_integers_and_are_not_standardised(tmp_path):
    X, y = tokens()
    splits = make_splits(dataset_from_arrays(X, y), DataConfig(folds=1))
    assert splits.train.X.dtype == np.int32 and splits.scaling is None
    assert set(np.unique(splits.train.X).tolist()) <= set(range(50))  # the ids, as given
    result = sweep(tmp_path, X, y, model={**MODEL, "factory": embedding_factory})
    assert result.info.input_dtype == "int32" and result.info.scaling is None
    assert len(finished_records(result.study)) == 2


def test_float_features_for_an_integer_input_are_one_line():
    X, _ = tokens()
    probe = X[:8].astype(np.float32)
    with pytest.raises(sweeper.ConfigError, match=r"takes int32 inputs \(token ids\), but the "
                       "features are floating point"):
        check_factory(embedding_factory, (12,), 1, probe)


def test_a_factory_of_the_earlier_form_on_images_is_one_line_naming_the_new_form():
    def old(n_features, n_outputs):
        return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(n_outputs)])

    with pytest.raises(sweeper.ConfigError,
                       match=r"old\(\(8, 8, 1\), 3\) raised .* a factory receives one sample's "
                       "shape as a tuple"):
        adapt_factory(old, (8, 8, 1), 3)
    assert adapt_factory(conv2d_factory, (8, 8, 1), 3) is conv2d_factory


@pytest.mark.parametrize(("X", "y", "message"), [
    (np.full((40, 8, 8, 1), np.nan, np.float32), np.arange(40) % 2,
     r"features contain NaN or inf \(2560 values; first at row 0, position \(0, 0, 0\)\)"),
    (np.zeros((40, 8, 8, 1), np.float32), np.arange(39) % 2, "X and y have different lengths"),
    (np.zeros((0, 8, 8, 1), np.float32), np.zeros(0), "features are empty"),
    (np.zeros((40, 0, 3), np.float32), np.arange(40) % 2, "features are empty"),
    (np.zeros(40, np.float32), np.arange(40) % 2, r"features must be an array of shape \(rows"),
    (np.array([["a", "b"]] * 40), np.arange(40) % 2, "features are not numeric"),
    (np.full((40, 3), 2**40, np.int64), np.arange(40) % 2, "beyond int32's range"),
    (np.full((40, 3), 1e300), np.arange(40) % 2, "beyond float32's range"),
], ids=["nan-image", "lengths", "no-rows", "empty-sample", "1-d", "strings", "wide-ints",
        "huge-floats"])
def test_bad_inputs_of_the_new_kinds_are_one_line_and_leave_no_study(tmp_path, X, y, message):
    with pytest.raises(sweeper.DataError, match=message):
        sweep(tmp_path, X, y, model={**MODEL, "factory": conv2d_factory})
    assert not (tmp_path / "s.db").exists()


@pytest.mark.slow
def test_a_memory_mapped_input_gives_the_same_trials_as_the_array_in_memory(tmp_path):
    """An ``np.load(..., mmap_mode="r")`` array is taken as it is (checked a block of rows at
    a time, never copied whole by the checks) and the same seed gives the same trial records."""
    X, y = images()
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap)
    model = {**MODEL, "factory": conv2d_factory}
    here = sweeper.sweep(X, y, trials=2, data={"folds": 1}, model=model, study_name="here",
                         storage=f"sqlite:///{tmp_path / 'a.db'}", progress=False)
    there = sweeper.sweep(mapped, y, trials=2, data={"folds": 1}, model=model,
                          study_name="there", storage=f"sqlite:///{tmp_path / 'b.db'}",
                          progress=False)
    assert here.info.fingerprint == there.info.fingerprint
    for a, b in zip(finished_records(here.study), finished_records(there.study), strict=True):
        assert a.candidate == b.candidate and a.weights == b.weights
        assert a.validation == b.validation and a.test == b.test


def batchnorm_dropout_conv(input_shape, n_outputs):
    """State a member keeps of its own: BatchNorm's moving statistics, Dropout's seed. (No
    conv bias before BatchNorm: its true gradient is 0, and Adam would blow the float noise of
    two summation orders up to full steps, 1e-4 apart after one epoch.)"""
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(4, 3, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(n_outputs, kernel_regularizer=keras.regularizers.L2(1e-3)),
    ])


@pytest.mark.slow
@pytest.mark.parametrize("factory", [conv2d_factory, batchnorm_dropout_conv],
                         ids=["conv", "batchnorm-dropout-l2"])
def test_vmapped_members_train_as_the_packed_copies_do(factory):
    """``[model] members = "vmapped"`` (JAX): a factory's members run as one vmapped
    computation (one batched convolution); each member trains as its copy in the packed graph
    does (scores within 3e-4, the same best epochs), BatchNorm statistics, dropout and
    regularisers per member included."""
    if keras.backend.backend() != "jax":
        pytest.skip("members are vmapped on JAX; TensorFlow packs copies")
    import dataclasses

    import sweeper.training._models as models

    X, y = images(400)
    splits = make_splits(dataset_from_arrays(X, y), DataConfig(folds=1))
    model = ModelConfig(factory=factory, epochs=6, batch_size=32, learning_rate=0.01,
                        patience=2, members="vmapped")
    weights = np.stack([np.ones((3, 3)), np.full((3, 3), 2.0), np.eye(3) + 1]).astype("float32")
    vmapped = PackedTrainer(splits, model, members=3, seed=0, factory=factory)
    assert isinstance(vmapped.network, models.VmappedMembers)
    a = vmapped.train_and_score({"weights": weights})
    copies = PackedTrainer(splits, dataclasses.replace(model, members="copies"), members=3,
                           seed=0, factory=factory)
    assert not isinstance(copies.network, models.VmappedMembers)
    b = copies.train_and_score({"weights": weights})
    np.testing.assert_allclose(a.validation, b.validation, atol=3e-4)
    np.testing.assert_allclose(a.test, b.test, atol=3e-4)
    assert (a.epochs == b.epochs).all()
    assert np.abs(a.validation[0] - a.validation[2]).max() > 1e-3  # the weights mattered


@pytest.mark.slow
@pytest.mark.parametrize("folds", [1, 3], ids=["one-split", "3-folds"])
@pytest.mark.parametrize("factory", [None, conv2d_factory], ids=["packed-mlp", "conv"])
def test_streamed_training_equals_resident_training(factory, folds, monkeypatch):
    """``[model] device_data = "streamed"``: the batches gathered on the host (uint8 pixels
    from a memory map) and sent in blocks of a few steps train exactly as the resident data
    does: the same batch order and steps, scores within 1e-5, the same best epochs."""
    import sweeper.training._packed as packed

    monkeypatch.setattr(packed, "STREAM_BLOCK_BYTES", 3 * 32 * 64)  # blocks of 3 steps
    X, y = images(300, dtype=np.uint8)
    splits = make_splits(dataset_from_arrays(X, y), DataConfig(folds=folds))
    settings = {"epochs": 4, "batch_size": 32, "learning_rate": 0.01, "patience": 2,
                **({"hidden": [8]} if factory is None else {"factory": factory})}
    weights = np.stack([np.ones((3, 3)), np.full((3, 3), 2.0)]).astype("float32")
    scores = {}
    for where in ("resident", "streamed"):
        model = ModelConfig.from_mapping({**settings, "device_data": where})
        trainer = PackedTrainer(splits, model, members=2, seed=0, factory=factory)
        assert trainer.streamed == (where == "streamed")
        scores[where] = trainer.train_and_score({"weights": weights})
    np.testing.assert_allclose(scores["streamed"].validation, scores["resident"].validation,
                               atol=1e-5)
    np.testing.assert_allclose(scores["streamed"].test, scores["resident"].test, atol=1e-5)
    assert (scores["streamed"].epochs == scores["resident"].epochs).all()


@pytest.mark.slow
def test_a_memory_mapped_input_streamed_gives_the_records_of_the_resident_run(tmp_path):
    X, y = images(300, dtype=np.uint8)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    records = {}
    for where, features in (("resident", X), ("streamed", mapped)):
        result = sweeper.sweep(
            features, y, trials=2, data={"folds": 1}, study_name=where, progress=False,
            model={**MODEL, "factory": conv2d_factory, "device_data": where},
            storage=f"sqlite:///{tmp_path / where}.db",
        )
        records[where] = finished_records(result.study)
    for a, b in zip(records["resident"], records["streamed"], strict=True):
        assert a.candidate == b.candidate and a.epochs == b.epochs
        assert a.validation.recall == pytest.approx(b.validation.recall, abs=1e-6)
        assert a.validation.precision == pytest.approx(b.validation.precision, abs=1e-6)


def test_a_folder_of_npy_files_is_a_memory_mapped_source(tmp_path):
    """``[data] source = "images"``, a folder holding X.npy (memory-mapped) and y.npy: the
    features are read from the map, as uint8; a folder without y.npy is one line."""
    from sweeper.config import DataConfig as Data
    from sweeper.data import load_source

    X, y = images(120, dtype=np.uint8)
    folder = tmp_path / "images"
    folder.mkdir()
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", y)
    dataset = load_source(Data(source="images"), tmp_path)
    assert isinstance(dataset.X, np.memmap) and dataset.X.dtype == np.uint8
    assert dataset.input_shape == (8, 8, 1) and dataset.n_outputs == 3
    (folder / "y.npy").unlink()
    with pytest.raises(sweeper.DataError, match=r"images: the folder has no y.npy"):
        load_source(Data(source="images"), tmp_path)
