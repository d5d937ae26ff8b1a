"""The command line end to end on small real data: a real study in SQLite, real training."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweeper.api import prepare_study_file
from sweeper.cli import main
from sweeper.config import load_study_file
from sweeper.study import RECORD_ATTR
from tests.support import make_multilabel_arrays, running_dashboard


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sweeper: error: ")
    return lines[0]


def test_run_stores_every_trial_with_its_record(finished_study):
    import optuna

    storage = load_study_file(finished_study).config.study.storage
    study = optuna.load_study(study_name="small", storage=storage)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 6
    assert study.metric_names == ["recall", "precision"]
    for trial in trials:
        assert set(trial.params) == {"exponent", "normalisation", "threshold"}
        assert set(trial.user_attrs) == {RECORD_ATTR}  # the record, written in one piece
        attrs = trial.user_attrs[RECORD_ATTR]
        assert len(attrs["weights"]) == 4
        assert len(attrs["validation"]["per_label_recall"]) == 4
        assert 0 <= attrs["test"]["precision"] <= 1
        assert trial.values == [attrs["validation"]["recall"], attrs["validation"]["precision"]]
        assert attrs["training"]["packed_members"] == 2


def copy_of_study(study_file: Path, folder: Path) -> Path:
    """The finished study in a database of its own, so a test may add trials to it without
    changing what other tests of the shared study see."""
    import shutil
    import sqlite3

    storage = load_study_file(study_file).config.study.storage
    source = sqlite3.connect(storage.removeprefix("sqlite:///"))
    target = sqlite3.connect(folder / "copy.db")
    with source, target:
        source.backup(target)  # the write-ahead log's pages too
    source.close()
    target.close()
    shutil.copy(study_file.parent / "small.npz", folder / "small.npz")
    copy = folder / "copy.toml"
    copy.write_text(study_file.read_text().replace(storage, f"sqlite:///{folder / 'copy.db'}"))
    return copy


@pytest.mark.backend
def test_run_again_resumes_without_new_trials(finished_study, capsys, tmp_path):
    study_file = copy_of_study(finished_study, tmp_path)
    code, out, _ = run_cli(capsys, "run", study_file, "--quiet")
    assert code == 0
    assert "of 6 complete" in out
    code, out, _ = run_cli(capsys, "run", study_file, "--quiet", "--trials", "8")
    assert code == 0
    assert "of 8 complete" in out


def test_report_writes_table_json_and_html(finished_study, capsys, tmp_path):
    code, out, _ = run_cli(
        capsys,
        "report",
        finished_study,
        "--json",
        tmp_path / "r.json",
        "--html",
        tmp_path / "r.html",
    )
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert f"of {report['trial_states']['COMPLETE']} complete trials" in out
    recalls = [row["validation"]["recall"] for row in report["front"]]
    assert recalls == sorted(recalls, reverse=True)
    # Curve points join the trials' own rules on the front; a curve point says so.
    assert any(row["from_curve"] for row in report["front"])
    assert all(row["decision"].endswith("*") == row["from_curve"] for row in report["front"])
    # The baselines are there, and on the front as points of their own.
    assert set(report["baselines"]) == {"unweighted", "neg_pos", "sklearn_balanced",
                                        "deferred_balanced", "focal", "logit_adjusted",
                                        "asymmetric"}
    assert any(row["baseline"] is not None for row in report["front"])
    # The verdict is the recommendation: a searched trial only when its validation F1 beats the
    # best baseline's by more than the margin; the default export exports that same point.
    verdict = report["verdict"]
    f1 = verdict["validation_f1"]
    beats = f1["best_trial"] > f1["best_baseline"] * (1 + verdict["margin"])
    assert verdict["weighting_pays"] == beats
    assert (verdict["recommended"]["baseline"] is None) == beats
    assert verdict["recommended"] == report["recommended"]
    unweighted = verdict["recommended"]["baseline"] == "unweighted"
    assert verdict["message"].startswith(
        "The searched weights beat" if beats else "Weighting buys nothing here" if unweighted
        else "No searched trial beats the baselines here")
    assert verdict["message"] in out
    html = (tmp_path / "r.html").read_text()
    assert "front (validation)" in html and "<script" in html
    assert re.search(r"<script[^>]*\bsrc=", html) is None  # plotly.js inlined: opens offline
    assert len(html) > 1_000_000


@pytest.mark.backend
def test_export_then_train_from_json_reproduces_validation_figures(
    finished_study, capsys, tmp_path
):
    import keras

    from sweeper.evaluation import evaluate
    from sweeper.export import load_export
    from sweeper.training import build_mlp, fit_plain

    output = tmp_path / "weights.json"
    code, _, err = run_cli(capsys, "export", finished_study, "--min-recall", "0.3", "-o", output)
    assert code == 0, err
    exported = load_export(output)
    document = exported.document
    assert document["task"] == "multilabel" and len(document["pos_weight"]) == 4

    prepared = prepare_study_file(finished_study)  # the same data and split, study resumed
    assert document["data"]["fingerprint"] == prepared.info.fingerprint
    # Production starts from raw features and applies the exported standardisation.
    from sweeper.data import load_source, make_splits

    raw_config = dataclasses.replace(prepared.config.data, standardize=False)
    splits = make_splits(load_source(raw_config, finished_study.parent), raw_config)
    splits = dataclasses.replace(
        splits,
        train=dataclasses.replace(splits.train, X=exported.standardize(splits.train.X)),
        validation=dataclasses.replace(
            splits.validation, X=exported.standardize(splits.validation.X)
        ),
    )
    np.testing.assert_allclose(splits.train.X, prepared.splits.train.X, atol=1e-6)
    model_spec = document["training"]["model"]
    seed = document["training"]["seed"]
    model = build_mlp(splits.train.X.shape[1], 4, model_spec["hidden"], seed)
    model.compile(
        optimizer=keras.optimizers.Adam(model_spec["learning_rate"]), loss=exported.loss()
    )
    fit_plain(
        model,
        splits.train.X,
        splits.train.y,
        epochs=document["training"]["epochs"],  # the trial's best epoch (early stopping)
        batch_size=model_spec["batch_size"],
        seed=seed,
    )
    decisions = exported.decide(model(splits.validation.X))
    figures = evaluate(
        splits.validation.y,
        decisions.astype(np.float32),
        task="multilabel",
        average=document["metrics"]["average"],
        threshold=0.5,
    )
    assert figures.recall == pytest.approx(exported.validation["recall"], abs=0.02)
    assert figures.precision == pytest.approx(exported.validation["precision"], abs=0.02)


def test_export_without_a_rule_exports_what_the_verdict_recommends(
    finished_study, capsys, tmp_path
):
    run_cli(capsys, "report", finished_study, "--json", tmp_path / "r.json")
    recommended = json.loads((tmp_path / "r.json").read_text())["verdict"]["recommended"]
    code, _, err = run_cli(capsys, "export", finished_study, "-o", tmp_path / "e.json")
    assert code == 0, err
    assert "no rule given: exporting the recommended point" in err
    exported = json.loads((tmp_path / "e.json").read_text())
    assert (exported["trial"], exported["baseline"]) == (
        recommended["trial"], recommended["baseline"]
    )
    assert exported["metrics"]["validation"]["recall"] == recommended["validation"]["recall"]


def test_every_baseline_is_exportable(finished_study, capsys, tmp_path):
    from sweeper.export import load_export

    for name in ("unweighted", "neg_pos", "sklearn_balanced"):
        output = tmp_path / f"{name}.json"
        code, _, err = run_cli(capsys, "export", finished_study, "--baseline", name, "-o", output)
        assert code == 0, err
        exported = load_export(output)
        assert exported.baseline == name and exported.trial is None
        if name == "unweighted":
            assert set(exported.weights) == {1.0}
        if name == "sklearn_balanced":  # both terms weighted: the loss gets neg_weight too
            assert exported.neg_weight is not None
            assert exported.loss().get_config()["neg_weight"] == list(exported.neg_weight)


def test_export_rules_pick_the_right_trial(finished_study, capsys, tmp_path):
    code, _, _ = run_cli(capsys, "report", finished_study, "--json", tmp_path / "r.json")
    trials = json.loads((tmp_path / "r.json").read_text())["front"]
    lowest_precision = min(t["validation"]["precision"] for t in trials)
    code, _, err = run_cli(
        capsys,
        "export",
        finished_study,
        "--min-precision",
        str(lowest_precision),
        "-o",
        tmp_path / "e.json",
    )
    assert code == 0, err
    chosen = json.loads((tmp_path / "e.json").read_text())
    assert chosen["metrics"]["validation"]["recall"] == max(
        t["validation"]["recall"] for t in trials
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--trial", "999"], "trial 999 is not a finished trial of this study"),
        (["--min-precision", "1.0", "--trial", "1"], None),  # argparse: mutually exclusive
    ],
)
def test_export_errors_write_nothing(finished_study, capsys, tmp_path, argv, message):
    output = tmp_path / "nothing.json"
    if message is None:
        with pytest.raises(SystemExit) as exit_info:
            main(["export", str(finished_study), *argv, "-o", str(output)])
        assert exit_info.value.code == 2
    else:
        code, _, err = run_cli(capsys, "export", finished_study, *argv, "-o", output)
        assert code == 2
        assert message in error_line(err)
    assert not output.exists()


def make_npz(folder: Path, X, y, **extra) -> None:
    np.savez(folder / "small.npz", X=X, y=y, **extra)


def bad_lengths(folder):
    X, y = make_multilabel_arrays()
    make_npz(folder, X[:-1], y)


def nan_features(folder):
    X, y = make_multilabel_arrays()
    X[10, 2] = np.nan
    make_npz(folder, X, y)


def non_binary_labels(folder):
    X, y = make_multilabel_arrays()
    y[3, 1] = 2
    make_npz(folder, X, y)


def label_without_positive(folder):
    X, y = make_multilabel_arrays()
    y[:, 2] = 0
    make_npz(folder, X, y)


def good_data(folder):
    make_npz(folder, *make_multilabel_arrays())


@pytest.mark.parametrize(
    ("prepare", "study_values", "message"),
    [
        (lambda folder: None, {}, "small.npz: data file not found"),
        (bad_lengths, {}, "X and y have different lengths (1499 and 1500 rows)"),
        (nan_features, {}, "features contain NaN or inf"),
        (non_binary_labels, {}, "label 'label_1' has values other than 0 and 1"),
        (label_without_positive, {}, "label 'label_2' has no positive sample in the training"),
        (good_data, {"epochs": "'ten'"},
         "[model] epochs: expected an integer >= 1 or \"auto\", got 'ten'"),
        (good_data, {"data_extra": "labl_column = 'x'"}, "[data] labl_column: unknown key"),
        (good_data, {"storage": "not a url"}, "storage 'not a url': not a valid SQLAlchemy URL"),
        (
            good_data,
            {"storage": "postgresql+psycopg://nobody@127.0.0.1:9/none"},
            "storage postgresql+psycopg://nobody@127.0.0.1:9/none: cannot connect",
        ),
        (good_data, {"storage": "nosuchdb://x/y"}, "unknown database dialect or driver"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_no_study(
    tmp_path, capsys, write_study, prepare, study_values, message
):
    prepare(tmp_path)
    path = write_study(**study_values)
    code, _, err = run_cli(capsys, "run", path, "--quiet")
    assert code == 2
    assert message in error_line(err)
    assert not (tmp_path / "study.db").exists()


def test_report_and_export_of_a_study_without_finished_trials(tmp_path, capsys, write_study):
    good_data(tmp_path)
    path = write_study()
    prepare_study_file(path)  # the study exists, no trial ran
    capsys.readouterr()
    for argv in (["report"], ["export", "--trial", "0", "-o", str(tmp_path / "x.json")]):
        code, _, err = run_cli(capsys, argv[0], path, *argv[1:])
        assert code == 2
        assert "study 'small' has no finished trials yet" in error_line(err)
    assert not (tmp_path / "x.json").exists()


def test_report_of_an_unknown_study(tmp_path, capsys, write_study, finished_study):
    path = write_study(name="never-run")
    code, _, err = run_cli(capsys, "report", path)
    assert code == 2
    assert "no such SQLite file" in error_line(err)
    assert not (tmp_path / "study.db").exists()  # a read-only command creates no database
    storage = load_study_file(finished_study).config.study.storage
    code, _, err = run_cli(capsys, "report", write_study(name="never-run", storage=storage))
    assert code == 2
    assert "no study named 'never-run' in storage" in error_line(err)


def test_resume_on_other_data_is_refused(tmp_path, capsys, write_study, finished_study):
    good_data(tmp_path)
    storage = load_study_file(finished_study).config.study.storage
    X, y = make_multilabel_arrays(seed=1)
    np.savez(tmp_path / "small.npz", X=X, y=y)
    code, _, err = run_cli(capsys, "run", write_study(storage=storage), "--quiet")
    assert code == 2
    assert "was created with another data (fingerprint)" in error_line(err)


def test_console_script_exits_2_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sweeper.cli", "report", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"sweeper: error: {tmp_path / 'missing.toml'}: study file not found."
    )


def test_dashboard_serves_the_study_with_named_objectives(finished_study):
    import urllib.request

    with running_dashboard(finished_study) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=120) as answer:
            (summary,) = json.load(answer)["study_summaries"]
        assert summary["study_name"] == "small"
        url = f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}?after=0"
        with urllib.request.urlopen(url, timeout=120) as answer:
            detail = json.load(answer)
    assert detail["objective_names"] == ["recall", "precision"]
    assert len(detail["trials"]) == 6


def _dashboard_detail(port: int, name: str) -> dict | None:
    """The dashboard API's view of study ``name`` (``None`` while it is not listed)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=120) as answer:
        ids = {s["study_name"]: s["study_id"] for s in json.load(answer)["study_summaries"]}
    if name not in ids:
        return None
    url = f"http://127.0.0.1:{port}/api/studies/{ids[name]}?after=0"
    with urllib.request.urlopen(url, timeout=120) as answer:
        return json.load(answer)


