"""The weight-family registry (sweeper/search/_families.py): every entry gives the weights of the
formulas written out by hand here, suggests exactly its declared parameters under the stored
Optuna names, and survives a trial record and an export; a family registered by a test alone is
searched, weighted, summarised and recorded with no other code touched. No training."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import optuna
import pytest

from sweeper.config import FAMILIES, SearchConfig, Task
from sweeper.errors import ConfigError, ExportError
from sweeper.evaluation import Evaluation
from sweeper.export import export_document, export_schema, load_export, write_export
from sweeper.search import (
    FAMILY_REGISTRY,
    SKLEARN_BALANCED,
    Candidate,
    WeightFamily,
    batch_loss_parameters,
    binary_weight_pair,
    normalise,
    searchable_families,
    space_distributions,
    suggest_candidate,
    weight_family,
    weight_vector,
)
from sweeper.study import StudyInfo, TrialRecord

N = 200
COUNTS = {Task.MULTILABEL: np.array([4, 20, 50]), Task.MULTICLASS: np.array([20, 50, 130])}
NORMALISATIONS = ("none", "sum_to_one", "mean_one", "balanced")
PARAMETERS = {"inverse_frequency": {"exponent": 0.7}, "effective_number": {"beta": 0.99},
              SKLEARN_BALANCED: {}}
"""One parameter setting per registered family (a new family adds its own)."""
OPTUNA_NAMES = {"inverse_frequency": {"exponent"}, "effective_number": {"one_minus_beta"}}
"""The names trials store: existing studies resume only while these stay."""


def by_hand(family: str, counts: np.ndarray, task: Task) -> tuple[np.ndarray, np.ndarray | None]:
    """The family's raw ``(pos_weight or class weight, negative weight)`` as first written:
    multi-label ``(neg/pos) ** e``, ``E(neg) / E(pos)``, ``n / (2 pos)`` (negatives
    ``n / (2 neg)``); multi-class ``(n / (K n_c)) ** e``, ``n / (K E(n_c))``, ``n / (K n_c)``."""
    c = counts.astype(np.float64)
    k = c.size

    def effective(m: np.ndarray) -> np.ndarray:
        beta = PARAMETERS["effective_number"]["beta"]
        return (1 - beta**m) / (1 - beta)

    if task == Task.MULTILABEL:
        raw = {"inverse_frequency": ((N - c) / c) ** 0.7,
               "effective_number": effective(N - c) / effective(c),
               SKLEARN_BALANCED: N / (2 * c)}
        return raw[family], N / (2 * (N - c)) if family == SKLEARN_BALANCED else None
    raw = {"inverse_frequency": (N / (k * c)) ** 0.7, "effective_number": N / (k * effective(c)),
           SKLEARN_BALANCED: N / (k * c)}
    return raw[family], None


def candidate_of(family: str, task: Task, **changes: Any) -> Candidate:
    fields: dict[str, Any] = {"exponent": None, **PARAMETERS.get(family, {})}
    if task == Task.MULTICLASS:
        fields.update(threshold=None, class_weighting="true_class", tau=0.5)
    else:
        fields.update(threshold=0.4, threshold_rule="global")
    return Candidate(**{"family": family, "normalisation": "none", **fields, **changes})


def test_the_registry_is_the_config_s_families_and_the_export_schema_s():
    """The config sits below the registry and the schema is a published file: both list the
    names themselves, and must say what the registry says."""
    assert set(PARAMETERS) == set(FAMILY_REGISTRY)  # a new family brings its test parameters
    assert searchable_families() == FAMILIES
    assert SKLEARN_BALANCED not in FAMILIES and not FAMILY_REGISTRY[SKLEARN_BALANCED].searchable
    schema = export_schema()["properties"]["weights"]["properties"]["family"]["enum"]
    assert schema == list(FAMILY_REGISTRY)
    with pytest.raises(ConfigError, match="families"):
        SearchConfig(families=(SKLEARN_BALANCED,))


def test_an_unknown_family_is_refused_by_name_in_one_line():
    for call in (
        lambda: weight_family("cubic"),
        lambda: weight_vector(counts=np.array([1, 2]), n_samples=4, task=Task.MULTILABEL,
                              normalisation="none", family="cubic"),
        lambda: binary_weight_pair(positives=1, n_samples=4, normalisation="none",
                                   family="cubic"),
        lambda: dataclasses.replace(candidate_of("inverse_frequency", Task.MULTILABEL),
                                    family="cubic").weights(np.array([1, 2]), 4, Task.MULTILABEL),
    ):
        with pytest.raises(ValueError, match=r"^unknown weight family 'cubic': [^\n]*$"):
            call()


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
@pytest.mark.parametrize("task", [Task.MULTILABEL, Task.MULTICLASS], ids=str)
@pytest.mark.parametrize("family", list(PARAMETERS))
def test_every_family_gives_the_formulas_weights(family, task, normalisation):
    """Multipliers and the normalisation apply to every family's raw weights alike (the
    baseline-only sklearn_balanced is only ever built with neither; its negatives' row is its
    own, unscaled)."""
    counts = COUNTS[task]
    raw, negative = by_hand(family, counts, task)
    multipliers = (0.5, 1.0, 3.0)
    candidate = candidate_of(family, task, normalisation=normalisation,
                             multiplier_mode="per_label", multipliers=multipliers)
    expected = normalise(raw * np.array(multipliers), counts, normalisation)
    np.testing.assert_allclose(candidate.weights(counts, N, task), expected, rtol=1e-12)
    np.testing.assert_allclose(
        weight_vector(counts=counts, n_samples=N, task=task, normalisation=normalisation,
                      family=family, multipliers=np.array(multipliers), **PARAMETERS[family]),
        expected, rtol=1e-12)
    loss = candidate.loss_weights(counts, N, task)
    if task == Task.MULTILABEL:  # positives' row, then negatives' (1 unless the family sets it)
        np.testing.assert_allclose(loss[0], expected, rtol=1e-12)
        np.testing.assert_allclose(loss[1], np.ones(3) if negative is None else negative,
                                   rtol=1e-12)
    else:
        np.testing.assert_allclose(loss, np.repeat(expected[:, None], 3, axis=1), rtol=1e-12)


@pytest.mark.parametrize("normalisation", NORMALISATIONS)
@pytest.mark.parametrize("family", list(PARAMETERS))
def test_every_family_gives_the_formulas_binary_pair(family, normalisation):
    """A binary task is its one label's pair ``(neg_weight, pos_weight)``, normalised."""
    counts = np.array([13])
    raw, negative = by_hand(family, counts, Task.MULTILABEL)
    pair = np.array([1.0 if negative is None else negative[0], raw[0] * 2.0])
    expected = normalise(pair, np.array([N - 13, 13]), normalisation)
    candidate = candidate_of(family, Task.BINARY, normalisation=normalisation,
                             multiplier_mode="buckets", multipliers=(2.0,))
    np.testing.assert_allclose(candidate.binary_pair(counts, N), expected, rtol=1e-12)
    np.testing.assert_allclose(candidate.weights(counts, N, Task.BINARY), expected[1:],
                               rtol=1e-12)
    np.testing.assert_allclose(candidate.loss_weights(counts, N, Task.BINARY),
                               [[expected[1]], [expected[0]]], rtol=1e-12)
    np.testing.assert_allclose(
        binary_weight_pair(positives=13, n_samples=N, normalisation=normalisation,
                           family=family, multiplier=2.0, **PARAMETERS[family]),
        expected, rtol=1e-12)


