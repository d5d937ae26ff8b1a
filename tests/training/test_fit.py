"""A training step of the user's own (``[model] fit``) and the loss registry both paths share:
real Keras training, real studies on SQLite and on a PostgreSQL server, real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

import sweeper
from sweeper.config import DataConfig, ModelConfig
from sweeper.data import Dataset, make_splits, split_dataset
from sweeper.errors import FactoryError
from sweeper.evaluation import evaluate
from sweeper.search import multiclass_loss_weights, multilabel_loss_weights
from sweeper.study import finished_records
from sweeper.training import (
    FitTrainer,
    PackedTrainer,
    build_mlp,
    fit_plain,
    loss_for,
)
from tests.support import STUDY_TEMPLATE, make_multiclass_arrays, make_multilabel_arrays

pytestmark = pytest.mark.slow

MODEL = ModelConfig(hidden=(16,), epochs=3, batch_size=64, learning_rate=0.01, patience=0)


def sweeper_batches_step(model, loss, arguments):
    """A user step that trains on the sweeper's batch order with the study's optimizer."""
    model.compile(optimizer=arguments.optimizer(), loss=loss)
    return fit_plain(model, arguments.x, arguments.y, epochs=arguments.epochs,
                     batch_size=arguments.batch_size, seed=arguments.seed,
                     initial_epoch=arguments.initial_epoch)


def keras_fit_step(model, loss, arguments):
    """What a user writes: compile and fit, with Keras's early stopping on the validation."""
    model.compile(optimizer=arguments.optimizer(), loss=loss)
    model.fit(arguments.x, arguments.y, validation_data=arguments.validation_data,
              epochs=arguments.epochs, batch_size=arguments.batch_size,
              callbacks=[arguments.early_stopping()], verbose=0)
    return model


def splits_of(task: str):
    if task == "multilabel":
        X, y = make_multilabel_arrays(n_rows=800)
        data = Dataset(X=X, y=y, task=task, labels=("a", "b", "c", "d"))
        weights = np.stack([multilabel_loss_weights(w) for w in
                            ([1, 1, 1, 1], [6, 6, 2, 1], [0.5, 3, 3, 3])])
    else:
        X, y = make_multiclass_arrays()
        data = Dataset(X=X, y=y, task=task, labels=("A", "B", "C", "D"))
        weights = np.stack([multiclass_loss_weights(w) for w in
                            ([1, 1, 1, 1], [3, 1, 0.5, 2], [1, 4, 1, 1])])
    return split_dataset(data, validation_fraction=0.25, test_fraction=0.25, seed=0), weights


@pytest.mark.backend
@pytest.mark.parametrize("task", ["multilabel", "multiclass"])
def test_the_plain_weighted_loss_is_the_same_function_packed_and_as_a_keras_loss(task):
    """The loss contract on plain weights: a member's packed loss (mean over rows) equals its
    Keras loss object on the same labels and logits (every remedy: tests/remedies)."""
    loss = loss_for(task)
    rng = np.random.default_rng(0)
    members, rows, outputs = 3, 50, 4
    logits = rng.normal(size=(rows, members, outputs)).astype(np.float32) * 3
    if loss.weights_shape(outputs)[0] == 2:
        y = (rng.random((rows, outputs)) < 0.3).astype(np.float32)
    else:
        y = rng.integers(0, outputs, rows).astype(np.int32)
    weights = rng.uniform(0.2, 5, size=(members, *loss.weights_shape(outputs)))
    packed = keras.ops.convert_to_numpy(
        loss.member_losses(y, logits, {"weights": weights.astype(np.float32)})
    ).mean(axis=0)
    alone = [float(keras.ops.convert_to_numpy(
        loss.keras_loss({"weights": weights[m]})(y, logits[:, m]))) for m in range(members)]
    np.testing.assert_allclose(packed, alone, rtol=1e-5)


@pytest.mark.backend
@pytest.mark.parametrize("task", ["multilabel", "multiclass"])
def test_a_user_step_on_the_sweepers_batches_scores_as_the_packed_member(task):
    """The user's step compiles the registry's Keras loss with the study's optimizer and trains
    on the sweeper's batch order: each member's scores equal the packed trainer's within 3e-4
    (float32 summation order), so the two paths train one function."""
    splits, weights = splits_of(task)
    packed = PackedTrainer(splits, MODEL, members=3, seed=5).train_and_score(
        {"weights": weights})
    fitted = FitTrainer(splits, MODEL, members=3, seed=5,
                        fit=sweeper_batches_step).train_and_score({"weights": weights})
    np.testing.assert_allclose(fitted.validation, packed.validation, atol=3e-4)
    np.testing.assert_allclose(fitted.test, packed.test, atol=3e-4)
    assert fitted.epochs is not None and (fitted.epochs == MODEL.epochs).all()
    assert np.abs(fitted.validation[0] - fitted.validation[1]).max() > 0.01  # weights matter


