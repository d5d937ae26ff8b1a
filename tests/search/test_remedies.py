"""The remedy registry in the search space: what a trial draws, what the trainer receives, what
a record stores and how tables show it; a study of plain weights draws and passes what it did
before remedies. Pure NumPy and Optuna: no training."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from sweeper.config import FAMILIES, REMEDIES, SearchConfig, Task
from sweeper.errors import ConfigError
from sweeper.search import (
    REMEDY_REGISTRY,
    Candidate,
    batch_loss_parameters,
    searchable_families,
    space_distributions,
    suggest_candidate,
    switch_epoch,
    training_log_prior,
)

COUNTS = np.array([50, 10, 5])
N = 200


def test_every_remedy_and_family_is_one_registry_entry():
    assert set(REMEDY_REGISTRY) == set(REMEDIES)
    assert searchable_families() == FAMILIES


def test_the_default_space_draws_what_it_drew_before_remedies():
    """``remedies = ["weights"]`` (the default) adds no parameter: stored distributions of
    existing studies are unchanged (tests/config/test_identity.py pins their names)."""
    for task in Task:
        found = space_distributions(SearchConfig(), task, ("a", "b", "c"))
        assert not {"remedy", "switch_fraction", "gamma", "tau_train"} & set(found)
    assert SearchConfig().canonical() == {}


def test_one_remedy_is_no_choice_and_several_are_a_categorical():
    focal = space_distributions(SearchConfig(remedies=("focal",)), Task.MULTILABEL, ("a",))
    assert "remedy" not in focal and focal["gamma"] == FloatDistribution(0.5, 3.0)
    every = space_distributions(SearchConfig(remedies=REMEDIES), Task.MULTICLASS)
    assert every["remedy"] == CategoricalDistribution(list(REMEDIES))
    assert every["switch_fraction"] == FloatDistribution(0.5, 0.9)
    assert every["gamma"] == FloatDistribution(0.5, 3.0)
    assert every["tau_train"] == FloatDistribution(0.0, 2.0)
    assert SearchConfig(remedies=("focal",)).canonical() == {"remedies": ["focal"]}


@pytest.mark.parametrize("remedy", REMEDIES)
def test_a_trial_draws_its_remedys_parameter_only(remedy):
    study = optuna.create_study(directions=["maximize"] * 2,
                                sampler=optuna.samplers.RandomSampler(seed=1))
    search = SearchConfig(remedies=REMEDIES)
    study.enqueue_trial({"remedy": remedy})
    trial = study.ask()
    candidate = suggest_candidate(trial, search, Task.MULTILABEL, ("a", "b", "c"))
    assert candidate.remedy == remedy
    own = REMEDY_REGISTRY[remedy].key
    for key in ("switch_fraction", "gamma", "tau_train"):
        assert (getattr(candidate, key) is not None) == (key == own)
        assert (key in trial.params) == (key == own)


def test_an_unknown_family_is_refused_by_name_not_given_a_beta(monkeypatch):
    search = SearchConfig()
    object.__setattr__(search, "families", ("my_family",))
    trial = optuna.create_study().ask()
    with pytest.raises(ValueError, match="weight family 'my_family'"):
        suggest_candidate(trial, search, Task.MULTILABEL, ("a",))


def test_switch_epoch_and_training_log_prior():
    assert [switch_epoch(f, 20) for f in (0.0, 0.5, 0.75, 0.99)] == [0, 10, 15, 19]
    assert switch_epoch(0.9, 1) == 0
    np.testing.assert_allclose(training_log_prior(COUNTS, N, Task.MULTICLASS),
                               np.log(COUNTS / N))
    np.testing.assert_allclose(training_log_prior(COUNTS, N, Task.MULTILABEL),
                               np.log(COUNTS / (N - COUNTS)))
    np.testing.assert_allclose(training_log_prior([20], N, Task.BINARY), [np.log(20 / 180)])


PLAIN = Candidate(exponent=1.0, normalisation="none", threshold=0.5, threshold_rule="global")
REMEDIED = [
    dataclasses.replace(PLAIN, remedy="deferred", switch_fraction=0.75),
    dataclasses.replace(PLAIN, remedy="focal", gamma=2.0),
    dataclasses.replace(PLAIN, remedy="logit_adjusted", tau_train=1.0),
]


def test_a_batch_passes_the_trainer_every_parameter_its_remedies_need():
    plain = batch_loss_parameters([PLAIN, PLAIN], COUNTS, N, Task.MULTILABEL, epochs=20)
    assert set(plain) == {"weights"} and plain["weights"].shape == (2, 2, 3)
    mixed = batch_loss_parameters([PLAIN, *REMEDIED], COUNTS, N, Task.MULTILABEL, epochs=20)
    assert set(mixed) == {"weights", "switch", "until", "gamma", "tau_train", "log_prior"}
    assert mixed["switch"].tolist() == [0, 15, 0, 0]
    assert mixed["until"].tolist() == [0, 20, 0, 0]  # a deferred member's length
    assert mixed["gamma"].tolist() == [0, 0, 2, 0]
    assert mixed["tau_train"].tolist() == [0, 0, 0, 1]
    assert mixed["log_prior"].shape == (4, 3)
    # a study listing a remedy passes its parameters in every batch (the same compiled epoch)
    study = batch_loss_parameters([PLAIN], COUNTS, N, Task.MULTILABEL, epochs=20,
                                  remedies=("weights", "focal"))
    assert set(study) == {"weights", "gamma"} and study["gamma"].tolist() == [0]


def test_records_store_a_remedy_only_when_there_is_one_and_read_it_back():
    assert set(PLAIN.to_dict()) == {f.name for f in dataclasses.fields(Candidate)} - {
        "remedy", "switch_fraction", "gamma", "tau_train"}
    assert Candidate.from_dict(PLAIN.to_dict()) == PLAIN
    for candidate in REMEDIED:
        assert Candidate.from_dict(candidate.to_dict()) == candidate


def test_tables_show_the_remedy_beside_the_family():
    assert PLAIN.family_summary() == "inv^1.00"
    assert [c.family_summary() for c in REMEDIED] == [
        "inv^1.00, deferred from 75%", "inv^1.00, focal g=2.00",
        "inv^1.00, logit-adjusted t=1.00"]


@pytest.mark.parametrize(
    ("settings", "key", "message"),
    [
        ({"remedies": ["weights", "smote"]}, "remedies", "expected a list drawn from"),
        ({"remedies": []}, "remedies", "expected a list drawn from"),
        ({"remedies": ["deferred"], "switch_fraction": [0.5, 1.0]}, "switch_fraction",
         "0 <= low <= high < 1"),
        ({"remedies": ["focal"], "gamma": [-1, 2]}, "gamma", "0 <= low <= high <= 10"),
        ({"remedies": ["logit_adjusted"], "tau_train": [2, 1]}, "tau_train",
         "0 <= low <= high <= 10"),
        ({"gamma": [1, 2]}, "gamma", "applies to the 'focal' remedy"),
        ({"remedies": ["focal"], "switch_fraction": [0.5, 0.6]}, "switch_fraction",
         "applies to the 'deferred' remedy"),
    ],
)
def test_bad_remedy_settings_are_one_line_naming_the_key(settings, key, message):
    with pytest.raises(ConfigError) as caught:
        SearchConfig.from_mapping(settings)
    assert caught.value.key == key
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
