"""The report written out: a self-contained HTML page (plotly's JavaScript inlined once, so it
opens offline) and the JSON facts.

The page answers first: what to train with, the verdict that says why, the test figures to
expect and the export command, on one screen. Then the front it was chosen from, then the
details (the other figures, the study's facts), the long ones folded in ``<details>``."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sweeper.config import Split, Task
from sweeper.errors import SweeperError
from sweeper.evaluation import CALIBRATION_BINS
from sweeper.files import write_text_atomic
from sweeper.report._figures import named_figures
from sweeper.report._report import BASELINE_NAMES, FrontReport, remedy_title
from sweeper.report._table import HEADER, TABLE_ROWS, front_rows, weight_summary
from sweeper.study import OperatingPoint, TrialRecord

__all__ = [
    "artifact_store",
    "calibration_summary",
    "facts",
    "report_html",
    "write_html",
    "write_json",
]


def write_json(report: FrontReport, path: str | Path) -> Path:
    try:
        return write_text_atomic(path, json.dumps(report.to_dict(), indent=2) + "\n")
    except OSError as error:
        raise SweeperError(f"{path}: cannot write: {error}.", key="json") from None


def calibration_summary(record: TrialRecord) -> str:
    """``validation Brier 0.0312, ECE 0.0043; test ...``: its model's calibration (every
    decision of it shares it); ``not stored`` for a record written before it was."""
    if record.calibration is None:
        return "not stored"

    def shown(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    return "; ".join(
        f"{split} Brier {shown(figures.brier)}, ECE {shown(figures.ece)}"
        for split in Split if (figures := record.calibration_on(split)) is not None
    )


COUNTS_LISTED = 12
"""Up to this many labels or classes, the facts list each one's training count; beyond, a
summary (the page stays readable at thousands of labels; the JSON report lists them all)."""


def training_counts(labels: tuple[str, ...], counts: tuple[int, ...]) -> str:
    """Each label's training count, or for more than :data:`COUNTS_LISTED` labels the
    smallest, median and largest with the labels that hold them."""
    if len(labels) <= COUNTS_LISTED:
        return ", ".join(f"{label}: {count}" for label, count in zip(labels, counts, strict=True))
    least, most = int(np.argmin(counts)), int(np.argmax(counts))  # the first of ties
    return (f"{len(labels):,} labels: fewest {counts[least]} ({labels[least]}), median "
            f"{float(np.median(counts)):g}, most {counts[most]} ({labels[most]}); each "
            "label's count in the JSON report (train_counts)")


def facts(report: FrontReport) -> list[tuple[str, str]]:
    """The study's facts as (name, value) rows: the HTML page's table and the dashboard's note."""
    info = report.info
    counts = training_counts(info.labels, info.train_counts)
    states = ", ".join(f"{state.lower()} {count}" for state, count in report.trial_states.items())
    task = f"{info.task}, {len(info.labels)} labels, {info.average} average"
    if info.classes is not None:  # binary
        task = (f"{info.describe_task()} (negative {info.negative_label!r}): the positive "
                "class's recall and precision")
        counts = f"{info.labels[0]}: {info.train_counts[0]} of {info.n_train} rows"
    return [
        ("task", task),
        ("data", f"{info.source} (fingerprint {info.fingerprint})"),
        ("rows", f"train {info.n_train}, validation {info.n_validation}, test {info.n_test}"
                 if info.folds == 1 else
                 f"{info.n_train} in {info.folds}-fold cross-validation (validation figures out "
                 f"of fold, ± their spread across folds), test {info.n_test}"),
        ("training counts", counts),
        ("trials", states),
        ("training time", f"{report.training_seconds:.1f} s"),
        ("hypervolume", f"validation {report.hypervolume(Split.VALIDATION):.4f}, "
                        f"test {report.hypervolume(Split.TEST):.4f}"),
        *(
            (f"baseline: {BASELINE_NAMES.get(name, name)}",
             f"hypervolume validation "
             f"{report.baseline_hypervolume(name, Split.VALIDATION):.4f}, "
             f"test {report.baseline_hypervolume(name, Split.TEST):.4f}; calibration "
             f"{calibration_summary(record)}")
            for name, record in report.baselines.items()
        ),
        ("calibration of the recommended point", calibration_summary(report.chosen.record)),
        ("calibration", f"Brier score and expected calibration error ({CALIBRATION_BINS} "
                        "equal-width bins) of each model's probabilities: "
                        + ("each row's top-class confidence against its correctness (the "
                           "unadjusted softmax, before logit adjustment)"
                           if info.task == Task.MULTICLASS
                           else "every (row, label) pair's sigmoid probability against its "
                                "0/1 truth")
                        + "; one per trained model, the same at every threshold or tau"),
        ("not evaluated", ", ".join(info.unevaluable) or "none"),
        ("diverged trials (off the front)",
         ", ".join(map(str, report.diverged)) or "none"),
        ("trials the epoch budget cut short (kept their last epoch)",
         f"{len(report.cut_short)} of {len(report.records)}"
         + (f" at [model] epochs = {info.model.get('epochs')}" if report.cut_short else "")),
        ("verdict", report.verdict.message),
    ]