@pytest.mark.backend
def test_a_user_step_under_cross_validation_scores_each_row_out_of_fold():
    """Three folds: three models per candidate, each judged on its own fold, its test scores
    the mean of the three; a row's validation score comes from the model that did not learn
    from it (a step that records which rows it saw proves it)."""
    X, y = make_multilabel_arrays(n_rows=600)
    data = Dataset(X=X, y=y, task="multilabel", labels=("a", "b", "c", "d"))
    splits = make_splits(data, DataConfig(validation_fraction=0.25, test_fraction=0.25,
                                          folds=3, standardize=False))
    seen: list[tuple[set, set]] = []

    def recording_step(model, loss, arguments):
        seen.append(({r.tobytes() for r in arguments.x},
                     {r.tobytes() for r in arguments.validation_data[0]}))
        return keras_fit_step(model, loss, arguments)

    scores = FitTrainer(splits, MODEL, members=1, seed=0, fit=recording_step).train_and_score(
        {"weights": np.stack([multilabel_loss_weights([1, 1, 1, 1])])}
    )
    assert len(seen) == 3
    rows = [r.tobytes() for r in splits.train.X]
    for k, (learned, judged) in enumerate(seen):
        fold = {rows[i] for i in np.flatnonzero(splits.folds == k)}
        assert judged == fold and not learned & fold
    assert scores.validation.shape == (1, *splits.validation.y.shape)
    assert np.isfinite(scores.validation).all() and np.isfinite(scores.test).all()


def write_steps(folder: Path) -> None:
    (folder / "steps.py").write_text(textwrap.dedent('''
        from sweeper.training import fit_plain

        def train(model, loss, arguments):
            model.compile(optimizer=arguments.optimizer(), loss=loss)
            return fit_plain(model, arguments.x, arguments.y, epochs=arguments.epochs,
                             batch_size=arguments.batch_size, seed=arguments.seed)

        def nothing(model, loss, arguments):
            model.compile(optimizer="adam", loss=loss)
            return None

        def fails(model, loss, arguments):
            raise RuntimeError("my loop broke")

        def shaped(model, loss, arguments):
            import keras
            return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    '''))


