"""Calibration on the report: each trial's and baseline's Brier score and ECE, computed where its
record is built, stored with it, and shown for every front point and baseline in the table, the
JSON, the HTML page and the dashboard's note. The data object is tested, not the figures."""

from __future__ import annotations

import dataclasses
import json
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import sweeper
import sweeper.report
import sweeper.study._scoring
from sweeper.config import DataConfig, Split, Task
from sweeper.data import dataset_from_arrays, make_splits
from sweeper.evaluation import Calibration, calibration, probabilities
from sweeper.report import (
    FrontReport,
    dashboard_note,
    facts,
    format_table,
    front_rows,
    report_html,
)
from sweeper.report._table import HEADER, _shown
from sweeper.search import Candidate
from sweeper.study import (
    StudyInfo,
    TrialRecord,
    baseline_candidates,
    recommend,
    record_member,
    validation_front,
)
from tests.support import make_multiclass_arrays, make_multilabel_arrays


def small_study(task: Task):
    """Real small splits, and the study facts a report needs."""
    X, y = make_multilabel_arrays(600) if task is Task.MULTILABEL else make_multiclass_arrays()
    splits = make_splits(dataset_from_arrays(X, y), DataConfig(folds=1, standardize=False))
    info = StudyInfo(
        task=task, labels=splits.train.labels, average="micro", fingerprint="f", source="arrays",
        train_counts=tuple(int(c) for c in splits.train.label_counts()),
        n_features=X.shape[1], n_train=splits.train.X.shape[0],
        n_validation=splits.validation.X.shape[0], n_test=splits.test.X.shape[0], seed=0,
        model={}, version=sweeper.__version__,
    )
    return info, splits


def model_scores(splits, task: Task, members: int, seed: int = 0):
    """Each member's probabilities on both splits: a noisy linear read of the features, so the
    members rank well and are calibrated differently."""
    rng = np.random.default_rng(seed)

    outputs = len(splits.train.labels)

    def of(X):
        stack = []
        for member in range(members):  # the first features carry the labels (conftest)
            logits = (1.0 + member) * (2.0 * X[:, :outputs] - task.sigmoid)
            stack.append(probabilities(logits + 0.3 * rng.standard_normal(logits.shape), task))
        return np.stack(stack)

    validation, test = of(splits.validation.X), of(splits.test.X)
    return SimpleNamespace(
        validation=validation, test=test, seconds=1.0, epochs=None,
        diverged=~(np.isfinite(validation).all(axis=(1, 2)) & np.isfinite(test).all(axis=(1, 2))),
    )


def records_of(info, splits, scores, candidates, baselines=False):
    """Each candidate's record from its member's scores, as the runner (or, with
    ``baselines``, compute_baselines) builds it."""
    counts = np.asarray(info.train_counts)
    return [
        dataclasses.replace(record_member(
            info=info, splits=splits, scores=scores, member=member,
            number=-1 if baselines else member, candidate=candidate,
            weights=candidate.weights(counts, info.n_train, info.task),
        ), baseline=name if baselines else None)
        for member, (name, candidate) in enumerate(candidates.items())
    ]


def report_of(info, records, baselines) -> FrontReport:
    return FrontReport(
        study_name="calibration", info=info, records=tuple(records),
        front=tuple(validation_front([*records, *baselines])),
        recommendation=recommend(records, baselines), importances={}, trial_states={},
        training_seconds=0.0, baselines={b.baseline: b for b in baselines},
    )


def trial_candidates(task: Task) -> dict[str, Candidate]:
    if task is Task.MULTILABEL:
        return {str(i): Candidate(exponent=e, normalisation="none", threshold=t)
                for i, (e, t) in enumerate([(0.5, 0.3), (1.0, 0.5), (0.2, 0.2)])}
    return {str(i): Candidate(exponent=e, normalisation="none", threshold=None,
                              class_weighting="true_class", tau=tau)
            for i, (e, tau) in enumerate([(0.5, 0.0), (1.0, 1.0), (0.2, 0.5)])}


@pytest.fixture(params=[Task.MULTILABEL, Task.MULTICLASS], ids=str)
def study(request):
    task = request.param
    info, splits = small_study(task)
    records = records_of(info, splits, model_scores(splits, task, 3), trial_candidates(task))
    named = baseline_candidates(task)
    baselines = records_of(info, splits, model_scores(splits, task, len(named), seed=1), named,
                           baselines=True)
    return SimpleNamespace(info=info, splits=splits, records=records, baselines=baselines,
                           task=task)


def test_a_record_holds_its_model_s_calibration_on_both_splits(study):
    scores = model_scores(study.splits, study.task, 3)  # the same draws as the fixture's
    for member, record in enumerate(study.records):
        for split in Split:
            truth = study.splits.held_out(split).y
            split_scores = (scores.validation if split is Split.VALIDATION else scores.test)
            assert record.calibration_on(split) == calibration(
                truth, split_scores[member], study.task
            )
            assert record.calibration_on(split).brier is not None