def test_the_dashboard_shows_the_report_natively_and_a_report_replaces_it(
    tmp_path, capsys, finished_study
):
    """`run` saved the figures and the note; `report` overwrites them under the same ids (no
    copy per report) and uploads no HTML artifact any more."""
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(finished_study.parent, folder)
    study_file = folder / finished_study.name
    study_file.write_text(study_file.read_text().replace(str(finished_study.parent), str(folder)))
    with running_dashboard(study_file) as port:
        before = _dashboard_detail(port, "small")
    ids = [graph["id"] for graph in before["plotly_graph_objects"]]
    figures = {"sweeper-pareto", "sweeper-pr-curve", "sweeper-per-label", "sweeper-weights"}
    assert figures <= set(ids)
    pareto = json.loads(next(g["graph_object"] for g in before["plotly_graph_objects"]
                             if g["id"] == "sweeper-pareto"))
    names = {trace.get("name") for trace in pareto["data"]}
    assert any(name and name.startswith("baseline") for name in names)
    assert "**Verdict.**" in before["note"]["body"]
    assert "baseline" in before["note"]["body"]

    import optuna

    def plot_attrs() -> int:
        """Stored figure chunks (an overwritten figure's surplus chunks are emptied)."""
        storage = optuna.storages.RDBStorage(f"sqlite:///{folder / 'study.db'}")
        attrs = storage.get_study_system_attrs(storage.get_study_id_from_name("small"))
        return sum(key.startswith("dashboard:plot_data:") and value != ""
                   for key, value in attrs.items())

    count = plot_attrs()
    for _ in range(2):
        code, _, err = run_cli(capsys, "report", study_file, "--html", tmp_path / "r.html")
        assert code == 0, err
        assert "the dashboard shows this report" in err
    assert plot_attrs() == count
    with running_dashboard(study_file) as port:
        after = _dashboard_detail(port, "small")
    assert sorted(g["id"] for g in after["plotly_graph_objects"]) == sorted(ids)
    assert not (folder / "artifacts").exists() or not any((folder / "artifacts").iterdir())


