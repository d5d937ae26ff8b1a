"""Data larger than host memory: the splits of a memory map are views (the map and row
indices), read a block of rows at a time by every consumer; fingerprints and standardisation
are computed a block at a time and equal the in-memory ones. The memory bounds are measured
with ``tracemalloc`` (NumPy reports its allocations to it), never with a clock."""

from __future__ import annotations

import hashlib
import json
import tracemalloc

import numpy as np
import pytest

import sweeper
import sweeper.data._rows as rows_module
import sweeper.data._scaling as scaling_module
import sweeper.training._packed as packed_module
from sweeper.config import DataConfig, ModelConfig, Task
from sweeper.data import Dataset, RowView, dataset_from_arrays, make_splits
from sweeper.study import finished_records
from sweeper.study._study import splits_fingerprint
from sweeper.training import PackedTrainer


def mapped(tmp_path, X: np.ndarray, name: str = "X") -> np.memmap:
    """``X`` saved as ``name.npy`` and loaded back as a read-only memory map."""
    np.save(tmp_path / f"{name}.npy", X)
    return np.load(tmp_path / f"{name}.npy", mmap_mode="r")


def whole_array_fingerprint(dataset: Dataset) -> str:
    """The fingerprint as sweeper computed it before blocks: each array whole, as bytes."""
    digest = hashlib.sha256()
    digest.update(dataset.task.encode())
    digest.update("\x1f".join(dataset.labels).encode())
    if dataset.task is Task.BINARY:
        digest.update(json.dumps(list(dataset.classes or ())).encode())
    for array in (np.asarray(dataset.X), dataset.y):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


rng = np.random.default_rng(0)
KINDS = {
    "float64-flat": rng.normal(size=(600, 7)) * 50 + 3,
    "float32-images": rng.uniform(size=(600, 6, 6, 2)).astype(np.float32),
    "float64-sequences": rng.normal(size=(600, 5, 3)),
    "uint8-images": rng.integers(0, 256, (600, 6, 6, 1)).astype(np.uint8),
    "int64-ids": rng.integers(0, 90, (600, 12)),
    "booleans": rng.random((600, 9)) < 0.3,
}
LABELS = rng.permutation(np.repeat([0, 1, 2], [400, 140, 60]))


