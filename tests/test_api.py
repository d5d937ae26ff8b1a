"""The Python API end to end: sweep() on arrays and DataFrames in memory, real training, a real
SQLite study; load() reopens it; export() writes what `sweeper export` writes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import sweeper
from sweeper.cli import main
from sweeper.report import FrontPoint
from tests.support import make_multiclass_arrays, make_multilabel_arrays
from tests.support.tiers import trains

SMALL_MODEL = {"hidden": [16], "epochs": 4, "batch_size": 64, "learning_rate": 0.01, "pack": 2}


@pytest.fixture(scope="module")
def array_sweep(tmp_path_factory):
    """A multi-label sweep of 6 trials on NumPy arrays, into its own SQLite file."""
    folder = tmp_path_factory.mktemp("api")
    X, y = make_multilabel_arrays()
    result = sweeper.sweep(
        X, y, labels=["a", "b", "c", "d"], model=SMALL_MODEL, trials=6,
        storage=f"sqlite:///{folder / 'api.db'}", study_name="arrays", progress=False,
        artifacts=str(folder / "artifacts"),
    )
    return result, folder


def test_sweep_on_arrays_gives_the_front_baselines_and_verdict(array_sweep):
    result, _ = array_sweep
    assert result.study_name == "arrays"
    assert result.info.task == sweeper.Task.MULTILABEL
    assert result.info.labels == ("a", "b", "c", "d")
    front = result.front
    recalls = [point.validation_recall for point in front]
    assert front and recalls == sorted(recalls, reverse=True)
    assert all(0 <= point.test_precision <= 1 for point in front)
    assert set(result.baselines) == {"unweighted", "neg_pos", "sklearn_balanced",
                                     "deferred_balanced", "focal", "logit_adjusted",
                                     "asymmetric"}
    verdict = result.verdict
    recommendation = verdict.recommendation
    assert verdict.weighting_pays == (recommendation.point.baseline is None)
    best_baseline_f1 = recommendation.best_baseline.f1()
    assert recommendation.point.f1() >= best_baseline_f1
    # The default export is the recommended point.
    exported = result.export()
    assert (exported.trial, exported.baseline) == (
        FrontPoint.of(recommendation.point).trial, recommendation.point.baseline
    )
    html = result._repr_html_()
    assert "<table>" in html and verdict.message in html


def test_front_frame_has_a_row_per_front_point(array_sweep):
    pytest.importorskip("pandas")
    result, _ = array_sweep
    frame = result.front_frame()
    assert len(frame) == len(result.front)
    assert frame["validation_recall"].tolist() == [p.validation_recall for p in result.front]


def test_load_reopens_the_sweep(array_sweep):
    result, folder = array_sweep
    again = sweeper.load("arrays", f"sqlite:///{folder / 'api.db'}")
    assert again.info == result.info
    assert again.front == result.front


def test_load_of_a_missing_sqlite_file_creates_nothing(tmp_path):
    with pytest.raises(sweeper.StorageError, match="no such SQLite file") as caught:
        sweeper.load("nothing", f"sqlite:///{tmp_path / 'none.db'}")
    assert caught.value.key == "storage"
    assert not (tmp_path / "none.db").exists()


def test_export_equals_what_the_command_line_writes(array_sweep, tmp_path, capsys):
    result, folder = array_sweep
    exported = result.export(tmp_path / "api.json", min_recall=0.3)
    assert exported == sweeper.load_export(tmp_path / "api.json")
    assert exported.validation["recall"] >= 0.3

    study_file = tmp_path / "arrays.toml"
    study_file.write_text(
        f'[study]\nname = "arrays"\nstorage = "sqlite:///{folder / "api.db"}"\ntrials = 6\n'
        '[data]\nsource = "unused.npz"\n'
    )
    output = tmp_path / "cli.json"
    code = main(["export", str(study_file), "--min-recall", "0.3", "-o", str(output)])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "cli.json").read_text()) == json.loads(
        (tmp_path / "api.json").read_text()
    )


def test_export_without_a_path_writes_nothing(array_sweep, tmp_path, monkeypatch):
    result, _ = array_sweep
    monkeypatch.chdir(tmp_path)  # where a file without a folder would land
    exported = result.export(trial=0)
    assert exported.trial == 0
    assert list(tmp_path.iterdir()) == []


@trains
def test_sweep_on_a_dataframe_with_class_names_resumes(tmp_path):
    pandas = pytest.importorskip("pandas")
    X, y = make_multiclass_arrays()
    frame = pandas.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    names = pandas.Series(np.array(["ant", "bee", "cat", "dog"])[y], name="kind")
    storage = f"sqlite:///{tmp_path / 'frame.db'}"
    options = {"model": SMALL_MODEL, "trials": 2, "storage": storage, "progress": False}
    result = sweeper.sweep(frame, names, **options)
    assert result.info.task == sweeper.Task.MULTICLASS
    assert result.info.labels == ("ant", "bee", "cat", "dog")
    assert result.study_name.startswith("sweep-")  # derived from the data and the settings
    assert result.front and all(point.tau is not None for point in result.front)
    # The same call resumes the same study: nothing is left to train.
    again = sweeper.sweep(frame, names, **options)
    assert again.study_name == result.study_name
    assert len(again.study.trials) == len(result.study.trials)


@trains
def test_sweep_with_a_factory_of_the_earlier_form_keeps_working(tmp_path, caplog):
    """A factory written for ``(n_features, n_outputs)`` (before factories received the input
    shape) trains flat features as before, with a warning that says what changed."""
    import logging

    import keras

    def linear(n_features, n_outputs):
        return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(n_outputs)])

    X, y = make_multilabel_arrays(n_rows=600)
    with caplog.at_level(logging.WARNING, logger="sweeper"):
        result = sweeper.sweep(
            X, y, model=sweeper.ModelConfig(factory=linear, epochs=2, pack=2), trials=2,
            storage=f"sqlite:///{tmp_path / 'f.db'}", progress=False,
        )
    assert result.info.model["factory"].endswith("linear")
    assert result.info.model["hidden"] is None
    warned = [r.getMessage() for r in caplog.records if "takes the number of features" in
              r.getMessage()]
    assert len(warned) == 1 and "def linear(input_shape, n_outputs)" in warned[0]


@pytest.mark.parametrize(
    ("arguments", "error", "key", "message"),
    [
        ({"trials": 0}, sweeper.ConfigError, "trials",
         r"\[study\] trials: expected an integer from 1 to 10,000,000, got 0\."),
        ({"sampler": "random"}, sweeper.ConfigError, "sampler", r"\[study\] sampler: expected"),
        ({"trails": 5}, sweeper.ConfigError, "trails", r"\[study\] trails: unknown key\."),
        ({"model": {"epochs": 0}}, sweeper.ConfigError, "epochs", r"\[model\] epochs: expected"),
        ({"model": "mlp"}, sweeper.ConfigError, "model", r"model: expected a ModelConfig"),
        ({"search": {"exponnt": [0, 1]}}, sweeper.ConfigError, "exponnt", r"unknown key"),
        ({"search": {"logit_adjustment": [0, 1]}}, sweeper.ConfigError, "logit_adjustment",
         r"applies to multi-class data, but this data is multi-label"),
        ({"data": {"source": "x.csv"}}, sweeper.ConfigError, "source", r"applies to study files"),
        ({"data": {"test_fraction": 0.9}}, sweeper.ConfigError, "test_fraction",
         r"`validation_fraction \+ test_fraction < 1` must hold"),
        ({"labels": ["a", "b"]}, sweeper.DataError, "labels", r"2 names given for 4 labels"),
        ({"storage": "nosuchdb://x/y"}, sweeper.StorageError, "storage",
         r"unknown database dialect"),
        ({"storage": "mysql://x/y"}, sweeper.StorageError, "storage",
         r"database driver not installed \(MySQLdb\)"),
    ],
)
def test_bad_arguments_raise_with_the_key_and_create_no_study(
    tmp_path, monkeypatch, arguments, error, key, message
):
    monkeypatch.chdir(tmp_path)  # the default storage would be ./.sweeper/NAME.db
    X, y = make_multilabel_arrays(n_rows=200)
    with pytest.raises(error, match=message) as caught:
        sweeper.sweep(X, y, progress=False, **arguments)
    assert caught.value.key == key
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.full((20, 2), np.nan), np.zeros(20), r"features contain NaN or inf"),
        (np.ones((20, 2)), np.ones((19, 3)), r"X and y have different lengths"),
        (np.ones((20, 2)), np.full((20, 3), 2), r"label 'label_0' has values other than 0 and 1"),
        (np.ones((20, 2)), np.ones((20, 2, 2)), r"y: must be 1-D \(classes\) or 2-D"),
    ],
)
def test_bad_arrays_are_data_errors(X, y, message):
    with pytest.raises(sweeper.DataError, match=message):
        sweeper.sweep(X, y, progress=False)


def test_pandas_is_imported_only_when_given():
    code = (
        "import sys, numpy as np; from sweeper.data import dataset_from_arrays; "
        "dataset_from_arrays(np.ones((4, 2)), np.array([0, 1, 0, 1])); "
        "print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@trains
def test_an_edited_factory_is_another_model(tmp_path):
    """A notebook redefines its factory under the same name: the derived study is a new one,
    and a named study refuses to mix the two models."""
    import keras

    X, y = make_multilabel_arrays(n_rows=400)
    options = {"trials": 1, "storage": f"sqlite:///{tmp_path / 'f.db'}"}

    def factory(n_features, n_outputs):
        return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(n_outputs)])

    first = sweeper.prepare(X, y, model={"factory": factory, "epochs": 1}, **options)

    def factory(n_features, n_outputs):  # the notebook cell, edited and run again
        return keras.Sequential([
            keras.Input((n_features,)), keras.layers.Dense(8), keras.layers.Dense(n_outputs)
        ])

    second = sweeper.prepare(X, y, model={"factory": factory, "epochs": 1}, **options)
    assert first.study.study_name != second.study.study_name
    with pytest.raises(sweeper.DataError, match="created with another \\[model\\]") as caught:
        sweeper.prepare(X, y, model={"factory": factory, "epochs": 1},
                        study_name=first.study.study_name, **options)
    assert caught.value.key == "model"


@pytest.mark.parametrize(
    ("y", "labels"),
    [
        (np.array([0.0, 1.0] * 100), ("label_0", "label_1")),
        (np.array([False, True] * 100), ("label_0", "label_1")),
        (np.array([3, 7] * 100), ("3", "7")),
        (np.array(["no", "yes"] * 100, dtype=object), ("no", "yes")),
    ],
)
def test_class_values_become_classes(y, labels):
    from sweeper.data import dataset_from_arrays

    dataset = dataset_from_arrays(np.ones((200, 2)), y)
    assert dataset.labels == labels
    assert dataset.y.tolist() == [0, 1] * 100


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([0.0, 0.5] * 10), r"row 1 holds 0.5, which is no class id"),
        (np.array(["a", None] * 10, dtype=object), r"row 1 has no class"),
        (np.zeros(20, dtype=int), r"one class only"),
    ],
)
def test_bad_class_values_name_the_row(y, message):
    with pytest.raises(sweeper.DataError, match=message) as caught:
        sweeper.sweep(np.ones((20, 2)), y, progress=False)
    assert caught.value.key == "y"


@trains
def test_a_cross_validated_sweep_reports_fold_spreads_and_exports_the_scaling(tmp_path, capsys):
    """A rare class turns cross-validation on ("auto"), says why, and every validation figure
    carries its spread across folds: in the front, the table, the JSON and the export."""
    X, y = make_multiclass_arrays()
    X = X * 1000.0 + 50.0  # raw features far from unit scale
    prepared = sweeper.prepare(
        X, y, model=SMALL_MODEL, trials=4, storage=f"sqlite:///{tmp_path / 'cv.db'}",
        study_name="cv",
    )
    assert "5-fold cross-validation" in capsys.readouterr().err
    splits = prepared.splits
    assert prepared.info.folds == 5 and splits.validation is splits.train
    result = prepared.run(progress=False)
    assert all(p.validation_spread is not None and min(p.validation_spread) >= 0
               for p in result.front)
    assert any(max(p.validation_spread) > 0 for p in result.front)
    report = result.report(json=tmp_path / "report.json")
    document = json.loads((tmp_path / "report.json").read_text())
    assert "recall_spread" in document["front"][0]["validation"]
    assert "±" in sweeper.report.format_table(report)
    exported = result.export(tmp_path / "weights.json")
    assert exported.document["data"]["folds"] == 5
    # Production applies the study's scaling: the exported one reproduces the test rows.
    np.testing.assert_allclose(exported.standardize(X), splits.scaling.transform(X), atol=1e-6)
    np.testing.assert_allclose(exported.standardize(X).mean(axis=0), 0, atol=0.1)
    with pytest.raises(sweeper.ExportError, match="features must have 4 columns"):
        exported.standardize(X[:, :2])


@trains
def test_a_sweep_draws_no_progress_bar_into_a_redirected_stderr(tmp_path, capfd):
    """``progress=True`` (the default) with stderr not a terminal (a file, a pipe: pytest's
    capture): the log lines, and no bar redrawn at every epoch between them."""
    X, y = make_multilabel_arrays()
    sweeper.sweep(X, y, model={**SMALL_MODEL, "epochs": 2}, trials=2,
                  storage=f"sqlite:///{tmp_path / 'quiet.db'}", study_name="quiet",
                  artifacts=str(tmp_path / "artifacts"))
    err = capfd.readouterr().err
    assert "INFO] " in err  # the log lines stay
    assert "\r" not in err and "it/s" not in err and "trial/s" not in err and "s/trial" not in err
