"""The HTML page: it leads with its answer (issue 31), and its facts stay readable at thousands
of labels (issue 30)."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

import sweeper
from sweeper.report import FrontReport, build_report, named_figures, report_html
from sweeper.report._page import (
    COUNTS_LISTED,
    EXPORT_CALL,
    EXPORT_COMMAND,
    FOLDED_FIGURES,
    decision_words,
    facts,
    figure_captions,
    training_counts,
)
from sweeper.report._table import weight_summary
from tests.support import make_multiclass_arrays, make_multilabel_arrays
from tests.support.fake_trainer import run_fake_study


def test_a_few_labels_are_listed_each_with_its_count():
    assert training_counts(("a", "b"), (3, 40)) == "a: 3, b: 40"


def test_many_labels_are_summarised_by_their_extremes_and_median():
    """3,000 labels would be a cell of 3,000 counts: the summary names the rarest and the most
    frequent label and the median, and points to the JSON for the rest."""
    labels = tuple(f"label_{j}" for j in range(3000))
    counts = tuple(50 + (j * 7) % 101 for j in range(3000))
    counts = (*counts[:17], 4, *counts[18:])
    text = training_counts(labels, counts)
    assert text.startswith("3,000 labels: fewest 4 (label_17), median ")
    assert f"most 150 (label_{counts.index(150)})" in text
    assert "train_counts" in text and len(text) < 200
    assert len(training_counts(labels[:COUNTS_LISTED], counts[:COUNTS_LISTED]).split(", ")) \
        == COUNTS_LISTED


# A real report: the trial loop on FakeTrainer's instant scores, baselines included, read back
# from its Optuna study by build_report (as `sweeper report` does).


def binary_arrays(rows: int = 1500):
    """Rare positives (``fraud``, about 6%) that two noisy features tell apart."""
    rng = np.random.default_rng(0)
    positive = rng.random(rows) < 0.06
    X = np.column_stack([1.5 * positive + rng.standard_normal(rows),
                         rng.standard_normal(rows)]).astype(np.float32)
    return X, np.where(positive, "fraud", "ok")


@pytest.fixture(scope="module", params=["multilabel", "multiclass", "binary"])
def study(request, tmp_path_factory):
    """``(report, storage URL)`` of a small finished study of the parameter's task."""
    X, y = {"multilabel": lambda: make_multilabel_arrays(600),
            "multiclass": make_multiclass_arrays, "binary": binary_arrays}[request.param]()
    url = f"sqlite:///{tmp_path_factory.mktemp('page') / 'page.db'}"
    prepared = sweeper.prepare(
        X, y, trials=4, model={"hidden": [4], "epochs": 2, "pack": 2}, storage=url,
        study_name="page",
    )
    run_fake_study(prepared)
    return build_report(prepared.study, prepared.info), url


@pytest.fixture(scope="module")
def report(study) -> FrontReport:
    return study[0]


def section(page: str, start: str, end: str = "</section>") -> str:
    """The page from ``start`` to the first ``end`` after it."""
    begin = page.index(start)
    return page[begin:page.index(end, begin)]


