from __future__ import annotations

import numpy as np
import pytest

from sweeper.config import DataConfig
from sweeper.data import (
    Dataset,
    load_source,
    make_seed_multiclass,
    make_seed_multilabel,
    make_splits,
    split_dataset,
)
from sweeper.errors import DataError


def test_seed_multilabel_matches_the_seed_problem():
    data = make_seed_multilabel(seed=1)
    assert data.X.shape == (30_000, 30) and data.y.shape == (30_000, 30)
    assert data.y.mean() == pytest.approx(1 / 30, rel=0.05)
    # feature j is 1 only where label j is positive, for about 10% of those positives
    assert not (data.X.astype(bool) & ~data.y.astype(bool)).any()
    assert data.X.sum() / data.y.sum() == pytest.approx(0.1, abs=0.01)


def test_seed_multiclass_has_the_seed_counts():
    data = make_seed_multiclass()
    assert data.label_counts().tolist() == [198, 436, 710, 272]
    assert data.task == "multiclass"


def test_split_is_stratified_and_deterministic():
    data = make_seed_multiclass()
    first = split_dataset(data, validation_fraction=0.2, test_fraction=0.2, seed=3)
    again = split_dataset(data, validation_fraction=0.2, test_fraction=0.2, seed=3)
    np.testing.assert_array_equal(first.test.y, again.test.y)
    for part, fraction in ((first.validation, 0.2), (first.test, 0.2), (first.train, 0.6)):
        np.testing.assert_allclose(part.label_counts() / data.label_counts(), fraction, atol=0.01)
    total = sum(p.X.shape[0] for p in (first.train, first.validation, first.test))
    assert total == data.X.shape[0]


def test_rare_multilabel_labels_reach_every_split():
    rng = np.random.default_rng(0)
    y = np.zeros((400, 3), dtype=np.uint8)
    y[rng.choice(400, 3, replace=False), 0] = 1  # only three positives
    y[rng.choice(400, 120, replace=False), 1] = 1
    y[:, 2] = rng.random(400) < 0.3
    data = Dataset(
        X=rng.random((400, 3)).astype(np.float32), y=y, task="multilabel", labels=("a", "b", "c")
    )
    splits = split_dataset(data, validation_fraction=0.2, test_fraction=0.2, seed=0)
    for part in (splits.train, splits.validation, splits.test):
        assert (part.label_counts() > 0).all()


def section(source, **kwargs):
    return DataConfig(source=source, **kwargs)


def test_csv_multilabel_and_multiclass(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("f1,f2,A,B,kind\n0.5,1,1,0,cat\n1.5,2,0,1,dog\n2.5,3,1,1,cat\n")
    multi = load_source(
        section("d.csv", label_columns=("A", "B"), feature_columns=("f1", "f2")), tmp_path
    )
    assert multi.task == "multilabel" and multi.labels == ("A", "B")
    np.testing.assert_array_equal(multi.y, [[1, 0], [0, 1], [1, 1]])
    single = load_source(
        section("d.csv", label_column="kind", feature_columns=("f1", "f2")), tmp_path
    )
    assert single.task == "multiclass" and single.labels == ("cat", "dog")
    np.testing.assert_array_equal(single.y, [0, 1, 0])


def write_npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"X": np.ones((4, 2)), "y": np.ones((3, 2))}, "X and y have different lengths"),
        (
            {"X": np.array([[1.0, np.nan], [0, 0]]), "y": np.array([[1], [0]])},
            r"features contain NaN or inf \(1 values; first at row 0, feature 1\)",
        ),
        ({"X": np.array([[1.0, np.inf], [0, 0]]), "y": np.array([[1], [0]])}, "NaN or inf"),
        (
            {"X": np.ones((2, 2)), "y": np.array([[1, 2], [0, 1]])},
            "label 'label_1' has values other than 0 and 1",
        ),
        ({"X": np.ones((2, 2))}, "no array named 'y'"),
        ({"X": np.ones((2, 2)), "y": np.array([0.5, 0])}, "y: row 0 holds 0.5, which is no class"),
    ],
)
def test_bad_npz(tmp_path, arrays, message):
    write_npz(tmp_path, **arrays)
    with pytest.raises(DataError, match=message):
        load_source(section("d.npz"), tmp_path)


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("a,b\n1,1\n", {"label_columns": ("c",)}, "no column named 'c'"),
        ("a,b\n1,x\n", {"label_columns": ("a",)}, "column 'b', line 2: not a number: 'x'"),
        ("a,b\n1,2\n", {"label_columns": ("b",)}, "label 'b' has values other than 0 and 1"),
        ("a,b\n1,2,3\n", {"label_columns": ("b",)}, "line 2 has 3 fields, the header has 2"),
        ("a,b\n1,1\n", {}, "needs \\[data\\] label_columns"),
    ],
)
def test_bad_csv(tmp_path, text, kwargs, message):
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        load_source(section("d.csv", **kwargs), tmp_path)