@pytest.mark.parametrize("folds", [1, 3], ids=["one-split", "3-folds"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_memory_map_is_split_into_views_with_the_in_memory_fingerprints(
    tmp_path, monkeypatch, kind, folds
):
    """The splits of a map hold views, not copies; read in blocks of a few rows, every
    fingerprint (the data's, the splits', hence a stored study's) and the standardisation's
    mean and scale equal the in-memory run's, and the fingerprint hashes the same bytes as the
    whole array's (so studies made before blocks resume)."""
    X = KINDS[kind]
    memory = dataset_from_arrays(X, LABELS)
    in_memory = make_splits(memory, DataConfig(folds=folds))
    monkeypatch.setattr(rows_module, "BLOCK_BYTES", 500)  # many blocks of a few rows
    dataset = dataset_from_arrays(mapped(tmp_path, X), LABELS)
    splits = make_splits(dataset, DataConfig(folds=folds))
    for part in (splits.train, splits.validation, splits.test):
        assert isinstance(part.X, RowView)
    assert splits.train.X.dtype == in_memory.train.X.dtype
    assert dataset.fingerprint() == memory.fingerprint() == whole_array_fingerprint(memory)
    for part in (splits.train, splits.test):
        assert part.fingerprint() == whole_array_fingerprint(part)
    assert splits_fingerprint(splits) == splits_fingerprint(in_memory)
    if in_memory.scaling is None:
        assert splits.scaling is None
    else:
        assert splits.scaling is not None
        np.testing.assert_array_equal(splits.scaling.mean, in_memory.scaling.mean)
        np.testing.assert_array_equal(splits.scaling.scale, in_memory.scaling.scale)


def test_a_view_reads_the_rows_indexing_would_give(tmp_path):
    """A view answers as the array of its rows would: a row, a negative row, slices, unsorted
    and repeated rows (a padded batch), a boolean mask, a position within samples, a view of
    a view, the whole; anything else is an IndexError naming what it takes."""
    X = KINDS["float32-images"]
    rows = np.array([5, 3, 400, 9, 0, 77, 599, 1])
    view = RowView(mapped(tmp_path, X), rows)
    expected = X[rows]
    assert view.shape == expected.shape and view.dtype == expected.dtype
    assert len(view) == 8 and view.ndim == 4 and view.nbytes == expected.nbytes
    for key in (2, -1, slice(1, 6), slice(None, None, -2), np.array([7, 2, 2, 0, 7]),
                np.arange(8) % 3 == 0, (np.array([4, 1]), 0), (slice(2, 5), 3, 2)):
        np.testing.assert_array_equal(view[key], expected[key], err_msg=str(key))
    np.testing.assert_array_equal(view.subset(np.array([6, 0]))[:], expected[[6, 0]])
    np.testing.assert_array_equal(np.asarray(view), expected)
    float64 = RowView(mapped(tmp_path, KINDS["float64-flat"], "F"), rows, dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(float64), KINDS["float64-flat"][rows]
                                  .astype(np.float32))
    for bad in (np.zeros((2, 2), np.int64), np.array([8]), np.array([0.5]), 8):
        with pytest.raises(IndexError):
            view[bad]


@pytest.mark.parametrize("kind", ["float64-flat", "float32-images", "float64-sequences"])
def test_standardised_views_equal_the_materialised_features(tmp_path, monkeypatch, kind):
    """A standardised split of a map standardises each block as it is read: blocks of rows,
    a streamed epoch's gathered batches (unsorted, repeated rows) and the whole split equal the
    in-memory split, standardised at once, bit for bit."""
    X = KINDS[kind]
    in_memory = make_splits(dataset_from_arrays(X, LABELS), DataConfig(folds=1))
    monkeypatch.setattr(rows_module, "BLOCK_BYTES", 700)
    splits = make_splits(dataset_from_arrays(mapped(tmp_path, X), LABELS), DataConfig(folds=1))
    for view, expected in ((splits.train.X, in_memory.train.X),
                           (splits.validation.X, in_memory.validation.X),
                           (splits.test.X, in_memory.test.X)):
        assert isinstance(view, RowView) and view.scaling is not None
        np.testing.assert_array_equal(np.asarray(view), expected)
        batches = np.random.default_rng(1).integers(0, view.shape[0], size=(4, 16))
        batches[-1, 10:] = 0  # the padding of a last batch
        np.testing.assert_array_equal(view[batches.ravel()], expected[batches.ravel()])
        np.testing.assert_array_equal(view[3:40], expected[3:40])


def big_map(tmp_path, rows: int = 2000, features: int = 8192) -> np.memmap:
    """A float64 map of ``rows * features * 8`` bytes (125 MiB by default), written a block
    at a time (the test itself holds no copy of it)."""
    path = tmp_path / "big.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64,
                                    shape=(rows, features))
    generator = np.random.default_rng(0)
    for start in range(0, rows, 250):
        out[start:start + 250] = generator.normal(size=(min(250, rows - start), features))
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


def big_labels(rows: int = 2000) -> np.ndarray:
    return np.random.default_rng(1).permutation(np.arange(rows) % 3)


def small_blocks(monkeypatch) -> None:
    """Host blocks of 2 MiB instead of 64 MiB (reads) and 32 MiB (statistics), so that a map
    of 125 MiB spans many blocks: the bound then shows that memory follows the block, not the
    map. (At the defaults it takes a map of gigabytes to show the same.)"""
    monkeypatch.setattr(rows_module, "BLOCK_BYTES", 2 * 2**20)
    monkeypatch.setattr(scaling_module, "FIT_BLOCK_BYTES", 2 * 2**20)
    monkeypatch.setattr(packed_module, "STREAM_BLOCK_BYTES", 2 * 2**20)


def test_preparing_a_memory_mapped_data_set_allocates_a_few_blocks_not_the_map(
    tmp_path, monkeypatch
):
    """Checking a 125 MiB float64 map, fingerprinting it, splitting it, standardising the
    splits, fingerprinting them and gathering one streamed epoch's batches allocates under a
    quarter of the map's size in host memory (traced NumPy allocations; about 17 MiB measured):
    the splits hold views, and every pass reads a block of rows at a time."""
    small_blocks(monkeypatch)
    X, y = big_map(tmp_path), big_labels()
    tracemalloc.start()
    try:
        dataset = dataset_from_arrays(X, y)
        dataset.fingerprint()
        splits = make_splits(dataset, DataConfig(folds=1))
        splits_fingerprint(splits)
        train = splits.train.X
        for start in range(0, train.shape[0], 128):  # a streamed epoch's batches, in blocks
            train[np.arange(start, min(start + 128, train.shape[0]))]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(train, RowView) and train.dtype == np.float32
    assert peak < X.nbytes / 4, f"{peak / 2**20:.1f} MiB allocated for a map of " \
                                f"{X.nbytes / 2**20:.0f} MiB"


@pytest.mark.slow
@pytest.mark.backend
def test_a_streamed_sweep_of_a_memory_map_allocates_a_few_blocks_not_the_map(
    tmp_path, monkeypatch
):
    """A whole streamed sweep of a 125 MiB float64 map (checks, splits, standardisation,
    fingerprints, a packed MLP trained a block of batches at a time, validation losses and
    scores in chunks, a SQLite study) allocates under a quarter of the map's size in host
    NumPy and Python memory (about 16 MiB measured): no split is ever copied whole. A first
    sweep of a few rows in memory imports and builds what a sweep imports, which the bound
    is not about."""
    small_blocks(monkeypatch)
    X, y = big_map(tmp_path), big_labels()
    model = {"hidden": [4], "epochs": 2, "batch_size": 64, "pack": 2, "patience": 1,
             "device_data": "streamed"}
    sweeper.sweep(np.asarray(X[:300]), y[:300], trials=2, data={"folds": 1}, model=model,
                  study_name="warm", storage=f"sqlite:///{tmp_path / 'warm.db'}",
                  progress=False)
    tracemalloc.start()
    try:
        result = sweeper.sweep(X, y, trials=2, data={"folds": 1}, model=model,
                               study_name="mapped", storage=f"sqlite:///{tmp_path / 's.db'}",
                               progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(finished_records(result.study)) == 2
    assert peak < X.nbytes / 4, f"{peak / 2**20:.1f} MiB allocated for a map of " \
                                f"{X.nbytes / 2**20:.0f} MiB"


@pytest.mark.slow
@pytest.mark.backend
@pytest.mark.parametrize("folds", [1, 3], ids=["one-split", "3-folds"])
def test_standardised_features_of_a_map_train_as_the_array_in_memory(
    tmp_path, monkeypatch, folds
):
    """Float features standardised as each block is read from a map train as the in-memory
    standardised array: held resident (the view read once), exactly as the array; streamed in
    blocks of a few steps (the validation loss in chunks too), within 1e-5 of it and with the
    same best epochs."""
    monkeypatch.setattr(packed_module, "STREAM_BLOCK_BYTES", 3 * 32 * 7 * 4)
    X = KINDS["float64-flat"]
    weights = np.stack([np.ones((3, 3)), np.full((3, 3), 2.0)]).astype("float32")
    settings = {"hidden": [8], "epochs": 4, "batch_size": 32, "learning_rate": 0.01,
                "patience": 2}
    scores = {}
    for where, features, device_data in (("memory", X, "resident"),
                                         ("map", mapped(tmp_path, X), "resident"),
                                         ("streamed", mapped(tmp_path, X), "streamed")):
        splits = make_splits(dataset_from_arrays(features, LABELS), DataConfig(folds=folds))
        assert isinstance(splits.train.X, RowView) == (where != "memory")
        trainer = PackedTrainer(splits, ModelConfig.from_mapping({**settings,
                                                                  "device_data": device_data}),
                                members=2, seed=0)
        assert trainer.streamed == (device_data == "streamed")
        scores[where] = trainer.train_and_score({"weights": weights})
    memory = scores["memory"]
    np.testing.assert_array_equal(scores["map"].validation, memory.validation)
    np.testing.assert_array_equal(scores["map"].test, memory.test)
    assert (scores["map"].epochs == memory.epochs).all()
    np.testing.assert_allclose(scores["streamed"].validation, memory.validation, atol=1e-5)
    np.testing.assert_allclose(scores["streamed"].test, memory.test, atol=1e-5)
    assert (scores["streamed"].epochs == memory.epochs).all()


def dense_factory(input_shape, n_outputs):
    import keras

    return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                             keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(n_outputs)])


