from __future__ import annotations

import json

import numpy as np
import pytest

from sweeper.errors import ExportError
from sweeper.evaluation import Evaluation
from sweeper.export import export_document, load_export, write_export
from sweeper.search import Candidate
from sweeper.study import (
    GAIN_MARGIN,
    StudyInfo,
    TrialRecord,
    noise_margin,
    recommend,
    select_point,
)

INFO = StudyInfo(
    task="multilabel",
    labels=("a", "b"),
    average="micro",
    fingerprint="f" * 16,
    source="builtin:x",
    train_counts=(5, 9),
    n_features=3,
    n_train=100,
    n_validation=20,
    n_test=20,
    seed=0,
    model={"hidden": [4], "epochs": 1, "batch_size": 8, "learning_rate": 0.01, "factory": None},
    version="0",
)


def record(
    number: int, recall: float, precision: float, baseline: str | None = None
) -> TrialRecord:
    figures = Evaluation(recall, precision, (recall, recall), (precision, precision))
    exponent = 0.0 if baseline == "unweighted" else 1.0
    return TrialRecord(
        number=-1 if baseline else number,
        baseline=baseline,
        candidate=Candidate(exponent=exponent, normalisation="none", threshold=0.5),
        weights=(1.0, 1.0) if baseline == "unweighted" else (19.0, 10.1),
        validation=figures,
        test=figures,
        validation_curve=None,
        test_curve=None,
        diverged=False,
        train_seconds=1.0,
        packed_members=1,
    )


RECORDS = [record(0, 0.9, 0.2), record(1, 0.5, 0.5), record(2, 0.5, 0.6), record(3, 0.1, 0.95)]


@pytest.mark.parametrize(
    ("rule", "number"),
    [
        ({"trial": 1}, 1),
        ({"min_precision": 0.5}, 2),  # recall 0.5 twice: the tie goes to higher precision
        ({"min_precision": 0.1}, 0),
        ({"min_recall": 0.5}, 2),
        ({"min_recall": 0.0}, 3),
        ({"best_fbeta": 1.0}, 2),  # F1: 0.33, 0.5, 0.545, 0.18
        ({"best_fbeta": 4.0}, 0),  # recall-heavy: 0.9 recall wins
        ({"best_fbeta": 0.2}, 3),  # precision-heavy: 0.95 precision wins
    ],
)
def test_rules_select_the_right_trial(rule, number):
    assert select_point(RECORDS, **rule).record.number == number


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"min_precision": 0.96},
            r"no trial reaches validation precision >= 0.96 \(the best is 0.9500\)",
        ),
        (
            {"min_recall": 0.91},
            r"no trial reaches validation recall >= 0.91 \(the best is 0.9000\)",
        ),
        ({"trial": 7}, "trial 7 is not a finished trial"),
        ({"baseline": "unweighted"}, r"no baseline named 'unweighted' \(the study has: none"),
        ({"best_fbeta": 0.0}, r"best_fbeta: expected a finite number > 0, got 0.0"),
        ({"trial": 1, "min_recall": 0.2}, "choose one export rule, not trial and min_recall"),
        ({"min_precision": 1.5}, r"min_precision: expected a number in \[0, 1\]"),
    ],
)
def test_rules_that_no_trial_satisfies(rule, message):
    with pytest.raises(ExportError, match=message):
        select_point(RECORDS, **rule)


def test_without_a_rule_the_recommended_point_is_exported():
    # No baselines: the best validation F1 (trial 2, F1 0.545).
    assert select_point(RECORDS).record.number == 2
    # A baseline within the margin of the best trial's F1 is recommended instead: simpler.
    close = record(0, 0.5, 0.6 * (1 + GAIN_MARGIN / 2), baseline="unweighted")
    chosen = select_point(RECORDS, baselines=[close])
    assert chosen.baseline == "unweighted"
    recommendation = recommend(RECORDS, [close])
    assert not recommendation.weighting_pays and recommendation.gain < GAIN_MARGIN
    # A trial better by more than the margin is recommended.
    far = record(0, 0.5, 0.5, baseline="unweighted")
    assert recommend(RECORDS, [far]).point.record.number == 2
    assert recommend(RECORDS, [far]).weighting_pays


