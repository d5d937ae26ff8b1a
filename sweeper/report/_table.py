"""The front as a table: fixed-width text for the terminal, HTML for Jupyter.

Both render the same rows (:func:`front_rows`). A decision marked ``*`` is a point of the trial's
stored curve rather than its own searched rule: the same trained weights at another threshold
(or tau), no retraining needed. ``test Brier`` and ``test ECE`` are the calibration of the
trial's probabilities on test (:mod:`sweeper.evaluation._calibration`): the model's, so the
same on every row of one trial whatever its decision; ``-`` where unknown (a record stored
before calibration was, or a diverged trial).
"""

from __future__ import annotations

import html
import os
import shutil
import sys

import numpy as np

from sweeper.config import Split, Task
from sweeper.evaluation import CALIBRATION_BINS
from sweeper.report._report import BASELINE_NAMES, FrontReport
from sweeper.study import OperatingPoint

__all__ = [
    "TABLE_ROWS",
    "calibration_cells",
    "format_table",
    "front_rows",
    "table_html",
    "weight_summary",
]

TABLE_ROWS = 20
"""At most this many front points in a table, spread along the front (the JSON has them all)."""
HEADER = ("trial", "val R", "val P", "test R", "test P", "test Brier", "test ECE", "decision",
          "family", "norm", "weights")


KEPT_COLUMNS = HEADER.index("decision") + 1
"""The columns a narrow terminal still shows: the trial, its figures, calibration, decision."""


def weight_summary(weights: tuple[float, ...]) -> str:
    """``0.5..12`` (the range of a vector), or the one weight (binary: ``pos_weight``)."""
    if len(weights) == 1:
        return f"{weights[0]:.3g}"
    return f"{min(weights):.3g}..{max(weights):.3g}"


def calibration_cells(point: OperatingPoint, split: Split = Split.TEST) -> list[str]:
    """The Brier score and ECE of the point's model on ``split`` (``-`` where unknown)."""
    figures = point.record.calibration_on(split)
    values = (None, None) if figures is None else (figures.brier, figures.ece)
    return ["-" if value is None else f"{value:.4f}" for value in values]


def _shown(front: tuple[OperatingPoint, ...]) -> list[OperatingPoint]:
    points = list(front)
    if len(points) > TABLE_ROWS:
        keep = np.unique(np.linspace(0, len(points) - 1, TABLE_ROWS).round().astype(int))
        points = [points[i] for i in keep]
    return points


def _with_spread(value: float, spread: float | None) -> str:
    """``0.812`` or, under cross-validation, ``0.812±.04`` (the spread across folds)."""
    if spread is None:
        return f"{value:.3f}"
    return f"{value:.3f}±{spread:.2f}".replace("±0.", "±.")


def front_rows(report: FrontReport) -> list[list[str]]:
    """The cells of each shown front point, in :data:`HEADER` order."""
    rows = []
    for point in _shown(report.front):
        record = point.record
        spread = point.spread or (None, None)
        rows.append([
            record.label,
            _with_spread(point.validation[0], spread[0]),
            _with_spread(point.validation[1], spread[1]),
            f"{point.test[0]:.3f}",
            f"{point.test[1]:.3f}",
            *calibration_cells(point),
            point.decision_summary(),
            record.candidate.family_summary(),
            record.candidate.normalisation,
            weight_summary(record.weights),
        ])
    return rows


def _title(report: FrontReport, shown: int) -> str:
    """The table's first line: how many points, and whose: the searched trials counted against
    the complete trials (which hold no baseline) and the baselines apart, so a front of
    baselines alone never reads as trials the search found."""
    shown_note = "" if shown == len(report.front) else f", {shown} shown"
    on_front = report.front_trials()
    searched = sum(record.baseline is None for record in on_front)
    baselines = len(on_front) - searched
    baselines_note = f", {baselines} baseline{'s' * (baselines != 1)}" if baselines else ""
    folds = report.info.folds
    validation = (
        f"{folds}-fold cross-validation, ± = spread across folds; " if folds > 1 else ""
    )
    task = (f"{report.info.describe_task()}: its recall and precision"
            if report.info.classes is not None  # binary
            else f"{report.info.task}, {report.info.average} average")
    return (
        f"{report.study_name}: {len(report.front)} point{'s' * (len(report.front) != 1)} on the "
        f"validation front{shown_note}: "
        f"{searched} of {len(report.records)} complete trials{baselines_note} "
        f"({task}; {validation}"
        "* = a point of the trial's curve)"
    )