EXPORT_COMMAND = "sweeper export {study_file} -o weights.json"
"""The command that exports the recommended point; a sweep of arrays (no study file) names the
file as ``sweeper export``'s help does, ``STUDY.toml``."""
EXPORT_CALL = 'result.export("weights.json")'
"""The same export in Python, on the sweep's :class:`~sweeper.SweepResult`."""


def point_name(record: TrialRecord) -> str:
    """``trial 5``, or ``the focal loss (gamma 2) baseline (focal)``: a baseline
    by its title and the name ``--baseline`` takes."""
    if record.baseline is None:
        return f"trial {record.number}"
    title = BASELINE_NAMES.get(record.baseline, record.baseline)
    return f"the {title} baseline ({record.baseline})"


def recommended_rows(report: FrontReport) -> list[tuple[str, str]]:
    """What to train with, as (name, value) rows: the recommended point's remedy, weights,
    normalisation and decision as the front table shows them, and the recall and precision to
    expect on test. The page's answer, so a reader needs neither the front nor the facts."""
    point = report.chosen
    record = point.record
    candidate = record.candidate
    info = report.info
    decision = point.decision_summary()
    if point.index is not None:
        knob = "tau" if point.tau is not None else "threshold"
        decision += f" (* a point of its curve: the same trained model at this {knob})"
    weights = weight_summary(record.weights)
    if len(record.weights) > 1:
        weights += (f" (smallest..largest of its {len(record.weights):,} "
                    f"{info.task.units}; each one in the export)")
    whose = (f"the positive class {info.labels[0]!r}" if info.classes is not None
             else f"{info.average} average")
    test_recall, test_precision = point.test
    validation_recall, validation_precision = point.validation
    remedy = remedy_title(candidate.remedy)
    if candidate.remedy == "weights":  # its title alone reads as a column name
        remedy = f"weights: the loss weighted per {info.task.unit}"
    return [
        ("remedy", remedy),
        ("family", candidate.family_summary()),
        ("norm", candidate.normalisation),
        ("weights", weights),
        ("decision", decision),
        ("expect on test", f"recall {test_recall:.3f}, precision {test_precision:.3f} "
                           f"({whose}; on validation, where it was chosen: recall "
                           f"{validation_recall:.3f}, precision {validation_precision:.3f})"),
    ]


def decision_words(point: OperatingPoint) -> str:
    """The point's decision as a sentence says it: ``threshold 0.633``, ``per-label F2
    thresholds``, ``tau 0.80``, ``argmax`` (the table's ``*`` is explained beside it)."""
    threshold = point.threshold
    if point.tau is not None:
        return f"tau {point.tau:.2f}"
    if isinstance(threshold, tuple) and len(threshold) == 1:  # binary: one label's own
        threshold = threshold[0]
    if isinstance(threshold, float):
        return f"threshold {threshold:.3f}"
    if isinstance(threshold, tuple):
        return f"per-label F{point.record.candidate.fbeta:.2g} thresholds"
    return "argmax"