def fit_study(folder: Path, *, storage: str, trials: int, step: str = "steps:train",
              name: str = "fit") -> Path:
    X, y = make_multilabel_arrays(n_rows=800)
    np.savez(folder / "small.npz", X=X, y=y)
    write_steps(folder)
    text = STUDY_TEMPLATE.format(
        name=name, storage=storage, trials=trials, source="small.npz",
        data_extra="folds = 1", epochs=4, pack=2, artifacts=str(folder / "artifacts"),
    ).replace("[model]\n", f'[model]\nfit = "{step}"\n').replace("pack = 2\n", "")
    text = text.replace("trials = ", "heartbeat_interval = 0.5\ngrace_period = 8\ntrials = ", 1)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def cli(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sweeper.cli", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.backend
def test_a_user_step_study_runs_end_to_end_and_its_export_retrains_to_its_figures(tmp_path):
    """A study file naming its step: run, report and export through the command line; the
    exported loss and optimizer, trained again on the same rows by plain Keras code, give the
    exported validation recall and precision within 0.02."""
    path = fit_study(tmp_path, storage=f"sqlite:///{tmp_path / 'fit.db'}", trials=3)
    ran = cli("run", path, "--quiet")
    assert ran.returncode == 0, ran.stderr
    assert "batch of 1 trials" in ran.stderr  # not packed: one model per batch
    report = cli("report", path, "--json", tmp_path / "r.json")
    assert report.returncode == 0, report.stderr
    facts = json.loads((tmp_path / "r.json").read_text())
    assert facts["front"] and facts["verdict"]["message"]
    exported_file = tmp_path / "w.json"
    assert cli("export", path, "--trial", 1, "-o", exported_file).returncode == 0
    exported = sweeper.load_export(exported_file)
    document = exported.document
    assert document["training"]["model"]["fit"] == "steps:train"
    assert document["training"]["epochs"] == 4

    from sweeper.api import prepare_study_file

    prepared = prepare_study_file(path)  # the same splits, the study resumed
    train, validation = prepared.splits.train, prepared.splits.validation
    model = build_mlp(train.X.shape[1], 4, [16], seed=document["training"]["seed"])
    steps = -(-train.X.shape[0] // 64)
    model.compile(optimizer=exported.optimizer(steps_per_epoch=steps), loss=exported.loss())
    fit_plain(model, train.X, train.y.astype(np.float32), epochs=4, batch_size=64,
              seed=document["training"]["seed"])
    decided = exported.decide(model(validation.X))
    figures = evaluate(validation.y, decided.astype(np.float32), task="multilabel",
                       average=document["metrics"]["average"], threshold=0.5)
    assert figures.recall == pytest.approx(exported.validation["recall"], abs=0.02)
    assert figures.precision == pytest.approx(exported.validation["precision"], abs=0.02)


@pytest.mark.parametrize(("step", "message"), [
    ("steps:nothing", "[model] fit: nothing returned NoneType, not a keras.Model; return the "
                      "model it trained."),
    ("steps:fails", "[model] fit: fails raised RuntimeError: my loop broke on a probe of"),
    ("steps:shaped", "[model] fit: the model shaped returned outputs of shape"),
    ("steps:absent", "[model] fit: module 'steps' has no function 'absent'."),
    ("nowhere:train", "[model] fit: cannot import module 'nowhere'"),
])
def test_a_bad_user_step_is_one_line_before_any_study_exists(tmp_path, step, message):
    path = fit_study(tmp_path, storage=f"sqlite:///{tmp_path / 'fit.db'}", trials=2, step=step)
    ran = cli("run", path, "--quiet")
    assert ran.returncode == 2
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"sweeper: error: {path}: {message}"), ran.stderr
    assert "Traceback" not in ran.stderr
    assert not (tmp_path / "fit.db").exists()


@pytest.mark.backend
def test_a_user_step_in_the_api_resumes_and_pins_its_code(tmp_path):
    """``model={"fit": function}``: the study resumes with the same step; another step under
    the same study name is refused, naming ``[model] fit``."""
    X, y = make_multilabel_arrays(n_rows=500)
    options = {"storage": f"sqlite:///{tmp_path / 's.db'}", "study_name": "api-fit",
               "data": {"folds": 1}, "progress": False}
    model = {"hidden": [8], "epochs": 3, "batch_size": 64, "fit": keras_fit_step}
    result = sweeper.sweep(X, y, trials=2, model=model, **options)
    records = finished_records(result.study)
    assert len(records) == 2 and all(1 <= r.epochs <= 3 for r in records)
    again = sweeper.sweep(X, y, trials=3, model=model, **options)
    assert len(finished_records(again.study)) == 3
    with pytest.raises(sweeper.DataError, match=r"another \[model\] fit"):
        sweeper.sweep(X, y, trials=4, model={**model, "fit": sweeper_batches_step}, **options)


def test_a_user_step_resumes_after_an_interrupt(tmp_path, processes, holds):
    """SIGINT while the step's batch is RUNNING (held there): exit 130, the trial failed and
    queued again; the next run finishes the budget, the queued parameters among its trials."""
    import signal

    url = f"sqlite:///{tmp_path / 'fit.db'}"
    path = fit_study(tmp_path, storage=url, trials=3)
    holds.hold("training")
    process = processes([sys.executable, "-m", "sweeper.cli", "run", str(path), "--quiet"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        env=holds.environment())
    holds.wait("training", processes=[process])  # the first trial's batch, RUNNING
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 130, err
    study = optuna.load_study(study_name="fit", storage=url)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]
    ran = cli("run", path, "--quiet")
    assert ran.returncode == 0, ran.stderr
    study = optuna.load_study(study_name="fit", storage=url)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 3
    assert study.trials[0].params == study.trials[1].params


def test_two_workers_share_a_user_step_study_on_postgresql(tmp_path, postgres):
    """``run --workers 2`` on the PostgreSQL server: each worker imports the step from the
    study file's folder, and together they finish the budget, every trial once."""
    url = postgres.create_database()
    path = fit_study(tmp_path, storage=url, trials=4)
    ran = cli("run", path, "--workers", 2, "--quiet")
    assert ran.returncode == 0, ran.stderr
    storage = optuna.storages.RDBStorage(url)
    try:
        study = optuna.load_study(study_name="fit", storage=storage)
        complete = study.get_trials(states=(TrialState.COMPLETE,))
        assert 4 <= len(complete) <= 5  # at most (workers - 1) x pack over the budget
        assert len({t.number for t in complete}) == len(complete)
        assert all(t.state != TrialState.RUNNING for t in study.trials)
        assert all(t.user_attrs["record"]["training"]["epochs"] == 4 for t in complete)
    finally:
        storage.engine.dispose()


def test_fit_step_errors_name_the_key():
    assert FactoryError("x", key="fit").key == "fit"
    assert [loss_for(task).weights_shape(3) for task in ("multilabel", "binary", "multiclass")
            ] == [(2, 3), (2, 3), (3, 3)]