def test_the_dashboard_serves_before_the_study_exists_then_shows_it(
    postgres, write_study, tmp_path
):
    """A fleet's dashboard starts on a fresh database, before any worker: it serves at once
    (creating Optuna's tables, no study) and lists the study once a run creates it."""
    good_data(tmp_path)
    path = write_study(storage=postgres.create_database(), trials=2, epochs=2, pack=2)
    with running_dashboard(path) as port:
        assert _dashboard_detail(port, "small") is None
        run = subprocess.run([sys.executable, "-m", "sweeper.cli", "run", str(path), "--quiet"],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        detail = _dashboard_detail(port, "small")
    assert detail is not None and len(detail["trials"]) >= 2
    assert any(g["id"] == "sweeper-pareto" for g in detail["plotly_graph_objects"])


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ('multipliers = "buckets"\nbuckets = 5', "[search] buckets: 5 buckets for 4 labels"),
        ("cost_matrix = [[0, 1], [1, 0]]\nclass_weighting = ['cost_matrix']",
         "[search] class_weighting: applies to multi-class data, but this data is multi-label"),
        ("logit_adjustment = [0, 1]", "[search] logit_adjustment: applies to multi-class data"),
    ],
)
def test_search_values_that_do_not_fit_the_data_stop_before_training(
    tmp_path, capsys, write_study, search, message
):
    good_data(tmp_path)
    path = write_study()
    path.write_text(path.read_text().replace("[search]\n", f"[search]\n{search}\n"))
    code, _, err = run_cli(capsys, "run", path, "--quiet")
    assert code == 2
    assert message in error_line(err)
    assert not (tmp_path / "study.db").exists()