def _with_code(text: str) -> str:
    """``text`` escaped, its `backquoted` spans as <code> (the verdict quotes commands)."""
    parts = html.escape(text).split("`")
    if len(parts) % 2 == 0:  # an odd number of backquotes: leave them as they are
        return html.escape(text)
    return "".join(f"<code>{part}</code>" if index % 2 else part
                   for index, part in enumerate(parts))


def export_note(study_file: str | Path | None, export_rule: Mapping[str, Any] | None) -> str:
    """Under the export line: which study file and which rule an export without a rule takes.
    A study whose ``[study] export`` names another rule exports by it, not this point."""
    where = "" if study_file is not None else "STUDY.toml is the study file. "
    if export_rule:
        rule = ", ".join(f"{key}={value}" for key, value in export_rule.items())
        return (f"{where}This study's <code>[study] export</code> rule is "
                f"<code>{html.escape(rule)}</code>: without a rule an export takes it, not this "
                "point; <code>--trial N</code> or <code>--baseline NAME</code> names one.")
    return (f"{where}Without a rule, an export takes the study's <code>[study] export</code> "
            "rule; its default, <code>recommended</code>, is this point.")


def _answer(report: FrontReport, study_file: str | Path | None = None,
            export_rule: Mapping[str, Any] | None = None) -> str:
    """The page's first section: what to train with, the verdict that says why, the figures
    to expect and how to export it; short enough for one screen whatever the study's size."""
    point = report.chosen
    test_recall, test_precision = point.test
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
                   for name, value in recommended_rows(report))
    command = EXPORT_COMMAND.format(study_file=study_file or "STUDY.toml")
    export = (f"<tr><th>export</th><td><code>{html.escape(command)}</code>, or in "
              f"Python <code>{html.escape(EXPORT_CALL)}</code></td></tr>")
    return (
        '<section id="answer"><h2>Answer</h2>'
        f'<p class="headline"><strong>Train with {html.escape(point_name(point.record))} '
        f"at {html.escape(decision_words(point))}: expect recall {test_recall:.3f} and "
        f"precision {test_precision:.3f} on test.</strong></p>"
        f'<p id="verdict">{_with_code(report.verdict.message)}</p>'
        f'<table id="recommended">{rows}{export}</table>'
        f'<p class="note">{export_note(study_file, export_rule)} <code>result</code> is the '
        "sweep's result (<code>sweeper.sweep</code>, <code>sweeper.load</code>).</p></section>"
    )


def _front_table(report: FrontReport) -> str:
    """The front as the command line's table (test Brier and ECE included)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in front_rows(report)
    )
    return f'<table id="front"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _facts_table(report: FrontReport) -> str:
    """The facts but the verdict, which the answer leads with."""
    rows = [(name, value) for name, value in facts(report) if name != "verdict"]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f'<table id="facts">{cells}</table>'


def figure_captions(report: FrontReport) -> dict[str, tuple[str, str]]:
    """Each figure's heading and a sentence on what it shows, by its name in
    :func:`~sweeper.report.named_figures`: a figure a reader cannot name is not read."""
    info = report.info
    unit = info.task.unit
    knob = "tau" if info.task == Task.MULTICLASS else "threshold"
    per = (f"of the positive class {info.labels[0]!r}" if info.classes is not None
           else f"per {unit}")
    return {
        "pareto": ("Recall against precision, on validation and on test",
                   "Validation (left), where the points were chosen, and the same points on "
                   "test (right). Grey: every trial at its own rule; the staircase: the front; "
                   f"dashed: each baseline's whole curve (tuning its {knob} alone)."),
        "pr-curve": (f"The recommended model at every {knob}",
                     f"Recall and precision of {point_name(report.chosen.record)} at every "
                     f"stored {knob}"
                     + (" (the logit-adjustment strength)" if knob == "tau" else "")
                     + ", on validation and on test."),
        "per-label": (f"Recall and precision {per}",
                      f"Validation recall (left) and precision (right) {per} of each model on "
                      "the front"
                      + ("." if info.classes is not None
                         else f": which rare {info.task.units} each one gives up.")),
        "weights": ("The weights against label frequency" if unit == "label"
                    else "The weights against class frequency",
                    f"Each front model's weight per {unit} against that {unit}'s training "
                    "frequency (both axes logarithmic)."),
        "importances": ("What the search learned",
                        "How much of the spread in recall and in precision each searched "
                        "parameter explains (PED-ANOVA)."),
    }


FOLDED_FIGURES = ("per-label",)
"""Figures drawn inside a closed <details>: their size grows with the labels and the front."""

RESIZE_ON_OPEN = (
    "<script>document.querySelectorAll('details').forEach(function (folded) {"
    "folded.addEventListener('toggle', function () {if (folded.open) {"
    "folded.querySelectorAll('.js-plotly-plot').forEach(function (plot) {"
    "Plotly.Plots.resize(plot);});}});});</script>"
)
"""Plotly sizes a figure to its container when it draws it, and a closed <details> has no
width then: opening one redraws its figures at the width it now has."""


def _figure_section(name: str, figure: Any, caption: tuple[str, str], extra: str = "") -> str:
    """A figure under its heading and caption (folded when :data:`FOLDED_FIGURES` names it),
    then ``extra``; the section's id is the figure's name, the plot's ``NAME-plot``."""
    heading, text = caption
    plot = figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"{name}-plot")
    body = f'<p class="caption">{html.escape(text)}</p>{plot}'
    if name in FOLDED_FIGURES:
        body = f"<details><summary>{html.escape(text)}</summary>{plot}</details>"
    return f'<section id="{name}"><h3>{html.escape(heading)}</h3>{body}{extra}</section>'