def test_missing_file_and_unknown_builtin(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: data file not found"):
        load_source(section("nope.csv"), tmp_path)
    with pytest.raises(DataError, match="unknown built-in data set 'nope'"):
        load_source(section("builtin:nope"), tmp_path)


def test_label_without_training_positive_is_rejected(tmp_path):
    X = np.random.default_rng(0).random((50, 2))
    y = np.zeros((50, 2), dtype=np.uint8)
    y[::5, 0] = 1  # label "never" has no positive at all
    write_npz(tmp_path, X=X, y=y, labels=np.array(["common", "never"]))
    with pytest.raises(DataError, match="label 'never' has no positive sample in the training"):
        make_splits(load_source(section("d.npz"), tmp_path), section("d.npz"))


def test_fingerprint_changes_with_the_data():
    first, second = make_seed_multiclass(seed=0), make_seed_multiclass(seed=1)
    assert first.fingerprint() == make_seed_multiclass(seed=0).fingerprint()
    assert first.fingerprint() != second.fingerprint()


def test_longtail_frequencies_span_one_in_ten_to_one_in_three_hundred():
    from sweeper.data import make_longtail_multilabel

    data = make_longtail_multilabel(n_rows=60_000)
    frequencies = data.y.mean(axis=0)
    assert frequencies.max() == pytest.approx(1 / 10, rel=0.1)
    assert frequencies.min() == pytest.approx(1 / 300, rel=0.35)
    assert data.X.shape == (60_000, 34)


def test_longtail_closed_form_posterior_matches_monte_carlo():
    """Among pairs whose closed-form posterior falls in a bin, the share of positives (a Monte
    Carlo estimate of P(y=1 | x)) must match the bin's mean posterior."""
    from sweeper.data import longtail_spec, make_longtail_multilabel

    data = make_longtail_multilabel(n_rows=200_000, seed=3)
    posterior = longtail_spec(seed=3).posterior(data.X)
    edges = np.array([0.0, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 1.0])
    bins = np.digitize(posterior.ravel(), edges[1:-1])
    truth = data.y.ravel()
    for b in range(edges.size - 1):
        members = bins == b
        assert members.sum() > 2000
        expected = posterior.ravel()[members].mean()
        observed = truth[members].mean()
        tolerance = 4 * np.sqrt(expected * (1 - expected) / members.sum()) + 0.002
        assert abs(observed - expected) < tolerance, (b, observed, expected)
    # and the posterior is not trivially the prior: it separates labels from non-labels
    assert posterior[data.y == 1].mean() > 5 * posterior[data.y == 0].mean()


def test_seed_multilabel_posterior_matches_monte_carlo():
    from sweeper.data import make_seed_multilabel, seed_multilabel_posterior

    data = make_seed_multilabel(n_rows=60_000, seed=2)
    posterior = seed_multilabel_posterior(data.X)
    assert np.all(data.y[posterior == 1.0] == 1)
    hidden = posterior < 1
    assert data.y[hidden].mean() == pytest.approx(posterior[hidden][0], rel=0.03)
    assert posterior[hidden][0] == pytest.approx(0.9 / 30 / (0.9 / 30 + 29 / 30))


@pytest.mark.parametrize("seed", range(8))
def test_every_label_with_three_positives_reaches_every_split(seed):
    """The split property on long-tailed random data: a label (class) with at least three
    positives (samples) has at least one in train, validation and test."""
    rng = np.random.default_rng(seed)
    n_rows = 300
    frequencies = np.geomspace(0.3, 1 / n_rows, 12)  # down to about one positive
    y = (rng.random((n_rows, frequencies.size)) < frequencies).astype(np.uint8)
    # Label "A" has exactly 3 positives, each on a row that also carries a label of its own
    # (1 positive): stratified by their rarest label, all three rows go to training.
    rows = rng.choice(n_rows, 3, replace=False)
    singletons = np.zeros((n_rows, 3), dtype=np.uint8)
    singletons[rows, [0, 1, 2]] = 1
    y = np.hstack([y, singletons, singletons.max(axis=1, keepdims=True)])
    X = rng.random((n_rows, 2)).astype(np.float32)
    labels = (*(f"L{j}" for j in range(y.shape[1] - 1)), "A")
    multilabel = Dataset(X=X, y=y, task="multilabel", labels=labels)
    classes = rng.choice(6, size=n_rows, p=np.array([40, 20, 10, 5, 1, 0.5]) / 76.5)
    multiclass = Dataset(X=X, y=classes, task="multiclass", labels=tuple("abcdef"))
    for dataset in (multilabel, multiclass):
        splits = split_dataset(dataset, validation_fraction=0.2, test_fraction=0.2, seed=seed)
        enough = dataset.label_counts() >= 3
        for part in (splits.train, splits.validation, splits.test):
            assert (part.label_counts()[enough] > 0).all()
        assert sum(p.X.shape[0] for p in (splits.train, splits.validation, splits.test)) == n_rows


def test_labels_that_cannot_be_evaluated_are_named(tmp_path, caplog):
    from sweeper.data import unevaluable

    rng = np.random.default_rng(0)
    y = rng.choice(3, size=200, p=[0.6, 0.39, 0.01])
    y[:2] = 2  # class "rare": two samples, both go to training
    y[2:] = np.where(y[2:] == 2, 0, y[2:])
    data = Dataset(X=rng.random((200, 2)).astype(np.float32), y=y, task="multiclass",
                   labels=("common", "middle", "rare"))
    splits = make_splits(data, DataConfig())
    assert unevaluable(splits) == ("rare",)
    assert "'rare' cannot be evaluated" in caplog.text


def _rows_as_ids(dataset: Dataset) -> Dataset:
    """The same labels with each row's index as its one feature, to follow rows through."""
    ids = np.arange(dataset.X.shape[0], dtype=np.float32)[:, None]
    return Dataset(X=ids, y=dataset.y, task=dataset.task, labels=dataset.labels)


@pytest.mark.parametrize("n_folds", [2, 5])
def test_folds_partition_the_non_test_rows(n_folds):
    rng = np.random.default_rng(1)
    classes = rng.choice(5, size=700, p=[0.5, 0.3, 0.15, 0.04, 0.01])
    multiclass = Dataset(X=np.zeros((700, 1), np.float32), y=classes, task="multiclass",
                         labels=tuple("abcde"))
    y = (rng.random((700, 4)) < [0.4, 0.1, 0.03, 0.01]).astype(np.uint8)
    multilabel = Dataset(X=np.zeros((700, 1), np.float32), y=y, task="multilabel",
                         labels=tuple("wxyz"))
    for dataset in (multiclass, multilabel):
        dataset = _rows_as_ids(dataset)
        config = DataConfig(folds=n_folds, standardize=False)
        splits = make_splits(dataset, config)
        single = split_dataset(dataset, validation_fraction=0.2, test_fraction=0.2, seed=0)
        assert splits.n_folds == n_folds and splits.validation is splits.train
        pool = splits.train.X[:, 0].astype(int)
        test = splits.test.X[:, 0].astype(int)
        # The test split is the one-split study's, and the folds cover every other row once.
        np.testing.assert_array_equal(np.sort(test), np.sort(single.test.X[:, 0].astype(int)))
        assert np.intersect1d(pool, test).size == 0
        assert np.union1d(pool, test).size == dataset.X.shape[0] == pool.size + test.size
        sizes = np.bincount(splits.folds, minlength=n_folds)
        assert sizes.max() - sizes.min() <= 1
        # Stratified: a class (a multi-label row's rarest label) with K rows is in every fold.
        if dataset.task == "multiclass":
            for label in range(5):
                rows = splits.train.y == label
                if rows.sum() >= n_folds:
                    assert np.unique(splits.folds[rows]).size == n_folds
        assert splits.rows_per_model == pool.size - round(pool.size / n_folds)


def test_automatic_folds_cross_validate_where_one_split_is_too_small():
    rng = np.random.default_rng(0)
    X = rng.random((3000, 2)).astype(np.float32)
    common = Dataset(X=X, y=rng.choice(2, size=3000), task="multiclass", labels=("a", "b"))
    splits = make_splits(common, DataConfig())
    assert splits.folds is None and splits.note.startswith("one validation split")
    rare = Dataset(X=X, y=(rng.random(3000) < 0.02).astype(np.int64), task="multiclass",
                   labels=("common", "rare"))
    splits = make_splits(rare, DataConfig())
    assert splits.n_folds == 5
    assert "'rare'" in splits.note and "[data] folds = 1" in splits.note
    assert make_splits(rare, DataConfig(folds=1)).folds is None


def test_features_are_standardised_with_the_training_rows_statistics():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(5000, 300, 600), rng.random(600), np.full(600, 7.0)])
    data = Dataset(X=X.astype(np.float32), y=rng.choice(2, size=600), task="multiclass",
                   labels=("a", "b"))
    splits = make_splits(data, DataConfig(folds=1))
    np.testing.assert_allclose(splits.train.X.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(splits.train.X.std(axis=0), [1, 1, 0], atol=1e-4)
    raw = make_splits(data, DataConfig(folds=1, standardize=False))
    assert raw.scaling is None
    # Validation and test rows use the training rows' mean and scale, not their own.
    np.testing.assert_allclose(splits.scaling.transform(raw.test.X), splits.test.X)
    np.testing.assert_allclose(splits.test.X * splits.scaling.scale + splits.scaling.mean,
                               raw.test.X, rtol=1e-5)


def test_too_many_folds_for_the_rows_is_one_line():
    data = Dataset(X=np.zeros((10, 1), np.float32), y=np.arange(10) % 2, task="multiclass",
                   labels=("a", "b"))
    with pytest.raises(DataError, match=r"folds = 5 needs at least 10 non-test rows"):
        make_splits(data, DataConfig(folds=5))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.bool_, np.float32])
def test_labels_in_memory_are_checked_in_their_own_dtype_and_kept_as_uint8(dtype, monkeypatch):
    """0/1 labels are never widened to be checked (a float64 copy of 3,000 labels weighs eight
    times the labels); each block of rows is checked, and the first bad value named is the
    first in row order, in whichever block it falls."""
    import sweeper.data._rows as rows_module
    from sweeper.data import dataset_from_arrays

    y = (np.arange(60 * 4).reshape(60, 4) % 3 == 0).astype(dtype)
    dataset = dataset_from_arrays(np.zeros((60, 2), np.float32), y)
    assert dataset.y.dtype == np.uint8 and np.array_equal(dataset.y, y.astype(np.uint8))
    already = y.astype(np.uint8)
    assert dataset_from_arrays(np.zeros((60, 2), np.float32), already).y is already
    if dtype == np.bool_:
        return
    monkeypatch.setattr(rows_module, "BLOCK_BYTES", 8)  # a row or two per block
    bad = y.copy()
    bad[41, 2] = 2
    bad[50, 1] = 3
    with pytest.raises(DataError, match="label 'label_2' has values other than 0 and 1"):
        dataset_from_arrays(np.zeros((60, 2), np.float32), bad)
