"""Stable identities: derived study names, versioned records, resume across releases."""

from __future__ import annotations

import dataclasses

import optuna
import pytest

import sweeper
from sweeper.config import (
    DataConfig,
    ModelConfig,
    SearchConfig,
    StudyConfig,
    SweepConfig,
    derived_study_name,
)
from sweeper.config._options import Integer, option
from sweeper.data import dataset_from_arrays
from sweeper.study import STUDY_ATTR, StudyInfo, TrialRecord
from sweeper.study._records import SCHEMA_VERSION, UnreadableRecordError
from tests.support import make_multiclass_arrays, make_multilabel_arrays

SET = SweepConfig(
    model=ModelConfig(hidden=(16,), epochs=5), search=SearchConfig(exponent=(0.0, 2.0)),
    data=DataConfig(seed=3), study=StudyConfig(average="macro"),
)


def fingerprint(make) -> str:
    return dataset_from_arrays(*make()).fingerprint()


@pytest.mark.parametrize(("make", "config", "name"), [
    (make_multilabel_arrays, SweepConfig(), "sweep-2fc8c698498b"),
    (make_multilabel_arrays, SET, "sweep-2a17c75c1ad7"),
    (make_multiclass_arrays, SweepConfig(), "sweep-9e52ebec0516"),
])
def test_derived_names_are_pinned(make, config, name):
    """A derived name changes only when the data or a pinning setting does: pinned here, so a
    change to the formula (or to what pins) cannot pass unnoticed."""
    assert derived_study_name(fingerprint(make), config) == name


@dataclasses.dataclass(frozen=True)
class ModelConfigOfALaterRelease(ModelConfig):
    """A release that added a model option (its default: what earlier releases did)."""

    warmup_epochs: int = option(Integer(0), 0, "a setting added later")


def test_a_name_ignores_options_at_their_defaults_and_settings_that_do_not_pin():
    data = fingerprint(make_multilabel_arrays)
    name = derived_study_name(data, SweepConfig())
    same = [
        SweepConfig(model=ModelConfigOfALaterRelease()),
        SweepConfig(model=ModelConfig(hidden=(100, 100))),  # the built-in MLP's default
        SweepConfig(model=ModelConfig(pack=4)),
        SweepConfig(study=StudyConfig(sampler="nsga2", trials=7, storage="sqlite:///x.db")),
        SweepConfig(search=SearchConfig(exponent=(0.0, 1.5))),
    ]
    assert {derived_study_name(data, config) for config in same} == {name}
    other = [
        SweepConfig(model=ModelConfigOfALaterRelease(warmup_epochs=2)),
        SweepConfig(model=ModelConfig(learning_rate=0.01)),
        SweepConfig(search=SearchConfig(exponent=(0.0, 1.0))),
        SweepConfig(data=DataConfig(folds=1)),
        SweepConfig(study=StudyConfig(average="macro")),
    ]
    names = {derived_study_name(data, config) for config in other}
    assert name not in names and len(names) == len(other)


def test_records_carry_their_schema_version_and_older_ones_are_read(tmp_path):
    X, y = make_multilabel_arrays(n_rows=400)
    prepared = sweeper.prepare(X, y, storage=f"sqlite:///{tmp_path / 's.db'}")
    stored = prepared.study.user_attrs[STUDY_ATTR]
    assert stored["schema_version"] == SCHEMA_VERSION
    version_1 = {key: value for key, value in stored.items() if key != "schema_version"}
    assert StudyInfo.from_dict(version_1) == StudyInfo.from_dict(stored) == prepared.info
    with pytest.raises(UnreadableRecordError, match="newer sweeper \\(record schema 3"):
        StudyInfo.from_dict({**stored, "schema_version": SCHEMA_VERSION + 1})


def test_a_trial_record_of_a_newer_sweeper_is_refused_by_name(finished_study):
    from sweeper.api import open_study_file

    study = open_study_file(finished_study).study
    trial = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))[0]
    record = TrialRecord.stored_in(trial)
    assert record["schema_version"] == SCHEMA_VERSION
    old = {key: value for key, value in record.items() if key != "schema_version"}
    assert TrialRecord.from_attrs(trial.number, old) == TrialRecord.from_attrs(
        trial.number, record)
    with pytest.raises(UnreadableRecordError, match=f"trial {trial.number}'s record"):
        TrialRecord.from_attrs(trial.number, {**record, "schema_version": 99})


def test_a_study_of_an_earlier_release_resumes_with_the_settings_it_lacks_at_defaults(
    tmp_path
):
    """A study record written before a model setting existed (0.1's, without the version):
    resumed when the setting is at its default, refused by the setting's name otherwise."""
    X, y = make_multilabel_arrays(n_rows=400)
    options = {"storage": f"sqlite:///{tmp_path / 's.db'}", "study_name": "old",
               "model": {"hidden": [8], "epochs": 20}}
    study = sweeper.prepare(X, y, **options).study
    stored = dict(study.user_attrs[STUDY_ATTR])
    del stored["schema_version"]
    stored["model"] = {k: v for k, v in stored["model"].items() if k != "patience"}
    study.set_user_attr(STUDY_ATTR, stored)
    assert sweeper.prepare(X, y, **options).info.model["patience"] == 10
    changed = {**options, "model": {**options["model"], "patience": 3}}
    with pytest.raises(sweeper.DataError, match=r"another \[model\] patience: stored 10, now 3"):
        sweeper.prepare(X, y, **changed)


def test_setting_canonical_forms_are_json():
    canonical = SET.canonical()
    assert canonical == {
        "study": {"average": "macro"}, "data": {"seed": 3},
        "model": {"hidden": [16], "epochs": 5}, "search": {"exponent": [0.0, 2.0]},
    }
    assert SweepConfig().canonical() == {}


def test_a_study_of_the_earlier_automatic_epochs_resumes_with_its_stored_epochs(tmp_path):
    """``epochs = "auto"`` meant about 1,500 gradient steps before it followed the validation
    loss: a study created then (its record holds the epochs it resolved, without the settings
    added since) resumes with those epochs instead of being refused; a number set now that
    differs is still refused by name."""
    X, y = make_multilabel_arrays(n_rows=400)
    options = {"storage": f"sqlite:///{tmp_path / 's.db'}", "study_name": "auto",
               "model": {"hidden": [8]}}
    study = sweeper.prepare(X, y, **options).study
    stored = dict(study.user_attrs[STUDY_ATTR])
    assert stored["model"]["epochs"] > 100  # today's cap
    stored["model"] = {k: v for k, v in stored["model"].items() if k not in ("fit", "optimizer")}
    stored["model"]["epochs"] = 94  # what the earlier "auto" resolved to
    study.set_user_attr(STUDY_ATTR, stored)
    resumed = sweeper.prepare(X, y, **options)
    assert resumed.config.model.epochs == 94 and resumed.info.model["epochs"] == 94
    changed = {**options, "model": {"hidden": [8], "epochs": 50}}
    with pytest.raises(sweeper.DataError, match=r"another \[model\] epochs: stored 94, now 50"):
        sweeper.prepare(X, y, **changed)