@pytest.mark.parametrize("task", list(Task), ids=str)
@pytest.mark.parametrize("family", list(OPTUNA_NAMES))
def test_a_searchable_family_suggests_exactly_its_declared_parameters(family, task):
    entry = FAMILY_REGISTRY[family]
    search = SearchConfig(families=FAMILIES)
    study = optuna.create_study(directions=["maximize"] * 2,
                                sampler=optuna.samplers.RandomSampler(seed=2))
    study.enqueue_trial({"family": family})
    trial = study.ask()
    candidate = suggest_candidate(trial, search, task, ("a",))
    assert candidate.family == family
    every = {name for other in FAMILY_REGISTRY.values() for name in other.parameters}
    assert {name for name in every if getattr(candidate, name) is not None} == set(
        entry.parameters)
    assert set(entry.suggest(study.ask(), search)) == set(entry.parameters)
    assert OPTUNA_NAMES[family] <= set(trial.params)
    assert not (set().union(*OPTUNA_NAMES.values()) - OPTUNA_NAMES[family]) & set(trial.params)
    alone = space_distributions(SearchConfig(families=(family,), normalisations=("none",)),
                                Task.MULTICLASS)
    assert set(alone) == OPTUNA_NAMES[family] | {"tau"}


def test_a_baseline_only_family_is_not_suggested():
    search = SearchConfig()
    object.__setattr__(search, "families", (SKLEARN_BALANCED,))  # what the config refuses
    with pytest.raises(ValueError, match="'sklearn_balanced' is a baseline's, not searched"):
        suggest_candidate(optuna.create_study().ask(), search, Task.MULTILABEL, ("a",))


