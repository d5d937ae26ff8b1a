"""What a deferred switch is a share of: ``[model] epochs`` when it is a number, the planned
length (about 1,500 steps) when it is ``"auto"`` with early stopping, whose epochs are a cap
that a deferred member would otherwise wait most of for its weights; stored with the study,
and a study stored before it switches at a share of its epochs as it did."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sweeper
from sweeper.config import ModelConfig
from sweeper.config._configs import MAX_AUTO_EPOCHS, TARGET_STEPS
from sweeper.remedies import switch_epoch
from sweeper.study import STUDY_ATTR, load_baselines
from tests.support import make_multiclass_arrays


@pytest.mark.parametrize("rows", [88, 400, 5_000, 200_000])
def test_auto_epochs_defer_over_the_planned_length_not_the_cap(rows):
    model = ModelConfig()  # epochs "auto", patience 10: a cap early stopping ends
    fitted, _ = model.fitted_to(rows)
    assert fitted.batch_size is not None and fitted.epochs is not None
    steps = math.ceil(rows / fitted.batch_size)
    deferral = model.deferral_epochs(rows)
    assert deferral == min(max(math.ceil(TARGET_STEPS / steps), 10), MAX_AUTO_EPOCHS)
    assert deferral <= fitted.epochs
    if rows <= 5_000:  # small data: the cap is ten times the plan
        assert deferral < fitted.epochs


@pytest.mark.parametrize("settings", [{"epochs": 37}, {"patience": 0}, {"epochs": 5}])
def test_a_length_known_before_training_is_the_deferral_length(settings):
    model = ModelConfig.from_mapping(settings)
    fitted, _ = model.fitted_to(400)
    assert model.deferral_epochs(400) == fitted.epochs


@pytest.mark.slow
def test_a_study_with_auto_epochs_switches_its_deferred_baseline_within_the_plan(tmp_path):
    X, y = make_multiclass_arrays(counts=(40, 90, 150, 60))
    storage = f"sqlite:///{tmp_path / 'deferral.db'}"
    model = {"hidden": [8], "learning_rate": 0.01, "pack": 2}  # epochs and batch "auto"
    result = sweeper.sweep(X, y, model=model, trials=2, storage=storage, study_name="auto",
                           data={"folds": 1}, progress=False)
    stored = result.info.model
    deferral = stored["deferral_epochs"]
    assert deferral == ModelConfig.from_mapping(model).deferral_epochs(
        round(0.6 * y.size))  # the training split's rows (validation and test 0.2 each)
    assert deferral < stored["epochs"]
    exported = result.export(baseline="deferred_balanced")
    switch = exported.remedy["switch_epoch"]
    assert switch == switch_epoch(0.75, deferral) == exported.weight_schedule()
    # Early stopping judges the deferred member from its switch on: its kept epoch is later.
    # ... and its weighted phase ends with the deferral length, not at the cap.
    assert switch < load_baselines(result.study)["deferred_balanced"].epochs <= deferral

    # A study stored before the deferral length was recorded switched at a share of its epochs.
    study = result.study
    attrs = dict(study.user_attrs[STUDY_ATTR])
    attrs["model"] = {k: v for k, v in attrs["model"].items() if k != "deferral_epochs"}
    study.set_user_attr(STUDY_ATTR, attrs)
    older = sweeper.load("auto", storage)
    assert older.info.deferral_epochs == stored["epochs"]
    resumed = sweeper.sweep(X, y, model=model, trials=2, storage=storage, study_name="auto",
                            data={"folds": 1}, progress=False)
    assert resumed.info.deferral_epochs == stored["epochs"]
    assert np.isfinite(resumed.verdict.recommendation.point.f1())
