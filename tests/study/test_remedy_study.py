"""Remedies in real studies: a study searching every remedy trains mixed packed batches, stores
each trial's remedy, shows it in the table and exports it; the remedies' baselines are on the
front; a study stored before them computes the missing baselines when resumed and keeps its
own; a deferred remedy trains with a training step of the user's own, in two calls."""

from __future__ import annotations

import optuna
import pytest

import sweeper
from sweeper.config import REMEDIES
from sweeper.report import format_table, front_rows
from sweeper.study import BASELINES_ATTR, baseline_candidates, finished_records
from tests.support import make_multiclass_arrays, make_multilabel_arrays

pytestmark = pytest.mark.slow

MODEL = {"hidden": [8], "epochs": 4, "batch_size": 64, "learning_rate": 0.01, "pack": 4}


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_a_study_of_every_remedy_trains_stores_shows_and_exports_them(tmp_path, task):
    X, y = make_multiclass_arrays() if task == "multiclass" else make_multilabel_arrays(600)
    result = sweeper.sweep(X, y, model=MODEL, search={"remedies": list(REMEDIES)}, trials=8,
                           storage=f"sqlite:///{tmp_path / 'r.db'}", study_name="remedies",
                           progress=False)
    records = finished_records(result.study)
    remedies = {record.candidate.remedy for record in records}
    assert len(records) == 8 and len(remedies) > 1  # mixed batches trained
    for record in records:
        own = {"deferred": "switch_fraction", "focal": "gamma",
               "logit_adjusted": "tau_train"}.get(record.candidate.remedy)
        for key in ("switch_fraction", "gamma", "tau_train"):
            assert (getattr(record.candidate, key) is not None) == (key == own)
    assert not any(record.diverged for record in records)
    assert set(result.baselines) == set(baseline_candidates(result.info.task))
    assert format_table(result.report())
    focal = [r for r in records if r.candidate.remedy == "focal"]
    if focal:
        exported = result.export(tmp_path / "f.json", trial=focal[0].number)
        assert exported.remedy == {"name": "focal", "gamma": focal[0].candidate.gamma}
        assert type(exported.loss()).__name__.startswith("Focal")
    report = result.report()
    for row in front_rows(report):  # the family column shows each point's remedy
        point = next(p for p in report.front if p.record.label == row[0])
        assert row[-3] == point.record.candidate.family_summary()
    shown = [row[-3] for row in front_rows(report)]
    remedied = [text for text in shown if ", " in text]
    assert all(any(word in text for word in ("focal g=", "deferred from", "logit-adjusted t="))
               for text in remedied)
    exported = result.export(tmp_path / "b.json", baseline="deferred_balanced")
    assert exported.weight_schedule() == 3  # floor(0.75 * 4)


def test_a_study_stored_before_the_remedies_baselines_gets_them_on_resume(tmp_path):
    """The stored baselines are kept as they are; the missing ones are computed alone and
    reach the same figures as when computed with the others (a packed member trains as it
    would alone)."""
    X, y = make_multilabel_arrays(600)
    storage = f"sqlite:///{tmp_path / 'old.db'}"
    options = {"model": MODEL, "storage": storage, "study_name": "old", "progress": False}
    sweeper.sweep(X, y, trials=2, **options)
    study = optuna.load_study(study_name="old", storage=storage)
    stored = study.user_attrs[BASELINES_ATTR]
    old = {name: stored[name] for name in ("unweighted", "neg_pos", "sklearn_balanced")}
    study.set_user_attr(BASELINES_ATTR, old)  # what a study stored before remedies holds
    again = sweeper.sweep(X, y, trials=4, **options)
    now = optuna.load_study(study_name="old", storage=storage).user_attrs[BASELINES_ATTR]
    assert set(now) == set(baseline_candidates(again.info.task))
    assert {name: now[name] for name in old} == old  # kept, not retrained
    for name in ("deferred_balanced", "focal", "logit_adjusted"):
        assert now[name]["validation"]["recall"] == pytest.approx(
            stored[name]["validation"]["recall"], abs=0.02)