def _summary(report: FrontReport) -> list[str]:
    lines = [
        f"hypervolume: validation {report.hypervolume(Split.VALIDATION):.4f}, "
        f"test {report.hypervolume(Split.TEST):.4f}"
    ]
    if report.baselines:
        lines.append("baselines (whole curve), test hypervolume: " + ", ".join(
            f"{BASELINE_NAMES.get(name, name)} "
            f"{report.baseline_hypervolume(name, Split.TEST):.4f}"
            for name in report.baselines
        ))
        lines.append(
            "baselines' test calibration (Brier, ECE): " + ", ".join(
                f"{BASELINE_NAMES.get(name, name)} "
                + " / ".join(calibration_cells(OperatingPoint(record)))
                for name, record in report.baselines.items()
            )
        )
    lines.append(
        f"test Brier, test ECE ({CALIBRATION_BINS} bins): calibration of the model's "
        "probabilities on test, the same at every decision of one trial"
        + (" (the unadjusted softmax's, top class)" if report.info.task == Task.MULTICLASS
           else "")
    )
    if report.diverged:
        lines.append(
            f"{len(report.diverged)} of {len(report.records)} trials diverged (non-finite "
            "scores) and are left off the front"
            + (": lower [model] learning_rate, or check the features' scale"
               if len(report.diverged) > len(report.records) / 2 else "")
        )
    if report.cut_short:
        lines.append(
            f"{len(report.cut_short)} of {len(report.records)} trials kept their last epoch "
            f"([model] epochs = {report.info.model.get('epochs')}): their validation loss was "
            "still falling when training stopped; raise [model] epochs"
        )
    if report.info.unevaluable:
        lines.append(
            f"not evaluated (no {report.info.task.unit} sample in validation or test), left out "
            f"of macro averages: {', '.join(report.info.unevaluable)}"
        )
    lines.append(report.verdict.message)
    return lines


def _terminal_width() -> int | None:
    """The width a table printed to stdout must fit: ``COLUMNS`` when set, else the terminal's;
    ``None`` (no limit) off a terminal, so a report redirected to a file or a CI log keeps every
    column (the family column names each trial's remedy) instead of fitting an imagined
    100-column screen."""
    stdout = sys.stdout
    on_terminal = stdout is not None and hasattr(stdout, "isatty") and stdout.isatty()
    if not (os.environ.get("COLUMNS") or on_terminal):
        return None
    return shutil.get_terminal_size((100, 24)).columns


def format_table(report: FrontReport, width: int | None = None) -> str:
    """The front as a fixed-width table that fits ``width`` (default :func:`_terminal_width`:
    the terminal's, or no limit off one): where it is too narrow the weights, then the
    normalisation, then the family column are left off; the figures, their calibration and the
    decision always show (the JSON has everything)."""
    width = width or _terminal_width()
    all_rows = front_rows(report)
    all_widths = [max(len(h), *(len(row[i]) for row in all_rows)) for i, h in enumerate(HEADER)]
    columns = len(HEADER)
    while (width is not None and columns > KEPT_COLUMNS
           and sum(all_widths[:columns]) + 2 * (columns - 1) > width):
        columns -= 1
    header, widths = HEADER[:columns], all_widths[:columns]
    rows = [row[:columns] for row in all_rows]
    lines = [
        _title(report, len(rows)),
        "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)),
    ]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines + _summary(report))


def table_html(report: FrontReport) -> str:
    """The same table as HTML, for Jupyter's ``_repr_html_``."""
    rows = front_rows(report)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    notes = "".join(f"<p>{html.escape(line)}</p>" for line in _summary(report))
    return (
        f"<div><p><b>{html.escape(_title(report, len(rows)))}</b></p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</div>"
    )