def test_per_label_multipliers_are_refused_for_many_labels(tmp_path, capsys, write_study):
    X, y = make_multilabel_arrays(n_labels=13)
    make_npz(tmp_path, X, y)
    path = write_study()
    path.write_text(path.read_text().replace("[search]\n", '[search]\nmultipliers = "per_label"\n'))
    code, _, err = run_cli(capsys, "run", path, "--quiet")
    assert code == 2
    assert "'per_label' searches one multiplier per label, which is for at most 12 labels, but "\
        "the data has 13; use 'buckets'." in error_line(err)


def test_cost_matrix_of_the_wrong_size_for_the_classes(tmp_path, capsys, write_study):
    from tests.support import make_multiclass_arrays

    make_npz(tmp_path, *make_multiclass_arrays())
    path = write_study()
    text = path.read_text().replace("threshold = [0.05, 0.95]\n", "")
    path.write_text(text.replace(
        "[search]\n",
        "[search]\nclass_weighting = ['cost_matrix']\ncost_matrix = [[0, 1, 1], [1, 0, 1], "
        "[1, 1, 0]]\n",
    ))
    code, _, err = run_cli(capsys, "run", path, "--quiet")
    assert code == 2
    assert "[search] cost_matrix: expected a 4 x 4 matrix (one row and column per class), "\
        "got 3 x 3." in error_line(err)
    assert not (tmp_path / "study.db").exists()


