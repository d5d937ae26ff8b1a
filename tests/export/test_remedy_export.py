"""The remedies through export and back: the document names the remedy and its parameters (the
schema checks them), old documents still load as ``weights``, and the way back gives the Keras
loss each trial trained with (the registry's, value for value) and deferred training's
schedule. No training."""

from __future__ import annotations

import copy
import dataclasses

import keras
import numpy as np
import pytest

from sweeper.config import Task
from sweeper.errors import ExportError
from sweeper.evaluation import Evaluation
from sweeper.export import ExportedWeights, export_document, load_export, write_export
from sweeper.remedies import REMEDIES
from sweeper.search import Candidate, batch_loss_parameters
from sweeper.study import StudyInfo, TrialRecord
from sweeper.training import (
    SCHEDULE_PARAMETERS,
    FocalBinaryCrossentropy,
    FocalSparseCategoricalCrossentropy,
    LogitAdjustedBinaryCrossentropy,
    LogitAdjustedSparseCategoricalCrossentropy,
    RemedyLoss,
    WeightedBinaryCrossentropy,
    WeightedSparseCategoricalCrossentropy,
    loss_for,
)

MODEL = {"hidden": [4], "epochs": 20, "batch_size": 8, "learning_rate": 0.01, "factory": None}


def info_of(task: Task) -> StudyInfo:
    labels, counts = (("a", "b", "c"), (50, 30, 20)) if task is Task.MULTICLASS else (
        ("a", "b"), (5, 9))
    return StudyInfo(task=task, labels=labels, average="micro", fingerprint="f" * 16,
                     source="builtin:x", train_counts=counts, n_features=3, n_train=100,
                     n_validation=20, n_test=20, seed=0, model=MODEL, version="0")


def record_of(candidate: Candidate, info: StudyInfo) -> TrialRecord:
    n = len(info.labels)
    figures = Evaluation(0.5, 0.5, (0.5,) * n, (0.5,) * n)
    counts = np.asarray(info.train_counts)
    return TrialRecord(
        number=3, candidate=candidate,
        weights=tuple(candidate.weights(counts, info.n_train, info.task)),
        validation=figures, test=figures, validation_curve=None, test_curve=None,
        diverged=False, train_seconds=1.0, packed_members=1, epochs=18,
    )


def candidates_of(task: Task) -> dict[str, Candidate]:
    if task is Task.MULTICLASS:
        plain = Candidate(exponent=1.0, normalisation="none", threshold=None,
                          class_weighting="true_class", tau=0.5)
    else:
        plain = Candidate(exponent=1.0, normalisation="none", threshold=0.4,
                          threshold_rule="global")
    values = {"weights": {}, "deferred": {"switch_fraction": 0.75}, "focal": {"gamma": 2.0},
              "logit_adjusted": {"tau_train": 1.0},
              "asymmetric": {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05},
              "ldam_drw": {"max_margin": 0.5, "logit_scale": 2.0, "switch_fraction": 0.8}}
    return {name: dataclasses.replace(plain, remedy=name, remedy_values=values[name])
            for name in REMEDIES if task in REMEDIES[name].tasks}


def trained_loss(candidate: Candidate, info: StudyInfo):
    """The Keras loss the trial trained with: its member of a batch, as the trainers build it."""
    parameters = batch_loss_parameters([candidate], np.asarray(info.train_counts), info.n_train,
                                       info.task, epochs=MODEL["epochs"])
    return loss_for(info.task).keras_loss({key: value[0] for key, value in parameters.items()
                                           if key not in SCHEDULE_PARAMETERS})


CASES = [(task, name) for task in (Task.MULTILABEL, Task.MULTICLASS)
         for name in REMEDIES if task in REMEDIES[name].tasks]