def info_of(task: Task) -> StudyInfo:
    model = {"hidden": [4], "epochs": 20, "batch_size": 8, "learning_rate": 0.01,
             "factory": None}
    return StudyInfo(task=task, labels=("a", "b", "c"), average="micro", fingerprint="f" * 16,
                     source="builtin:x", train_counts=tuple(COUNTS[task].tolist()), n_features=3,
                     n_train=N, n_validation=20, n_test=20, seed=0, model=model, version="0")


def record_of(candidate: Candidate, task: Task) -> TrialRecord:
    figures = Evaluation(0.5, 0.5, (0.5,) * 3, (0.5,) * 3)
    return TrialRecord(
        number=3, candidate=candidate,
        weights=tuple(candidate.weights(COUNTS[task], N, task)),
        validation=figures, test=figures, validation_curve=None, test_curve=None,
        diverged=False, train_seconds=1.0, packed_members=1, epochs=18,
    )


def stored(candidate: Candidate) -> Candidate:
    """The candidate as a trial record stores it (JSON) and reads it back."""
    return Candidate.from_dict(json.loads(json.dumps(candidate.to_dict())))


@pytest.mark.parametrize("task", [Task.MULTILABEL, Task.MULTICLASS], ids=str)
@pytest.mark.parametrize("family", list(PARAMETERS))
def test_summary_and_export_round_trip_through_a_record_and_a_document(tmp_path, family, task):
    entry = FAMILY_REGISTRY[family]
    candidate = candidate_of(family, task, multiplier_mode="buckets", multipliers=(2.0,))
    again = stored(candidate)
    assert again == candidate
    assert again.family_summary() == candidate.family_summary()
    assert candidate.family_summary().startswith(entry.summary(candidate))
    info = info_of(task)
    document = export_document(record_of(again, task), info, study_name="s",
                               storage_url="sqlite:///x.db")
    weights = document["weights"]
    assert weights["family"] == family
    assert entry.export(candidate) == {name: weights[name] for name in entry.export(candidate)}
    # every family's document carries both legacy fields (null where it has none)
    assert {name: weights[name] for name in ("exponent", "beta")} == {
        "exponent": candidate.exponent, "beta": candidate.beta}
    exported = load_export(write_export(document, tmp_path / "w.json"))
    weight_key = "pos_weight" if task == Task.MULTILABEL else "class_weight"
    assert list(exported.weights) == document[weight_key]
    # the document says enough to rebuild the candidate's family and its weights
    rebuilt = dataclasses.replace(candidate, **{
        "exponent": None, "beta": None,
        **{name: weights[name] for name in ("family", *entry.parameters)}})
    np.testing.assert_array_equal(rebuilt.weights(COUNTS[task], N, task),
                                  candidate.weights(COUNTS[task], N, task))


