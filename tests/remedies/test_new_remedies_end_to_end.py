"""The two remedies added through the seam, end to end as a user meets them: searched in a real
study, baselined, reported, exported, and trained again in plain Keras from the export alone
(its loss, its weight schedule, its optimizer), reaching the figures the export states."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sweeper
from sweeper.evaluation import evaluate, probabilities
from sweeper.remedies import REMEDIES
from sweeper.report import format_table
from sweeper.study import finished_records, load_baselines
from tests.support import make_multiclass_arrays, make_multilabel_arrays
from tests.support.tiers import trains

MODEL = {"hidden": [16], "epochs": 6, "batch_size": 64, "learning_rate": 0.01, "patience": 0,
         "pack": 4}


def retrained_figures(prepared, exported):
    """Train the built-in MLP from the export alone, as production training would, and score
    the study's validation rows with the export's own decision rule."""
    import keras

    from sweeper.training import build_mlp, fit_plain

    document = exported.document
    spec, seed = document["training"]["model"], document["training"]["seed"]
    epochs = document["training"]["epochs"]
    splits = prepared.splits
    train, validation = splits.train, splits.validation
    keras.utils.set_random_seed(seed)
    model = build_mlp(train.X.shape[1], train.n_outputs, spec["hidden"], seed)
    optimizer = exported.optimizer(steps_per_epoch=math.ceil(train.X.shape[0] /
                                                             spec["batch_size"]))
    y = train.y.astype(np.float32) if exported.task.sigmoid else train.y
    switch = exported.weight_schedule()
    if switch:
        model.compile(optimizer=optimizer, loss=exported.loss(weighted=False))
        fit_plain(model, train.X, y, epochs=switch, batch_size=spec["batch_size"], seed=seed)
    model.compile(optimizer=optimizer, loss=exported.loss())
    fit_plain(model, train.X, y, epochs=epochs, batch_size=spec["batch_size"], seed=seed,
              initial_epoch=switch)
    scores = probabilities(keras.ops.convert_to_numpy(model(validation.X)), exported.task)
    offset = None
    if not exported.task.sigmoid and exported.log_prior is not None:
        offset = exported.tau * np.asarray(exported.log_prior)
    return evaluate(validation.y, scores, task=exported.task,
                    average=document["metrics"]["average"],
                    threshold=exported.threshold if exported.task.sigmoid else None,
                    offset=offset)


@trains
@pytest.mark.parametrize(("remedy", "task"), [("asymmetric", "multilabel"),
                                              ("ldam_drw", "multiclass")])
def test_a_new_remedy_is_searched_baselined_reported_exported_and_retrained(
    tmp_path, remedy, task
):
    X, y = make_multiclass_arrays() if task == "multiclass" else make_multilabel_arrays(600)
    prepared = sweeper.prepare(X, y, model=MODEL, search={"remedies": [remedy]}, trials=4,
                               data={"folds": 1}, storage=f"sqlite:///{tmp_path / 'r.db'}",
                               study_name=remedy)
    result = prepared.run(progress=False)
    records = finished_records(result.study)
    assert {r.candidate.remedy for r in records} == {remedy}
    assert not any(r.diverged for r in records)
    assert remedy in result.baselines  # its published defaults, trained beside the trials
    stored = load_baselines(result.study)[remedy].candidate
    assert (stored.remedy, stored.remedy_values) == (remedy, dict(
        REMEDIES[remedy].baselines(result.info.task)[0].values))
    table = format_table(result.report())
    assert REMEDIES[remedy].baselines(result.info.task)[0].title in table
    best = max(records, key=lambda r: r.validation.f1)
    exported = result.export(tmp_path / "e.json", trial=best.number)
    assert exported.remedy["name"] == remedy
    assert {key: exported.remedy[key] for key in best.candidate.remedy_values} == \
        best.candidate.remedy_values
    assert type(exported.loss()).__name__ == "RemedyLoss"
    figures = retrained_figures(prepared, exported)
    assert figures.recall == pytest.approx(exported.validation["recall"], abs=0.02)
    assert figures.precision == pytest.approx(exported.validation["precision"], abs=0.02)
    baseline = result.export(tmp_path / "b.json", baseline=remedy)
    assert baseline.remedy == {"name": remedy, **{
        key: value for key, value in baseline.remedy.items() if key != "name"}}
    figures = retrained_figures(prepared, baseline)
    assert figures.recall == pytest.approx(baseline.validation["recall"], abs=0.02)