def test_multiclass_calibration_is_the_unadjusted_softmax_s_whatever_tau():
    info, splits = small_study(Task.MULTICLASS)
    scores = model_scores(splits, Task.MULTICLASS, 1)
    figures = {
        tau: records_of(info, splits, scores, {"t": Candidate(
            exponent=0.5, normalisation="none", threshold=None, class_weighting="true_class",
            tau=tau)})[0]
        for tau in (0.0, 2.0)
    }
    assert figures[0.0].test != figures[2.0].test  # another decision ...
    assert figures[0.0].calibration == figures[2.0].calibration  # ... the same probabilities


def test_the_record_round_trips_and_an_old_record_reads_without_calibration(study):
    record = study.records[0]
    stored = json.loads(json.dumps(record.to_dict()))
    assert stored["calibration"]["test"] == record.calibration_on(Split.TEST).to_dict()
    again = TrialRecord.from_attrs(record.number, stored)
    assert again.calibration == record.calibration
    del stored["calibration"]  # a record written before calibration was stored
    old = TrialRecord.from_attrs(record.number, stored)
    assert old.calibration is None and old.calibration_on(Split.TEST) is None
    assert dataclasses.replace(old, calibration=None) == dataclasses.replace(
        again, calibration=None
    )


def test_every_front_point_and_baseline_carries_its_trial_s_calibration(study):
    report = report_of(study.info, study.records, study.baselines)
    document = json.loads(json.dumps(report.to_dict()))
    assert document["front"]
    for point, row in zip(report.front, document["front"], strict=True):
        for split in Split:
            # a curve point (another threshold or tau) shares its trial's calibration
            assert row["calibration"][split.value] == point.record.calibration_on(split).to_dict()
    for baseline in study.baselines:
        stored = document["baselines"][baseline.baseline]["calibration"]
        assert stored == {s.value: baseline.calibration_on(s).to_dict() for s in Split}
    recommended = report.chosen.record
    assert document["recommended"]["calibration"]["test"] == (
        recommended.calibration_on(Split.TEST).to_dict()
    )
    points = report.front_points()
    assert [p.test_brier for p in points] == [p.record.calibration_on(Split.TEST).brier
                                              for p in report.front]


def test_the_table_shows_test_brier_and_ece_for_every_shown_point(study):
    report = report_of(study.info, study.records, study.baselines)
    assert HEADER[5:7] == ("test Brier", "test ECE")
    for point, row in zip(_shown(report.front), front_rows(report), strict=True):
        figures = point.record.calibration_on(Split.TEST)
        assert row[5:7] == [f"{figures.brier:.4f}", f"{figures.ece:.4f}"]
    table = format_table(report, width=120)
    assert "test Brier" in table.splitlines()[1] and "test ECE" in table.splitlines()[1]
    assert "baselines' test calibration (Brier, ECE): unweighted " in table
    note = dashboard_note(report)
    assert "test Brier" in note and "calibration of the recommended point" in note
    page = report_html(report)
    assert '<table id="front">' in page and "<th>test ECE</th>" in page
    named = dict(facts(report))
    brier = study.baselines[0].calibration_on(Split.TEST).brier
    assert f"test Brier {brier:.4f}" in named["baseline: unweighted"]


def test_an_old_study_s_records_report_unknown_calibration(study):
    old = [dataclasses.replace(r, calibration=None) for r in study.records]
    old_baselines = [dataclasses.replace(b, calibration=None) for b in study.baselines]
    report = report_of(study.info, old, old_baselines)
    document = json.loads(json.dumps(report.to_dict()))
    unknown = {"validation": {"brier": None, "ece": None}, "test": {"brier": None, "ece": None}}
    assert all(row["calibration"] == unknown for row in document["front"])
    assert all(b["calibration"] == unknown for b in document["baselines"].values())
    assert all(row[5:7] == ["-", "-"] for row in front_rows(report))
    assert dict(facts(report))["calibration of the recommended point"] == "not stored"
    format_table(report), report_html(report), dashboard_note(report)  # nothing raises