class SquareRootOdds(WeightFamily):
    """A toy family for the test below: ``sqrt(neg/pos) * exponent`` per label (per class:
    ``sqrt(n / (K n_c)) * exponent``), searched under its own Optuna name."""

    name = "toy_sqrt"
    parameters = ("exponent",)

    def suggest(self, trial: optuna.Trial, search: SearchConfig) -> dict[str, float]:
        return {"exponent": trial.suggest_float("toy_scale", 0.5, 2.0)}

    def raw_weights(
        self, counts: np.ndarray, n_samples: int, task: Task, parameters: Mapping[str, Any]
    ) -> np.ndarray:
        counts = np.asarray(counts, dtype=np.float64)
        base = (n_samples - counts) / counts if task == Task.MULTILABEL else (
            n_samples / (counts.size * counts))
        return np.sqrt(base) * parameters["exponent"]

    def summary(self, candidate: Candidate) -> str:
        return f"sqrt x{candidate.exponent:.2f}"


@pytest.fixture
def toy_family():
    """Registered for one test, then removed: the registry is the only place it is added."""
    FAMILY_REGISTRY[SquareRootOdds.name] = SquareRootOdds()
    try:
        yield SquareRootOdds.name
    finally:
        del FAMILY_REGISTRY[SquareRootOdds.name]


def test_a_family_registered_alone_is_searched_weighted_summarised_and_recorded(toy_family):
    """A registry entry is all the search, the weights, the trainer's loss parameters, tables
    and trial records need. Two places list family names themselves, by design: the config's
    ``FAMILIES`` (``[search] families`` is checked against it when the config is built, so the
    test sets the choice past that check, as an older stored config would read) and the
    export schema's enum (a published file: an export of a family no reader knows is refused)."""
    search = SearchConfig(families=FAMILIES)
    object.__setattr__(search, "families", ("inverse_frequency", toy_family))
    space = space_distributions(search, Task.MULTILABEL, ("a", "b", "c"))
    assert space["family"].choices == ("inverse_frequency", toy_family)
    assert space["toy_scale"] == optuna.distributions.FloatDistribution(0.5, 2.0)
    study = optuna.create_study(directions=["maximize"] * 2,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"family": toy_family})
    trial = study.ask()
    candidate = suggest_candidate(trial, search, Task.MULTILABEL, ("a", "b", "c"))
    assert candidate.family == toy_family and candidate.beta is None
    scale = trial.params["toy_scale"]
    assert candidate.exponent == scale and "exponent" not in trial.params
    counts = COUNTS[Task.MULTILABEL]
    raw = np.sqrt((N - counts) / counts) * scale
    np.testing.assert_allclose(candidate.weights(counts, N, Task.MULTILABEL),
                               normalise(raw, counts, candidate.normalisation), rtol=1e-12)
    classes = candidate_of(toy_family, Task.MULTICLASS, exponent=2.0)
    np.testing.assert_allclose(classes.weights(COUNTS[Task.MULTICLASS], N, Task.MULTICLASS),
                               np.sqrt(N / (3 * COUNTS[Task.MULTICLASS])) * 2.0, rtol=1e-12)
    binary = candidate_of(toy_family, Task.BINARY, exponent=2.0)
    np.testing.assert_allclose(binary.binary_pair(np.array([20]), N), [1.0, 3.0 * 2.0])
    parameters = batch_loss_parameters([candidate], counts, N, Task.MULTILABEL, epochs=5)
    np.testing.assert_allclose(parameters["weights"][0, 1], np.ones(3))
    assert candidate.family_summary() == f"sqrt x{scale:.2f}"
    assert stored(candidate) == candidate
    assert FAMILY_REGISTRY[toy_family].export(candidate) == {"exponent": scale}
    with pytest.raises(ExportError, match=r"weights/family: 'toy_sqrt' is not one of"):
        export_document(record_of(candidate, Task.MULTILABEL), info_of(Task.MULTILABEL),
                        study_name="s", storage_url="sqlite:///x.db")


def test_the_toy_family_is_gone_after_its_test():
    assert SquareRootOdds.name not in FAMILY_REGISTRY
