"""The remedy registry and what every layer reads from it: the ``[search]`` options and their
checks, what a trial draws, what the trainer receives, what a record stores, how tables show
it, the baselines and the export schema; a study of plain weights draws and passes what it did
before remedies. Pure NumPy and Optuna: no training, no Keras."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

import sweeper
from sweeper.config import FAMILIES, SearchConfig, Task
from sweeper.errors import ConfigError
from sweeper.export import export_schema
from sweeper.remedies import (
    REMEDIES,
    Remedy,
    Searched,
    register_remedy,
    searched_options,
    switch_epoch,
    training_log_prior,
)
from sweeper.search import (
    Candidate,
    batch_loss_parameters,
    check_search,
    searchable_families,
    space_distributions,
    suggest_candidate,
)
from sweeper.study import baseline_candidates

COUNTS = np.array([50, 10, 5])
N = 200


ALL = tuple(REMEDIES)


def test_every_family_is_one_registry_entry_and_the_config_copies_no_remedy():
    assert searchable_families() == FAMILIES
    for key, searched in searched_options().items():
        assert SearchConfig.default(key) == searched.default
        assert SearchConfig.help(key) == searched.help
    remedies = next(f for f in dataclasses.fields(SearchConfig) if f.name == "remedies")
    assert remedies.metadata["constraint"].choices == ALL


def test_a_remedy_module_is_the_only_place_that_names_it():
    """The two remedies added through the seam are named in their module and in one
    registration line of the registry, nowhere else in the package."""
    package = Path(sweeper.__file__).parent
    for word in ("asymmetric", "ldam"):
        naming = sorted(str(path.relative_to(package)) for path in package.rglob("*.py")
                        if word in path.read_text(encoding="utf-8").lower())
        assert len(naming) == 2 and "remedies/__init__.py" in naming, naming
        registry = (package / "remedies" / "__init__.py").read_text(encoding="utf-8")
        assert sum(word in line.lower() for line in registry.splitlines()) <= 2


def test_a_registered_name_or_a_conflicting_key_is_refused():
    class Again(Remedy):
        name = "focal"
        title = "again"

        def member_losses(self, *args):
            raise NotImplementedError

    with pytest.raises(ValueError, match="registered already"):
        register_remedy(Again())
    Again.name = "other"
    Again.own_searched = (Searched("gamma", (0.0, 1.0), 0.0, 1.0, "another gamma"),)
    with pytest.raises(ValueError, match="declares `gamma` differently"):
        register_remedy(Again())
    assert "other" not in REMEDIES


def test_the_export_schema_has_one_branch_per_remedy():
    remedy = export_schema()["$defs"]["remedy"]
    assert [branch["properties"]["name"]["const"] for branch in remedy["oneOf"]] == list(ALL)
    assert remedy["properties"]["name"]["enum"] == list(ALL)


def test_each_task_has_the_baselines_of_its_remedies():
    assert list(baseline_candidates(Task.MULTILABEL)) == [
        "unweighted", "neg_pos", "sklearn_balanced", "deferred_balanced", "focal",
        "logit_adjusted", "asymmetric"]
    assert list(baseline_candidates(Task.MULTICLASS)) == [
        "unweighted", "sklearn_balanced", "deferred_balanced", "focal", "balanced_softmax",
        "ldam_drw"]
    asymmetric = baseline_candidates(Task.BINARY)["asymmetric"]
    assert asymmetric.remedy_values == {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05}
    ldam = baseline_candidates(Task.MULTICLASS)["ldam_drw"]
    assert (ldam.family, ldam.beta, ldam.normalisation) == ("effective_number", 0.9999,
                                                            "mean_one")
    assert ldam.remedy_values == {"max_margin": 0.5, "logit_scale": 1.0,
                                  "switch_fraction": 0.8}


@pytest.mark.parametrize(("remedy", "task"), [("asymmetric", Task.MULTICLASS),
                                              ("ldam_drw", Task.MULTILABEL),
                                              ("ldam_drw", Task.BINARY)])
def test_a_remedy_for_another_task_is_refused_before_training(remedy, task):
    with pytest.raises(ConfigError) as caught:
        check_search(SearchConfig(remedies=("weights", remedy)), task, 3)
    assert caught.value.key == "remedies" and f"but this data is {task}" in str(caught.value)


def test_the_default_space_draws_what_it_drew_before_remedies():
    """``remedies = ["weights"]`` (the default) adds no parameter: stored distributions of
    existing studies are unchanged (tests/config/test_identity.py pins their names)."""
    for task in Task:
        found = space_distributions(SearchConfig(), task, ("a", "b", "c"))
        assert not ({"remedy"} | set(searched_options())) & set(found)
    assert SearchConfig().canonical() == {}


def test_one_remedy_is_no_choice_and_several_are_a_categorical():
    focal = space_distributions(SearchConfig(remedies=("focal",)), Task.MULTILABEL, ("a",))
    assert "remedy" not in focal and focal["gamma"] == FloatDistribution(0.5, 3.0)
    every = space_distributions(SearchConfig(remedies=ALL), Task.MULTICLASS)
    assert every["remedy"] == CategoricalDistribution(list(ALL))
    assert every["switch_fraction"] == FloatDistribution(0.5, 0.9)
    assert every["gamma"] == FloatDistribution(0.5, 3.0)
    assert every["tau_train"] == FloatDistribution(0.0, 2.0)
    assert every["max_margin"] == FloatDistribution(0.1, 2.0, log=True)
    assert every["logit_scale"] == FloatDistribution(1.0, 30.0, log=True)
    assert "gamma_neg" in space_distributions(SearchConfig(remedies=("asymmetric",)),
                                              Task.BINARY)
    assert SearchConfig(remedies=("focal",)).canonical() == {"remedies": ["focal"]}


@pytest.mark.parametrize("remedy", ALL)
def test_a_trial_draws_its_remedys_parameters_only(remedy):
    study = optuna.create_study(directions=["maximize"] * 2,
                                sampler=optuna.samplers.RandomSampler(seed=1))
    task = Task.MULTICLASS if Task.MULTICLASS in REMEDIES[remedy].tasks else Task.MULTILABEL
    search = SearchConfig(remedies=ALL)
    study.enqueue_trial({"remedy": remedy})
    trial = study.ask()
    candidate = suggest_candidate(trial, search, task, ("a", "b", "c"))
    assert candidate.remedy == remedy
    own = set(REMEDIES[remedy].keys)
    assert set(candidate.remedy_values) == own
    assert set(searched_options()) & set(trial.params) == own


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
    dataclasses.replace(PLAIN, remedy="deferred", remedy_values={"switch_fraction": 0.75}),
    dataclasses.replace(PLAIN, remedy="focal", remedy_values={"gamma": 2.0}),
    dataclasses.replace(PLAIN, remedy="logit_adjusted", remedy_values={"tau_train": 1.0}),
    dataclasses.replace(PLAIN, remedy="asymmetric", remedy_values={
        "gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05}),
]


def test_a_batch_passes_the_trainer_every_parameter_its_remedies_need():
    plain = batch_loss_parameters([PLAIN, PLAIN], COUNTS, N, Task.MULTILABEL, epochs=20)
    assert set(plain) == {"weights"} and plain["weights"].shape == (2, 2, 3)
    mixed = batch_loss_parameters([PLAIN, *REMEDIED], COUNTS, N, Task.MULTILABEL, epochs=20)
    assert set(mixed) == {
        "weights", "switch", "until", "focal.gamma", "logit_adjusted.tau_train",
        "logit_adjusted.log_prior", "asymmetric.gamma_neg", "asymmetric.gamma_pos",
        "asymmetric.clip", *(f"remedy.{name}" for name in ALL[:5])}
    assert mixed["switch"].tolist() == [0, 15, 0, 0, 0]
    assert mixed["until"].tolist() == [0, 20, 0, 0, 0]  # a deferred member's length
    assert mixed["remedy.focal"].tolist() == [0, 0, 1, 0, 0]
    assert mixed["remedy.weights"].tolist() == [1, 0, 0, 0, 0]
    assert mixed["focal.gamma"][2] == 2.0 and mixed["logit_adjusted.tau_train"][3] == 1.0
    assert mixed["asymmetric.clip"][4] == 0.05
    assert mixed["logit_adjusted.log_prior"].shape == (5, 3)
    # a study listing a remedy passes its parameters in every batch (the same compiled epoch)
    study = batch_loss_parameters([PLAIN], COUNTS, N, Task.MULTILABEL, epochs=20,
                                  remedies=("weights", "focal"))
    assert set(study) == {"weights", "remedy.weights", "remedy.focal", "focal.gamma"}
    assert study["remedy.focal"].tolist() == [0]
    ldam = dataclasses.replace(PLAIN, remedy="ldam_drw", remedy_values={
        "max_margin": 0.5, "logit_scale": 2.0, "switch_fraction": 0.5})
    drw = batch_loss_parameters([ldam], COUNTS, N, Task.MULTICLASS, epochs=20)
    assert drw["switch"].tolist() == [10] and drw["until"].tolist() == [20]
    np.testing.assert_allclose(drw["ldam_drw.margin"][0], 0.5 * (COUNTS / 5) ** -0.25)


def test_records_store_a_remedy_only_when_there_is_one_and_read_it_back():
    assert set(PLAIN.to_dict()) == {f.name for f in dataclasses.fields(Candidate)} - {
        "remedy", "remedy_values", "weight_decay"}
    assert Candidate.from_dict(PLAIN.to_dict()) == PLAIN
    for candidate in REMEDIED:
        stored = candidate.to_dict()
        assert stored["remedy"] == candidate.remedy
        assert {key: stored[key] for key in candidate.remedy_values} == candidate.remedy_values
        assert Candidate.from_dict(stored) == candidate
    # a record written before the registry held every remedy's field, the others None
    old = {**PLAIN.to_dict(), "remedy": "focal", "gamma": 1.5, "switch_fraction": None,
           "tau_train": None}
    assert Candidate.from_dict(old).remedy_values == {"gamma": 1.5}


def test_tables_show_the_remedy_beside_the_family():
    assert PLAIN.family_summary() == "inv^1.00"
    assert [c.family_summary() for c in REMEDIED] == [
        "inv^1.00, deferred from 75%", "inv^1.00, focal g=2.00",
        "inv^1.00, logit-adjusted t=1.00", "inv^1.00, ASL g-=4.00 g+=1.00 clip=0.050"]


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
         "applies to the 'deferred' or 'ldam_drw' remedy"),
        ({"remedies": ["asymmetric"], "clip": [0.1, 0.5]}, "clip", "0 <= low <= high < 0.5"),
        ({"remedies": ["ldam_drw"], "max_margin": [0, 1]}, "max_margin",
         "0 < low <= high <= 10"),
        ({"max_margin": [0.2, 1]}, "max_margin", "applies to the 'ldam_drw' remedy"),
    ],
)
def test_bad_remedy_settings_are_one_line_naming_the_key(settings, key, message):
    with pytest.raises(ConfigError) as caught:
        SearchConfig.from_mapping(settings)
    assert caught.value.key == key
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