def test_a_stored_study_of_records_without_calibration_reports_null(study):
    """Records as an earlier sweeper stored them (no ``calibration`` key), read back from an
    Optuna study by build_report, as ``sweeper report`` does."""
    import optuna

    from sweeper.report import build_report
    from sweeper.study import BASELINES_ATTR, RECORD_ATTR

    def without_calibration(record):
        stored = record.to_dict()
        del stored["calibration"]
        return stored

    stored = optuna.create_study(directions=["maximize", "maximize"], study_name="old")
    for record in study.records:
        stored.add_trial(optuna.trial.create_trial(
            values=[record.validation.recall, record.validation.precision],
            user_attrs={RECORD_ATTR: without_calibration(record)},
        ))
    stored.set_user_attr(BASELINES_ATTR, {b.baseline: without_calibration(b)
                                          for b in study.baselines})
    report = build_report(stored, study.info)
    assert all(r.calibration is None for r in (*report.records, *report.baselines.values()))
    document = json.loads(json.dumps(report.to_dict()))
    unknown = {"validation": {"brier": None, "ece": None}, "test": {"brier": None, "ece": None}}
    assert document["front"] and all(row["calibration"] == unknown for row in document["front"])
    assert all(b["calibration"] == unknown for b in document["baselines"].values())
    assert document["recommended"]["calibration"] == unknown
    assert "test Brier" in format_table(report, width=200)


def test_a_diverged_trial_has_no_calibration_and_nothing_raises():
    info, splits = small_study(Task.MULTILABEL)
    scores = model_scores(splits, Task.MULTILABEL, 2)
    scores.validation[1, :] = np.nan
    scores.test[1, :] = np.nan
    scores.diverged = np.array([False, True])
    records = records_of(info, splits, scores, dict(list(trial_candidates(Task.MULTILABEL)
                                                          .items())[:2]))
    assert records[1].diverged
    assert records[1].calibration == {s: Calibration(None, None) for s in Split}
    stored = json.loads(json.dumps(records[1].to_dict()))  # valid JSON: null, not NaN
    assert stored["calibration"]["test"] == {"brier": None, "ece": None}
    report = report_of(info, records, [])
    assert all(p.record.number == 0 for p in report.front)  # diverged: off the front
    format_table(report), report_html(report)


# A real tiny sweep: the report JSON's calibration of every front point and baseline equals a
# recomputation from the scores its records were built from (captured where they are built).


@pytest.fixture
def captured(monkeypatch):
    """Every record_member call's truth, scores and record, keyed by (number, candidate)."""
    original = sweeper.study._scoring.record_member
    seen: dict[tuple[int, str], dict] = {}

    def spy(**arguments):
        record = original(**arguments)
        member, splits = arguments["member"], arguments["splits"]
        key = (arguments["number"], json.dumps(arguments["candidate"].to_dict(), sort_keys=True))
        seen[key] = {split: (splits.held_out(split).y,
                             (arguments["scores"].validation if split is Split.VALIDATION
                              else arguments["scores"].test)[member].copy())
                     for split in Split}
        return record

    for name, module in list(sys.modules.items()):
        if name.startswith("sweeper.") and getattr(module, "record_member", None) is original:
            monkeypatch.setattr(module, "record_member", spy)
    return seen


@pytest.mark.slow
@pytest.mark.backend
@pytest.mark.parametrize("task", [Task.MULTILABEL, Task.MULTICLASS], ids=str)
def test_a_real_sweep_reports_calibration_recomputed_from_its_scores(task, captured, tmp_path):
    X, y = make_multilabel_arrays() if task is Task.MULTILABEL else make_multiclass_arrays()
    result = sweeper.sweep(
        X, y, model={"hidden": [8], "epochs": 3, "batch_size": 64, "learning_rate": 0.01,
                     "pack": 2},
        trials=4, storage=f"sqlite:///{tmp_path / 'c.db'}", study_name="calibration",
        progress=False, artifacts=str(tmp_path / "artifacts"),
    )
    report = result.report()
    sweeper.report.write_json(report, tmp_path / "r.json")
    document = json.loads((tmp_path / "r.json").read_text())
    candidates = baseline_candidates(task)

    def recomputed(trial, baseline):
        candidate = (candidates[baseline] if baseline is not None
                     else report.records[[r.number for r in report.records].index(trial)]
                     .candidate)
        scores = captured[(-1 if baseline else trial,
                           json.dumps(candidate.to_dict(), sort_keys=True))]
        return {split.value: calibration(*scores[split], task).to_dict() for split in Split}

    assert document["front"]
    for row in document["front"]:
        expected = recomputed(row["trial"], row["baseline"])
        for split in ("validation", "test"):
            for figure in ("brier", "ece"):
                assert row["calibration"][split][figure] == pytest.approx(
                    expected[split][figure], rel=1e-12, abs=1e-15
                )
    assert set(document["baselines"]) == set(candidates)
    for name, baseline in document["baselines"].items():
        expected = recomputed(None, name)
        for split in ("validation", "test"):
            assert baseline["calibration"][split]["brier"] == pytest.approx(
                expected[split]["brier"], rel=1e-12
            )
            assert baseline["calibration"][split]["ece"] == pytest.approx(
                expected[split]["ece"], rel=1e-12, abs=1e-15
            )
    header = format_table(report, width=200).splitlines()[1]
    assert "test Brier" in header and "test ECE" in header
