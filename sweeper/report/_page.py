"""The report written out: a self-contained HTML page (plotly's JavaScript inlined once, so it
opens offline) and the JSON facts."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from sweeper.config import Split, Task
from sweeper.errors import SweeperError
from sweeper.evaluation import CALIBRATION_BINS
from sweeper.files import write_text_atomic
from sweeper.report._figures import named_figures
from sweeper.report._report import BASELINE_NAMES, FrontReport
from sweeper.report._table import HEADER, front_rows
from sweeper.study import TrialRecord

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


def _front_table(report: FrontReport) -> str:
    """The front as the command line's table (test Brier and ECE included)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in front_rows(report)
    )
    return f'<table id="front"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _facts_table(report: FrontReport) -> str:
    rows = facts(report)
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f'<table id="facts">{cells}</table>'


def report_html(report: FrontReport) -> str:
    """The whole report as one self-contained HTML page."""
    from plotly.offline import get_plotlyjs

    plots = "\n".join(
        f'<section id="{name}">'
        f"{figure.to_html(full_html=False, include_plotlyjs=False, div_id=f'{name}-plot')}"
        "</section>"
        for name, figure in named_figures(report)
    )
    title = html.escape(f"{report.study_name}: class-weight sweep")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><script type='text/javascript'>{get_plotlyjs()}</script>"
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "th,td{text-align:left;padding:2px 10px;border-bottom:1px solid #ddd}</style>"
        f"</head><body><h1>{title}</h1>{_facts_table(report)}{_front_table(report)}{plots}"
        "</body></html>"
    )


def write_html(report: FrontReport, path: str | Path) -> Path:
    """Write :func:`report_html` atomically."""
    try:
        return write_text_atomic(path, report_html(report))
    except OSError as error:
        raise SweeperError(f"{path}: cannot write: {error}.", key="html") from None


def artifact_store(folder: str | Path):
    """Optuna's file-system artifact store in ``folder`` (created if missing)."""
    from optuna.artifacts import FileSystemArtifactStore

    Path(folder).mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(base_path=str(folder))