@pytest.mark.parametrize(("task", "remedy"), CASES, ids=lambda value: str(value))
def test_an_export_names_its_remedy_and_gives_back_the_loss_it_trained_with(
    tmp_path, task, remedy
):
    info = info_of(task)
    candidate = candidates_of(task)[remedy]
    document = export_document(record_of(candidate, info), info, study_name="s",
                               storage_url="sqlite:///x.db")
    exported = load_export(write_export(document, tmp_path / "e.json"))
    assert exported.remedy == document["remedy"] and document["remedy"]["name"] == remedy
    expected = {
        "weights": (WeightedBinaryCrossentropy, WeightedSparseCategoricalCrossentropy),
        "deferred": (WeightedBinaryCrossentropy, WeightedSparseCategoricalCrossentropy),
        "focal": (FocalBinaryCrossentropy, FocalSparseCategoricalCrossentropy),
        "logit_adjusted": (LogitAdjustedBinaryCrossentropy,
                           LogitAdjustedSparseCategoricalCrossentropy),
        "asymmetric": (RemedyLoss, None),
        "ldam_drw": (None, RemedyLoss),
    }[remedy][task is Task.MULTICLASS]
    assert type(exported.loss()) is expected
    # the export's loss is the trial's own: the same class and configuration, the same values
    trained = trained_loss(candidate, info)
    assert type(trained) is expected
    config = exported.loss().get_config()
    for key, value in trained.get_config().items():
        if isinstance(value, (list, float)):
            np.testing.assert_allclose(config[key], value, rtol=1e-12)
    rng = np.random.default_rng(0)
    n = len(info.labels)
    logits = (rng.normal(size=(30, n)) * 2).astype(np.float32)
    y = rng.integers(0, n, 30) if task is Task.MULTICLASS else (
        rng.random((30, n)) < 0.3).astype(np.float32)
    value = lambda loss: float(keras.ops.convert_to_numpy(loss(y, logits)))  # noqa: E731
    assert value(exported.loss()) == pytest.approx(value(trained), rel=1e-5)
    if remedy == "deferred":
        assert document["remedy"] == {"name": "deferred", "switch_fraction": 0.75,
                                      "switch_epoch": 15}
        assert exported.weight_schedule() == 15
    elif remedy == "ldam_drw":
        assert exported.weight_schedule() == 16
        np.testing.assert_allclose(document["remedy"]["margin"],
                                   0.5 * (np.array([50, 30, 20]) / 20) ** -0.25)
    else:
        assert exported.weight_schedule() == 0
    if remedy == "focal":
        assert exported.loss().gamma == 2.0
    if remedy == "logit_adjusted":
        assert exported.loss().tau == 1.0
        np.testing.assert_allclose(exported.loss().log_prior, trained.log_prior, rtol=1e-12)


@pytest.mark.parametrize("task", [Task.MULTILABEL, Task.MULTICLASS], ids=str)
def test_the_unweighted_first_phase_of_a_deferred_export(task):
    info = info_of(task)
    document = export_document(record_of(candidates_of(task)["deferred"], info), info,
                               study_name="s", storage_url="sqlite:///x.db")
    exported = ExportedWeights.from_document(document)
    first = exported.loss(weighted=False)
    plain = dataclasses.replace(candidates_of(task)["weights"], exponent=0.0)
    unweighted = trained_loss(plain, info)
    rng = np.random.default_rng(1)
    n = len(info.labels)
    logits = rng.normal(size=(16, n)).astype(np.float32)
    y = rng.integers(0, n, 16) if task is Task.MULTICLASS else (
        rng.random((16, n)) < 0.3).astype(np.float32)
    assert float(keras.ops.convert_to_numpy(first(y, logits))) == pytest.approx(
        float(keras.ops.convert_to_numpy(unweighted(y, logits))), rel=1e-6)


def test_a_document_written_before_remedies_still_loads_as_weights():
    info = info_of(Task.MULTILABEL)
    document = export_document(record_of(candidates_of(Task.MULTILABEL)["weights"], info),
                               info, study_name="s", storage_url="sqlite:///x.db")
    old = {key: value for key, value in document.items() if key != "remedy"}
    exported = ExportedWeights.from_document(old)
    assert exported.remedy == {"name": "weights"} and exported.weight_schedule() == 0
    assert type(exported.loss()) is WeightedBinaryCrossentropy


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["remedy"].update(name="smote"), "remedy/name"),
        (lambda d: d["remedy"].pop("gamma"), "remedy"),
        (lambda d: d["remedy"].update(gamma=-1.0), "remedy/gamma"),
        (lambda d: d["remedy"].update(extra=1), "remedy"),
    ],
)
def test_invalid_remedies_are_refused_on_read(change, where):
    info = info_of(Task.MULTILABEL)
    document = export_document(record_of(candidates_of(Task.MULTILABEL)["focal"], info), info,
                               study_name="s", storage_url="sqlite:///x.db")
    broken = copy.deepcopy(document)
    change(broken)
    with pytest.raises(ExportError) as caught:
        ExportedWeights.from_document(broken)
    assert caught.value.key == where


def test_raw_features_come_back_as_the_study_held_them(tmp_path):
    """An export of raw features (``standardize`` null) leaves integer ids and pixels as they
    are (a float32 would change ids above 2**24) and gives floats as float32."""
    info = info_of(Task.MULTICLASS)
    document = export_document(record_of(candidates_of(Task.MULTICLASS)["weights"], info), info,
                               study_name="s", storage_url="sqlite:///x.db")
    assert document["standardize"] is None
    exported = load_export(write_export(document, tmp_path / "e.json"))
    ids = np.array([[16_777_217, 123_456_789]], dtype=np.int64)
    np.testing.assert_array_equal(exported.standardize(ids), ids)
    assert exported.standardize(ids).dtype == np.int64
    pixels = np.array([[0, 255]], dtype=np.uint8)
    assert exported.standardize(pixels).dtype == np.uint8
    assert exported.standardize(np.array([[0.5, 1.5]])).dtype == np.float32
