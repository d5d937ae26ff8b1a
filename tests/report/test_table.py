"""The terminal table of a report built from records (no training): its title counts the searched
trials and the baselines on the front apart, and its columns are narrowed only to fit a
terminal."""

from __future__ import annotations

import io
import sys

import pytest

from sweeper.config import Task
from sweeper.report import FrontReport, format_table
from sweeper.report._table import HEADER, KEPT_COLUMNS, _shown, _terminal_width
from sweeper.search import Candidate
from sweeper.study import baseline_candidates, recommend, validation_front
from tests.report.test_calibration import model_scores, records_of, small_study

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



class _Terminal(io.StringIO):
    """A stdout that says it is a terminal (the width then comes from the terminal, or 100)."""

    def isatty(self) -> bool:
        return True


def test_off_a_terminal_the_table_keeps_every_column(records, monkeypatch):
    """Redirected to a file or a CI log (pytest's capture: stdout is no terminal), the family
    column, which names each trial's remedy, is kept; an explicit narrow width still drops it."""
    info, trials, baselines = records
    report = report_with_front(info, trials, baselines, [*trials, *baselines])
    monkeypatch.delenv("COLUMNS", raising=False)
    assert not sys.stdout.isatty()
    assert _terminal_width() is None
    header = format_table(report).splitlines()[1].split()
    assert header == [word for name in HEADER for word in name.split()]
    narrow = format_table(report, width=60).splitlines()[1].split()
    assert narrow == [word for name in HEADER[:KEPT_COLUMNS] for word in name.split()]


@pytest.mark.parametrize(
    ("stdout", "columns", "width"),
    [
        (None, None, None),  # a file or a pipe: no limit
        (None, "57", 57),  # COLUMNS set: fitted, on a terminal or not
        (_Terminal, "57", 57),
        (_Terminal, None, int),  # a terminal: its width (or 100 where it cannot be read)
    ],
)
def test_the_table_width_is_the_terminal_s_or_columns(monkeypatch, stdout, columns, width):
    if stdout is not None:
        monkeypatch.setattr(sys, "stdout", stdout())
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    found = _terminal_width()
    if width is int:
        assert isinstance(found, int) and found > 0
    else:
        assert found == width


def test_printing_a_report_prints_its_table(records, monkeypatch):
    """``print(result.report())`` in a script shows the table, not the dataclass's repr."""
    monkeypatch.delenv("COLUMNS", raising=False)
    info, trials, baselines = records
    report = report_with_front(info, trials, baselines, [*trials, *baselines])
    assert str(report) == format_table(report)
    assert str(report).splitlines()[0].startswith(report.study_name)
