"""Remedies in real studies: a study searching every remedy trains mixed packed batches, stores
each trial's remedy, shows it in the table and exports it; the remedies' baselines are on the
front; a study stored before them computes the missing baselines when resumed and keeps its
own; a deferred remedy trains with a training step of the user's own, in two calls."""

from __future__ import annotations

import optuna
import pytest

import sweeper
from sweeper.remedies import REMEDIES
from sweeper.report import format_table, front_rows
from sweeper.study import BASELINES_ATTR, baseline_candidates, finished_records
from tests.support import make_multiclass_arrays, make_multilabel_arrays

pytestmark = pytest.mark.slow

MODEL = {"hidden": [8], "epochs": 4, "batch_size": 64, "learning_rate": 0.01, "pack": 4}


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_a_study_of_every_remedy_trains_stores_shows_and_exports_them(tmp_path, task):
    X, y = make_multiclass_arrays() if task == "multiclass" else make_multilabel_arrays(600)
    remedies = [name for name, remedy in REMEDIES.items() if task in remedy.tasks]
    result = sweeper.sweep(X, y, model=MODEL, search={"remedies": remedies}, trials=8,
                           storage=f"sqlite:///{tmp_path / 'r.db'}", study_name="remedies",
                           progress=False)
    records = finished_records(result.study)
    remedies = {record.candidate.remedy for record in records}
    assert len(records) == 8 and len(remedies) > 1  # mixed batches trained
    for record in records:
        assert set(record.candidate.remedy_values) == set(
            REMEDIES[record.candidate.remedy].keys)
    assert not any(record.diverged for record in records)
    assert set(result.baselines) == set(baseline_candidates(result.info.task))
    assert format_table(result.report())
    focal = [r for r in records if r.candidate.remedy == "focal"]
    if focal:
        exported = result.export(tmp_path / "f.json", trial=focal[0].number)
        assert exported.remedy == {"name": "focal", **focal[0].candidate.remedy_values}
        assert type(exported.loss()).__name__.startswith("Focal")
    report = result.report()
    for row in front_rows(report):  # the family column shows each point's remedy
        point = next(p for p in report.front if p.record.label == row[0])
        assert row[-3] == point.record.candidate.family_summary()
    shown = [row[-3] for row in front_rows(report)]
    remedied = [text for text in shown if ", " in text]
    assert all(any(word in text for word in ("focal g=", "deferred from", "logit-adjusted t=",
                                             "ASL g-=", "LDAM m="))
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
    assert {"deferred_balanced", "ldam_drw"} <= set(result.baselines)
    seconds = [i for i, call in enumerate(calls) if call[0] > 0]
    assert len(seconds) == 4  # two deferred trials, the deferred and LDAM-DRW baselines
    for i in seconds:
        start, end, model, optimizer = calls[i]
        assert calls[i - 1] == (0, start, model, optimizer)  # the same model and optimizer
        assert end == MODEL["epochs"]
    assert {record.candidate.remedy for record in finished_records(result.study)} == {
        "deferred"}


REMEDY_VALUES = {
    "weights": {}, "deferred": {"switch_fraction": 0.5}, "focal": {"gamma": 2.0},
    "logit_adjusted": {"tau_train": 1.0},
    "asymmetric": {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05},
    "ldam_drw": {"max_margin": 0.5, "logit_scale": 2.0, "switch_fraction": 0.5},
}


@pytest.mark.parametrize("task", ["multilabel", "multiclass"])
def test_a_users_step_trains_every_remedys_member_as_the_packed_trainer(task):
    """Each remedy's member, packed with the task's other remedies, and a lone Keras model
    compiled with that remedy's Keras loss by the user's step on the sweeper's batch order reach
    the same scores (a deferring remedy's model trained in two calls of the step)."""
    import dataclasses

    import numpy as np

    from sweeper.config import Task
    from sweeper.remedies import REMEDIES
    from sweeper.search import Candidate, batch_loss_parameters
    from sweeper.training import FitTrainer, PackedTrainer
    from tests.training.test_fit import MODEL as FIT_MODEL
    from tests.training.test_fit import splits_of, sweeper_batches_step

    splits, _ = splits_of(task)
    train = splits.train
    counts = train.y.sum(axis=0) if task == "multilabel" else np.bincount(train.y)
    base = (Candidate(exponent=1.0, normalisation="mean_one", threshold=None,
                      class_weighting="true_class", tau=0.0) if task == "multiclass"
            else Candidate(exponent=1.0, normalisation="mean_one", threshold=0.5,
                           threshold_rule="global"))
    names = [name for name in REMEDIES if Task(task) in REMEDIES[name].tasks]
    candidates = [dataclasses.replace(base, remedy=name, remedy_values=REMEDY_VALUES[name])
                  for name in names]
    parameters = batch_loss_parameters(candidates, counts, train.y.shape[0], Task(task),
                                       epochs=FIT_MODEL.epochs)
    members = len(names)
    packed = PackedTrainer(splits, FIT_MODEL, members=members, seed=5).train_and_score(
        parameters)
    fitted = FitTrainer(splits, FIT_MODEL, members=members, seed=5,
                        fit=sweeper_batches_step).train_and_score(parameters)
    np.testing.assert_allclose(fitted.validation, packed.validation, atol=3e-4)
    plain = PackedTrainer(splits, FIT_MODEL, members=members, seed=5).train_and_score(
        {"weights": parameters["weights"]})
    np.testing.assert_allclose(plain.validation[0], packed.validation[0], atol=1e-5)
    for member, name in enumerate(names[1:], start=1):  # every remedy acts
        assert np.abs(plain.validation[member] - packed.validation[member]).max() > 1e-3, name