def report_html(report: FrontReport, *, study_file: str | Path | None = None,
                export_rule: Mapping[str, Any] | None = None) -> str:
    """The whole report as one self-contained HTML page, in the order a reader asks: the
    answer (what to train with, and why), then the front it was chosen from, then the
    details (the other figures and the study's facts, the long ones folded)."""
    from plotly.offline import get_plotlyjs

    figures = dict(named_figures(report))
    captions = figure_captions(report)
    front_note = (
        f'<p class="caption">The front as <code>sweeper report</code> prints it: '
        f"{len(report.front)} point{'s' * (len(report.front) != 1)}, at most {TABLE_ROWS} "
        "shown, spread along it (the JSON report has every one); * = a point of a model's "
        "curve.</p>"
    )
    front = _figure_section("pareto", figures.pop("pareto"), captions["pareto"],
                            front_note + _front_table(report))
    details = "".join(_figure_section(name, figure, captions[name])
                      for name, figure in figures.items())
    facts_section = (
        '<section id="study-facts"><h3>The study\'s facts</h3><details><summary>Data, rows, '
        "training counts, trials, hypervolumes, each baseline's and the recommended point's "
        "calibration</summary>"
        f"{_facts_table(report)}</details></section>"
    )
    title = html.escape(f"{report.study_name}: class-weight sweep")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><script type='text/javascript'>{get_plotlyjs()}</script>"
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1600px}"
        "table{border-collapse:collapse}"
        "th,td{text-align:left;padding:2px 10px;border-bottom:1px solid #ddd}"
        "#answer{background:#f4f8fb;border:1px solid #cfdde8;padding:0.2em 1em 0.6em}"
        "#answer th{white-space:nowrap}.headline{font-size:1.15em}.caption,.note{color:#444}"
        "summary{cursor:pointer;color:#1f5f8b;margin:0.4em 0}h2{margin-top:1.2em}</style>"
        f"</head><body><h1>{title}</h1>{_answer(report, study_file, export_rule)}"
        f"<h2>The front</h2>{front}<h2>Details</h2>{details}{facts_section}"
        f"{RESIZE_ON_OPEN}</body></html>"
    )


def write_html(report: FrontReport, path: str | Path, *, study_file: str | Path | None = None,
               export_rule: Mapping[str, Any] | None = None) -> Path:
    """Write :func:`report_html` atomically."""
    try:
        return write_text_atomic(path, report_html(report, study_file=study_file,
                                                   export_rule=export_rule))
    except OSError as error:
        raise SweeperError(f"{path}: cannot write: {error}.", key="html") from None


def artifact_store(folder: str | Path):
    """Optuna's file-system artifact store in ``folder`` (created if missing)."""
    from optuna.artifacts import FileSystemArtifactStore

    Path(folder).mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(base_path=str(folder))
