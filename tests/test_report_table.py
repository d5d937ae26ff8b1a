"""The terminal table of a report built from records (no training): its title counts the searched
trials and the baselines on the front apart, and its columns are narrowed only to fit a
terminal."""

from __future__ import annotations

import pytest

from sweeper.config import Task
from sweeper.report import FrontReport, format_table
from sweeper.report._table import _shown
from sweeper.search import Candidate
from sweeper.study import baseline_candidates, recommend, validation_front
from tests.test_report_calibration import model_scores, records_of, small_study

TRIALS = {str(i): Candidate(exponent=e, normalisation="none", threshold=t)
          for i, (e, t) in enumerate([(0.5, 0.3), (1.0, 0.5), (0.2, 0.2), (0.8, 0.4)])}


@pytest.fixture(scope="module")
def records():
    """Four searched trials and the baselines of a small multi-label study, scored once."""
    info, splits = small_study(Task.MULTILABEL)
    trials = records_of(info, splits, model_scores(splits, Task.MULTILABEL, len(TRIALS)), TRIALS)
    named = baseline_candidates(Task.MULTILABEL)
    baselines = records_of(info, splits, model_scores(splits, Task.MULTILABEL, len(named),
                                                      seed=1), named, baselines=True)
    return info, trials, baselines


def report_with_front(info, trials, baselines, on_front) -> FrontReport:
    """A report of ``trials`` and ``baselines`` whose front is that of ``on_front`` alone."""
    return FrontReport(
        study_name="c_auto", info=info, records=tuple(trials),
        front=tuple(validation_front(on_front)),
        recommendation=recommend(trials, baselines), importances={}, trial_states={},
        training_seconds=0.0, baselines={b.baseline: b for b in baselines},
    )


@pytest.mark.parametrize("whose", ["baselines", "trials", "both"])
def test_the_title_counts_searched_trials_and_baselines_apart(records, whose):
    info, trials, baselines = records
    on_front = {"baselines": baselines, "trials": trials, "both": [*trials, *baselines]}[whose]
    report = report_with_front(info, trials, baselines, on_front)
    searched = len({p.record.number for p in report.front if p.record.baseline is None})
    named = len({p.record.baseline for p in report.front if p.record.baseline is not None})
    assert (searched, named) != (0, 0)
    assert (searched == 0) == (whose == "baselines") and (named == 0) == (whose == "trials")
    points, shown = len(report.front), len(_shown(report.front))
    shown_note = "" if shown == points else f", {shown} shown"
    title = format_table(report, width=200).splitlines()[0]
    counted = (f"c_auto: {points} point{'s' * (points != 1)} on the validation front"
               f"{shown_note}: "
               f"{searched} of 4 complete trials")
    baselines_note = f", {named} baseline{'s' * (named != 1)} (" if named else " ("
    assert title.startswith(counted + baselines_note), title

