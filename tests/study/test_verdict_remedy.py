"""The verdict names the remedy: which remedy the recommended point trains with (as data), and
in its sentence the best trial's remedy and weights, whether it beats the baselines or not.
Real records from real scores (no training), as tests/report/test_calibration.py builds them."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from sweeper.config import Task
from sweeper.evaluation import probabilities
from sweeper.search import Candidate
from sweeper.study import TrialRecord, baseline_candidates, recommend
from tests.report.test_calibration import model_scores, records_of, report_of, small_study

REMEDIED = {
    "focal": dict(remedy="focal", remedy_values={"gamma": 1.5}),
    "deferred": dict(remedy="deferred", remedy_values={"switch_fraction": 0.6}),
    "logit_adjusted": dict(remedy="logit_adjusted", remedy_values={"tau_train": 0.8}),
}


def noise_scores(splits, task: Task, members: int):
    """Probabilities that know nothing: every baseline's F1 is its base rate's."""
    rng = np.random.default_rng(7)

    def of(X):
        shape = (members, X.shape[0], len(splits.train.labels))
        return np.stack([probabilities(logits, task) for logits in rng.normal(size=shape)])

    validation, test = of(splits.validation.X), of(splits.test.X)
    return SimpleNamespace(validation=validation, test=test, seconds=1.0, epochs=None,
                           diverged=np.zeros(members, dtype=bool))


def report(task: Task, remedy: str, *, trial_learns: bool):
    info, splits = small_study(task)
    if task is Task.MULTILABEL:
        candidate = Candidate(exponent=0.5, normalisation="none", threshold=0.3,
                              **REMEDIED[remedy])
    else:
        candidate = Candidate(exponent=0.5, normalisation="none", threshold=None,
                              class_weighting="true_class", tau=0.0, **REMEDIED[remedy])
    trial_scores = (model_scores(splits, task, 1) if trial_learns
                    else noise_scores(splits, task, 1))
    records = records_of(info, splits, trial_scores, {"0": candidate})
    named = baseline_candidates(task)
    baseline_scores = (noise_scores(splits, task, len(named)) if trial_learns
                       else model_scores(splits, task, len(named), seed=1))
    baselines = records_of(info, splits, baseline_scores, named, baselines=True)
    return report_of(info, records, baselines)


@pytest.mark.parametrize("task", [Task.MULTILABEL, Task.MULTICLASS], ids=str)
@pytest.mark.parametrize("remedy", sorted(REMEDIED))
def test_a_winning_trial_s_remedy_is_named_in_the_verdict(task, remedy):
    verdict = report(task, remedy, trial_learns=True).verdict
    assert verdict.weighting_pays
    assert verdict.remedy == verdict.best_trial_remedy == remedy
    words = {"focal": "focal loss", "deferred": "deferred weights (DRW)",
             "logit_adjusted": "logit-adjusted loss"}[remedy]
    assert verdict.message.startswith(f"The searched {words} beats every baseline: ")
    summary = verdict.recommendation.point.record.candidate.family_summary()
    assert f"for trial 0 ({summary}) at" in verdict.message
    assert verdict.to_dict()["remedy"] == remedy


@pytest.mark.parametrize("remedy", sorted(REMEDIED))
def test_a_beaten_trial_s_remedy_is_named_and_the_baseline_s_remedy_is_the_verdict_s(remedy):
    verdict = report(Task.MULTILABEL, remedy, trial_learns=False).verdict
    assert not verdict.weighting_pays
    assert verdict.best_trial_remedy == remedy
    baseline = verdict.best_baseline
    assert verdict.remedy == baseline_candidates(Task.MULTILABEL)[baseline].remedy
    summary = verdict.recommendation.best_trial.record.candidate.family_summary()
    expected = ("Weighting buys nothing here: " if baseline == "unweighted"
                else "No searched trial beats the baselines here: ")
    assert f"({summary})" in verdict.message and verdict.message.startswith(expected)
    assert verdict.to_dict()["best_trial_remedy"] == remedy


def test_the_verdict_is_the_paired_comparison_and_shows_it():
    """Records scored now carry their resampled F1s: the verdict compares the best trial with
    the best baseline on the same rows, and the message, the JSON and the record say how."""
    verdict = report(Task.MULTILABEL, "focal", trial_learns=True).verdict
    comparison = verdict.recommendation.comparison
    assert comparison is not None and comparison.beats and comparison.trials == 1
    assert comparison.low > 0 and comparison.low < comparison.difference < comparison.high
    assert "paired on the validation rows" in verdict.message
    assert f"{comparison.difference:+.3f} F1" in verdict.message
    assert verdict.to_dict()["comparison"] == comparison.to_dict()
    record = verdict.recommendation.point.record
    again = TrialRecord.from_attrs(record.number, record.to_dict())
    assert again.resampled is not None and again.resampled.index == record.resampled.index
    np.testing.assert_allclose(again.resampled.values, record.resampled.values, atol=2e-5)


def test_records_stored_before_the_paired_comparison_are_judged_by_the_unpaired_rule():
    before = report(Task.MULTILABEL, "focal", trial_learns=False)
    records = [dataclasses.replace(r, resampled=None) for r in before.records]
    baselines = [dataclasses.replace(b, resampled=None) for b in before.baselines.values()]
    recommendation = recommend(records, baselines)
    assert recommendation.comparison is None
    assert recommend(before.records, list(before.baselines.values())).comparison is not None


def test_a_trial_that_decides_as_the_best_baseline_does_not_beat_it():
    """The same decisions on the same rows: a paired difference of exactly 0 at every
    resample, which no bound calls a gain."""
    info, splits = small_study(Task.MULTILABEL)
    named = baseline_candidates(Task.MULTILABEL)
    scores = model_scores(splits, Task.MULTILABEL, len(named), seed=1)
    baselines = records_of(info, splits, scores, named, baselines=True)
    best = max(baselines, key=lambda b: b.resampled.f1)
    twin = dataclasses.replace(best, baseline=None, number=0)
    recommendation = recommend([twin], baselines)
    assert recommendation.comparison.difference == 0.0
    assert not recommendation.comparison.beats and recommendation.point.baseline is not None