def text_of(fragment: str) -> str:
    """What a browser shows of an HTML fragment: its text, tags dropped, entities read."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_the_page_leads_with_its_answer_then_the_front_then_the_details(report):
    page = report_html(report)
    assert report.baselines  # the study's first batch trained them
    order = [page.index(marker) for marker in (
        '<section id="answer">', '<div id="pareto-plot"', '<table id="front">',
        '<div id="pr-curve-plot"', '<div id="per-label-plot"', '<div id="weights-plot"',
        '<table id="facts">',
    )]
    assert order == sorted(order)
    # Nothing but the title comes before the answer: no table, no figure.
    assert text_of(page[page.index("<body>"):order[0]]) == text_of(
        section(page, "<h1>", "</h1>"))


def test_the_answer_says_what_to_train_with_what_to_expect_and_how_to_export_it(report):
    answer = text_of(section(report_html(report), '<section id="answer">'))
    point = report.chosen
    record = point.record
    assert report.verdict.message.replace("`", "") in answer
    test_recall, test_precision = point.test
    assert f"recall {test_recall:.3f}, precision {test_precision:.3f}" in answer
    assert (f"expect recall {test_recall:.3f} and precision {test_precision:.3f} on test"
            in answer)
    assert f"at {decision_words(point)}:" in answer
    if report.info.classes is not None:  # binary: the figures are the positive class's
        assert "(the positive class 'fraud'; on validation" in answer
    for shown in (record.candidate.family_summary(), record.candidate.normalisation,
                  weight_summary(record.weights), point.decision_summary()):
        assert shown in answer
    who = f"trial {record.number}" if record.baseline is None else f"({record.baseline})"
    assert f"Train with {'' if record.baseline is None else 'the '}" in answer and who in answer
    assert "sweeper export STUDY.toml -o weights.json" in answer and EXPORT_CALL in answer
    assert "STUDY.toml is the study file" in answer  # a sweep of arrays has none
    assert "[study] export" in answer and "recommended" in answer
    # The answer is short: no per-label list in it, however many labels.
    assert len(answer) < 1500


def test_the_export_the_answer_names_exports_the_point_it_shows(study):
    """``result.export()`` without a rule (``[study] export`` at its default) exports the
    answer's point: the same model at the same decision, with the same test figures."""
    report, url = study
    exported = sweeper.load("page", storage=url).export()
    point = report.chosen
    assert (exported.trial, exported.baseline) == (
        None if point.record.baseline is not None else point.record.number,
        point.record.baseline,
    )
    assert exported.threshold == point.threshold
    assert (exported.test["recall"], exported.test["precision"]) == pytest.approx(point.test)


def test_the_export_line_names_the_study_file_and_a_rule_that_is_not_this_point(report):
    """Run from a study file, the command names it; a study whose ``[study] export`` rule is
    another one says that an export without a rule takes that rule, not this point."""
    answer = text_of(section(report_html(report, study_file="studies/mine.toml"),
                             '<section id="answer">'))
    assert EXPORT_COMMAND.format(study_file="studies/mine.toml") in answer
    assert "STUDY.toml" not in answer and "recommended" in answer
    ruled = text_of(section(report_html(report, study_file="studies/mine.toml",
                                        export_rule={"min_precision": 0.9}),
                            '<section id="answer">'))
    assert "rule is min_precision=0.9: without a rule an export takes it, not this point" in ruled


def test_the_verdict_leads_the_page_and_is_not_repeated_among_the_facts(report):
    page = report_html(report)
    verdict = html.escape(report.verdict.message.split("`")[0])
    assert page.count(verdict) == 1
    assert page.index(verdict) < page.index('<section id="pareto"')
    assert "verdict" in dict(facts(report))  # the dashboard's note still reads it there


def test_the_long_lists_are_folded_and_every_figure_is_labelled(report):
    page = report_html(report)
    facts_section = section(page, '<section id="study-facts">')
    assert "<details><summary>" in facts_section and '<table id="facts">' in facts_section
    captions = figure_captions(report)
    for name, figure in named_figures(report):
        shown = section(page, f'<section id="{name}">')
        heading, caption = captions[name]
        assert f"<h3>{html.escape(heading)}</h3>" in shown
        assert html.escape(caption) in shown and f'<div id="{name}-plot"' in shown
        assert ("<details>" in shown) == (name in FOLDED_FIGURES)
        for axis in ("xaxis", "yaxis"):
            assert figure.layout[axis].title.text, (name, axis)  # every figure's axes named
    assert FOLDED_FIGURES == ("per-label",)
    # Opening a folded figure redraws it at its width (a closed <details> has none).
    assert "Plotly.Plots.resize" in page and "'toggle'" in page