@pytest.mark.parametrize(("positives", "trial_wins"), [(10, False), (100_000, True), (None, True)])
def test_a_gain_within_the_validation_noise_recommends_the_baseline(positives, trial_wins):
    """Trial 2's validation F1 0.545 is 9% above the baseline's 0.5: a real gain on 100,000
    validation positives, noise on 10 (twice the standard error is then about 58%)."""
    baseline = record(0, 0.5, 0.5, baseline="unweighted")
    recommendation = recommend(RECORDS, [baseline], positives=positives)
    assert recommendation.weighting_pays == trial_wins
    assert recommendation.required_gain == max(GAIN_MARGIN, noise_margin(0.5, positives))
    assert noise_margin(0.5, 10) == pytest.approx(2 * (0.5 / 5) ** 0.5)


def test_a_baseline_exports_with_all_weights_one_and_its_threshold(tmp_path):
    unweighted = record(0, 0.4, 0.7, baseline="unweighted")
    point = select_point(RECORDS, baselines=[unweighted], baseline="unweighted")
    document = export_document(point, INFO, study_name="s", storage_url="sqlite:///x.db")
    assert document["trial"] is None and document["baseline"] == "unweighted"
    exported = load_export(write_export(document, tmp_path / "b.json"))
    assert exported.baseline == "unweighted" and exported.trial is None
    assert exported.threshold == 0.5 and "neg_weight" not in document
    assert document["pos_weight"] == [1.0, 1.0]
    assert exported.summary().startswith("baseline unweighted at threshold 0.500")


def test_document_round_trip(tmp_path):
    document = export_document(RECORDS[1], INFO, study_name="s", storage_url="sqlite:///x.db")
    path = write_export(document, tmp_path / "w.json")
    exported = load_export(path)
    assert exported.weights == (19.0, 10.1)
    assert exported.threshold == 0.5
    assert exported.loss().pos_weight == [19.0, 10.1]
    np.testing.assert_array_equal(exported.decide(np.array([[0.1, -0.1]])), [[1, 0]])
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed, not left


def test_storage_password_never_reaches_the_export():
    document = export_document(
        RECORDS[0], INFO, study_name="s", storage_url="postgresql+psycopg://u:hunter2@db/x"
    )
    assert "hunter2" not in json.dumps(document)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("labels"), "'labels' is a required property"),
        (lambda d: d.update(task="regression"), "at task"),
        (lambda d: d.update(pos_weight=[-1.0, 2.0]), "at pos_weight/0"),
        (lambda d: d.update(threshold=1.5), "at threshold"),
        (lambda d: d.update(extra=1), "Additional properties"),
    ],
)
def test_invalid_documents_are_rejected_on_read(tmp_path, change, message):
    document = export_document(RECORDS[0], INFO, study_name="s", storage_url="sqlite:///x.db")
    change(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ExportError, match=message):
        load_export(path)


def test_unreadable_exports(tmp_path):
    with pytest.raises(ExportError, match="export file not found"):
        load_export(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ExportError, match="cannot read export"):
        load_export(tmp_path / "broken.json")


def test_one_table_of_export_rules_drives_the_api_the_command_line_and_the_study_file():
    """Every rule of EXPORT_RULES is a keyword of SweepResult.export and select_point, a flag
    of `sweeper export` with the table's help, and a form of `[study] export`; nothing else."""
    import inspect

    from sweeper.api import SweepResult
    from sweeper.cli import build_parser
    from sweeper.config import EXPORT_RULES, StudyConfig, check_export_rule

    names = [rule.name for rule in EXPORT_RULES]
    for function in (SweepResult.export, select_point):
        keywords = [p.name for p in inspect.signature(function).parameters.values()
                    if p.kind is p.KEYWORD_ONLY]
        assert [k for k in keywords if k in names] == names
    parser = build_parser()
    export = next(a for a in parser._subparsers._group_actions[0].choices.values()
                  if a.prog.endswith(" export"))
    flags = {a.dest: a for a in export._actions if a.option_strings}
    for rule in EXPORT_RULES:
        assert flags[rule.name].option_strings == [rule.flag]
        assert flags[rule.name].help == rule.help
        value = {"trial": "0", "baseline": "unweighted"}.get(rule.name, "0.5")
        expected = check_export_rule(**{rule.name: rule.constraint.parse(value)})
        assert StudyConfig(export=f"{rule.name}={value}").export_rule == expected
    with pytest.raises(ExportError, match="bogus: unknown export rule"):
        check_export_rule(bogus=1)