def keras_fit_step(model, loss, arguments):
    """A user's step: Keras's compile and fit on the arrays it is given."""
    model.compile(optimizer=arguments.optimizer(), loss=loss)
    model.fit(arguments.x, arguments.y, validation_data=arguments.validation_data,
              epochs=arguments.epochs, batch_size=arguments.batch_size, verbose=0)
    return model


@pytest.mark.slow
@pytest.mark.any_backend("the same sweep of the map and of the array, on one backend")
def test_a_user_step_and_factory_on_a_memory_map_give_the_in_memory_records(tmp_path):
    """A factory probed on the map's first rows and a user's own step under cross-validation
    (its folds' rows read from the map's views as the arrays Keras's fit takes; standardised
    sequences): the same trial records as the same sweep of the array in memory."""
    X = KINDS["float64-sequences"]
    model = {"factory": dense_factory, "fit": keras_fit_step, "epochs": 2, "batch_size": 64,
             "pack": 2}
    records = {}
    for where, features in (("memory", X), ("map", mapped(tmp_path, X))):
        result = sweeper.sweep(features, LABELS, trials=2, data={"folds": 2}, model=model,
                               study_name=where, storage=f"sqlite:///{tmp_path / where}.db",
                               progress=False)
        records[where] = finished_records(result.study)
    for a, b in zip(records["memory"], records["map"], strict=True):
        assert a.candidate == b.candidate and a.weights == b.weights
        assert a.validation == b.validation and a.test == b.test
