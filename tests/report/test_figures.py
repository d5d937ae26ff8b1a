"""The report's figures as data: the traces each figure draws from a report of real records
(the loop run on FakeTrainer's instant scores)."""

from __future__ import annotations

import pytest

import sweeper
from sweeper.report import build_report, named_figures, pareto_figure
from tests.support import make_multilabel_arrays
from tests.support.fake_trainer import run_fake_study


def report_of(tmp_path, folds: int):
    X, y = make_multilabel_arrays(600)
    prepared = sweeper.prepare(
        X, y, trials=4, data={"folds": folds}, model={"hidden": [4], "epochs": 2, "pack": 2},
        storage=f"sqlite:///{tmp_path / 'f.db'}", study_name="figures",
    )
    run_fake_study(prepared)
    return build_report(prepared.study, prepared.info)


@pytest.mark.parametrize("folds", [1, 3])
def test_the_front_shows_fold_spreads_as_error_bars_under_cross_validation(tmp_path, folds):
    report = report_of(tmp_path, folds)
    front = [trace for trace in pareto_figure(report).data
             if trace.name and trace.name.startswith("front")]
    assert front
    validation = [trace for trace in front if "validation" in trace.name]
    assert len(validation) == 1
    bars = validation[0].error_x.array
    if folds == 1:
        assert bars is None
    else:
        spreads = [point.spread for point in report.front]
        assert list(bars) == [spread[0] for spread in spreads]
        assert list(validation[0].error_y.array) == [spread[1] for spread in spreads]


def test_every_named_figure_draws_something(tmp_path):
    report = report_of(tmp_path, 3)
    figures = named_figures(report)
    assert figures and all(len(figure.data) > 0 for _, figure in figures)


def test_the_per_label_heatmap_draws_the_rarest_labels_when_there_are_many(tmp_path,
                                                                           monkeypatch):
    """At thousands of labels the heatmap draws the LABELS_DRAWN rarest (by training count),
    rarest first, each column still its own label's figures, and says so in its titles."""
    import numpy as np

    import sweeper.report._figures as figures_module

    report = report_of(tmp_path, 1)
    every = figures_module.per_label_figure(report).data[0]
    assert list(every.x) == list(report.info.labels)
    monkeypatch.setattr(figures_module, "LABELS_DRAWN", 2)
    figure = figures_module.per_label_figure(report)
    rarest = [int(j) for j in np.argsort(report.info.train_counts, kind="stable")[:2]]
    recall = figure.data[0]
    assert list(recall.x) == [report.info.labels[j] for j in rarest]
    assert [list(row) for row in recall.z] == [[list(row)[j] for j in rarest]
                                               for row in every.z]
    count = len(report.info.labels)
    assert f"(the 2 rarest of {count:,})" in figure.layout.annotations[0].text