@pytest.mark.parametrize(("signal_name", "point", "held"), [
    ("SIGINT", "started", False), ("SIGTERM", "started", False),
    ("SIGINT", "prepared", True), ("SIGTERM", "prepared", True),
    ("SIGINT", "training", True), ("SIGINT", "epoch", False), ("SIGTERM", "epoch", True),
], ids=["int-importing", "term-importing", "int-prepared", "term-prepared", "int-batch",
        "int-training", "term-training"])
def test_ctrl_c_at_any_moment_exits_130_without_a_traceback(
    tmp_path, write_study, processes, holds, signal_name, point, held
):
    """SIGINT (or SIGTERM, as docker stop sends) while Python imports TensorFlow (just after
    the signal handlers are in place), while the study is prepared, with a batch's trials
    RUNNING, or inside the training loop: one clean exit with code 130, never a traceback.

    The process is held at the point (sweeper.holds) and signalled there; a point that is not
    held is only passed, and the signal lands somewhere after it: the outcome must be the same
    wherever it lands."""
    import signal

    good_data(tmp_path)
    path = write_study(trials=400, epochs=200, pack=4)
    if held:
        holds.hold(point)
    process = processes(
        [sys.executable, "-m", "sweeper.cli", "run", str(path), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=holds.environment(),
    )
    holds.wait(point, processes=[process])
    process.send_signal(getattr(signal, signal_name))
    _, err = process.communicate(timeout=600)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "sweeper: interrupted"


def test_a_busy_port_is_one_line(finished_study, capsys):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        code, _, err = run_cli(capsys, "dashboard", finished_study, "--port", str(port))
    assert code == 2
    assert f"cannot serve on 127.0.0.1:{port}" in error_line(err)


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["export", "--help"]])
def test_help_lists_exit_codes_environment_and_an_example(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for needle in ("exit codes:", "130", "SWEEPER_STORAGE", "SWEEPER_LOG_LEVEL", "example:"):
        assert needle in out


def test_a_storage_that_refuses_the_dashboard_copy_costs_a_warning_not_the_report(
    tmp_path, capsys, finished_study
):
    """A read-only database: `report` still prints and writes its files, and warns once that
    the dashboard's figures were not updated."""
    import shutil
    import sqlite3

    folder = tmp_path / "copy"
    shutil.copytree(finished_study.parent, folder)
    study_file = folder / finished_study.name
    study_file.write_text(study_file.read_text().replace(str(finished_study.parent), str(folder)))
    with sqlite3.connect(folder / "study.db") as connection:
        # Writes of study attributes fail with an operational error (not an integrity error,
        # which Optuna ignores), as on a database the user may read but not write.
        for event in ("INSERT", "UPDATE"):
            connection.execute(
                f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON study_system_attributes "
                "BEGIN INSERT INTO missing_table VALUES (1); END"
            )
    code, out, err = run_cli(capsys, "report", study_file, "--json", tmp_path / "r.json")
    assert code == 0, err
    assert "val R" in out and "test P" in out  # the front table was printed
    assert (tmp_path / "r.json").is_file()
    warnings_ = [line for line in err.splitlines()
                 if "dashboard's figures were not updated" in line]
    assert len(warnings_) == 1 and "Traceback" not in err, err