def test_deferred_weights_train_with_a_users_training_step_in_two_calls(tmp_path):
    """A deferred trial calls the user's step twice on one model: up to its switch, then from
    it (``initial_epoch``) with the first call's optimizer; the deferred baseline is there."""
    X, y = make_multiclass_arrays()
    calls = []

    def step(model, loss, arguments):
        optimizer = arguments.optimizer()
        calls.append((arguments.initial_epoch, arguments.epochs, id(model), id(optimizer)))
        model.compile(optimizer=optimizer, loss=loss)
        model.fit(arguments.x, arguments.y, epochs=arguments.epochs,
                  initial_epoch=arguments.initial_epoch, batch_size=arguments.batch_size,
                  callbacks=[arguments.early_stopping()], verbose=0,
                  validation_data=arguments.validation_data)
        return model

    result = sweeper.sweep(X, y, model={**MODEL, "fit": step}, search={"remedies": ["deferred"]},
                           trials=2, storage=f"sqlite:///{tmp_path / 'f.db'}", progress=False,
                           data={"folds": 1})
    assert "deferred_balanced" in result.baselines
    seconds = [i for i, call in enumerate(calls) if call[0] > 0]
    assert len(seconds) == 3  # two deferred trials and the deferred baseline
    for i in seconds:
        start, end, model, optimizer = calls[i]
        assert calls[i - 1] == (0, start, model, optimizer)  # the same model and optimizer
        assert end == MODEL["epochs"]
    assert {record.candidate.remedy for record in finished_records(result.study)} == {
        "deferred"}


@pytest.mark.parametrize("task", ["multilabel", "multiclass"])
def test_a_users_step_trains_focal_and_logit_adjusted_members_as_the_packed_trainer(task):
    """Through the loss registry: the user's step gets each member's Keras loss (focal,
    logit-adjusted) and, on the sweeper's batch order, reaches the packed member's scores;
    a deferred member too, trained in two calls of the step."""
    import numpy as np

    from sweeper.config import Task
    from sweeper.search import training_log_prior
    from sweeper.training import FitTrainer, PackedTrainer
    from tests.training.test_fit import MODEL as FIT_MODEL
    from tests.training.test_fit import splits_of, sweeper_batches_step

    splits, weights = splits_of(task)
    train = splits.train
    counts = train.y.sum(axis=0) if task == "multilabel" else np.bincount(train.y)
    prior = training_log_prior(counts, train.y.shape[0], Task(task))
    parameters = {"weights": weights, "gamma": np.array([0.0, 2.0, 0.0]),
                  "tau_train": np.array([0.0, 0.0, 1.0]), "log_prior": np.stack([prior] * 3)}
    packed = PackedTrainer(splits, FIT_MODEL, members=3, seed=5).train_and_score(parameters)
    fitted = FitTrainer(splits, FIT_MODEL, members=3, seed=5,
                        fit=sweeper_batches_step).train_and_score(parameters)
    np.testing.assert_allclose(fitted.validation, packed.validation, atol=3e-4)
    plain = PackedTrainer(splits, FIT_MODEL, members=3, seed=5).train_and_score(weights)
    np.testing.assert_allclose(plain.validation[0], packed.validation[0], atol=1e-5)
    assert np.abs(plain.validation[1:] - packed.validation[1:]).max() > 1e-3  # remedies act
    # Deferred: the step trains member 1 in two calls, unweighted until epoch 2, as packed.
    deferred = {**parameters, "switch": np.array([0.0, 2.0, 0.0])}
    packed_deferred = PackedTrainer(splits, FIT_MODEL, members=3, seed=5).train_and_score(
        deferred)
    fitted_deferred = FitTrainer(splits, FIT_MODEL, members=3, seed=5,
                                 fit=sweeper_batches_step).train_and_score(deferred)
    np.testing.assert_allclose(fitted_deferred.validation, packed_deferred.validation,
                               atol=3e-4)
    assert np.abs(packed_deferred.validation[1] - packed.validation[1]).max() > 1e-3
