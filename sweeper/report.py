"""The Pareto report: compute a small data object, then render it as a table, JSON or HTML.

:class:`FrontReport` holds everything shown (the front on validation, each front trial's test
figures, the study's facts); the renderers only format it, so tests check the data object and a
few rendered facts rather than pixels.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from sweeper.errors import SweeperError
from sweeper.files import write_text_atomic
from sweeper.metrics import hypervolume_2d, pareto_front
from sweeper.records import StudyInfo, TrialRecord
from sweeper.study import finished_records

__all__ = ["FrontReport", "build_report", "format_table", "write_html", "write_json"]


@dataclass(frozen=True)
class FrontReport:
    """A study's recall/precision front on validation, with test figures beside it."""

    study_name: str
    info: StudyInfo
    records: tuple[TrialRecord, ...]
    """Every complete trial, in trial order."""
    front: tuple[TrialRecord, ...]
    """The validation Pareto front, from high recall to high precision."""
    trial_states: dict[str, int]
    training_seconds: float

    def hypervolume(self, split: str) -> float:
        """Area under the front's staircase on ``split`` (reference point recall 0, precision 0)."""
        points = [(getattr(r, split).recall, getattr(r, split).precision) for r in self.front]
        return hypervolume_2d(np.asarray(points))

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study_name,
            "task": self.info.task,
            "average": self.info.average,
            "labels": list(self.info.labels),
            "train_counts": list(self.info.train_counts),
            "data_fingerprint": self.info.fingerprint,
            "trial_states": self.trial_states,
            "training_seconds": self.training_seconds,
            "hypervolume": {
                "validation": self.hypervolume("validation"),
                "test": self.hypervolume("test"),
            },
            "front": [
                {
                    "trial": r.number,
                    **r.candidate.to_dict(),
                    "weights": list(r.weights),
                    "validation": r.validation.to_dict(),
                    "test": r.test.to_dict(),
                }
                for r in self.front
            ],
        }


def build_report(study: optuna.Study, info: StudyInfo) -> FrontReport:
    """Gather the complete trials and their validation front; an error if none finished."""
    records = finished_records(study)
    points = np.array([(r.validation.recall, r.validation.precision) for r in records])
    front = [records[i] for i in pareto_front(points)]
    states = Counter(trial.state.name for trial in study.get_trials(deepcopy=False))
    return FrontReport(
        study_name=study.study_name,
        info=info,
        records=tuple(records),
        front=tuple(front),
        trial_states=dict(sorted(states.items())),
        training_seconds=float(sum(r.train_seconds for r in records)),
    )


def _weight_summary(weights: tuple[float, ...]) -> str:
    return f"{min(weights):.3g}..{max(weights):.3g}"


def format_table(report: FrontReport, width: int | None = None) -> str:
    """The front as a fixed-width table; fits 80 columns, with more columns where there is room."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    wide = width >= 100
    header = ["trial", "val R", "val P", "test R", "test P", "thresh", "expo", "norm"]
    if wide:
        header.append("weights")
    rows = []
    for record in report.front:
        threshold = record.candidate.threshold
        row = [
            str(record.number),
            f"{record.validation.recall:.3f}",
            f"{record.validation.precision:.3f}",
            f"{record.test.recall:.3f}",
            f"{record.test.precision:.3f}",
            "argmax" if threshold is None else f"{threshold:.3f}",
            f"{record.candidate.exponent:.2f}",
            record.candidate.normalisation,
        ]
        if wide:
            row.append(_weight_summary(record.weights))
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = [
        f"{report.study_name}: {len(report.front)} trials on the validation front of "
        f"{len(report.records)} complete ({report.info.task}, {report.info.average} average)",
        "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)),
    ]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(
        f"hypervolume: validation {report.hypervolume('validation'):.4f}, "
        f"test {report.hypervolume('test'):.4f}"
    )
    return "\n".join(lines)


def write_json(report: FrontReport, path: str | Path) -> Path:
    try:
        return write_text_atomic(path, json.dumps(report.to_dict(), indent=2) + "\n")
    except OSError as error:
        raise SweeperError(f"{path}: cannot write: {error}.") from None


def _hover(record: TrialRecord, split: str) -> str:
    figures = getattr(record, split)
    threshold = record.candidate.threshold
    return (
        f"trial {record.number}<br>{split} recall {figures.recall:.3f}, "
        f"precision {figures.precision:.3f}<br>"
        f"threshold {'argmax' if threshold is None else f'{threshold:.3f}'}<br>"
        f"exponent {record.candidate.exponent:.2f}, {record.candidate.normalisation}<br>"
        f"weights {_weight_summary(record.weights)}"
    )


def pareto_figure(report: FrontReport):
    """Plotly figure: every trial on validation, the front on validation and on test."""
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.add_trace(go.Scatter(
        x=[r.validation.recall for r in report.records],
        y=[r.validation.precision for r in report.records],
        mode="markers", name="all trials (validation)",
        marker={"color": "lightgray", "size": 6},
        text=[_hover(r, "validation") for r in report.records], hoverinfo="text",
    ))
    for split, color in (("validation", "#1f77b4"), ("test", "#d62728")):
        figure.add_trace(go.Scatter(
            x=[getattr(r, split).recall for r in report.front],
            y=[getattr(r, split).precision for r in report.front],
            mode="lines+markers", name=f"front ({split})", line={"shape": "hv", "color": color},
            text=[_hover(r, split) for r in report.front], hoverinfo="text",
        ))
    figure.update_layout(
        title=f"{report.study_name}: recall / precision Pareto front",
        xaxis={"title": f"recall ({report.info.average})", "range": [0, 1.02]},
        yaxis={"title": f"precision ({report.info.average})", "range": [0, 1.02]},
        template="plotly_white",
    )
    return figure


def write_html(report: FrontReport, path: str | Path) -> Path:
    """A self-contained HTML page (plotly's JavaScript inlined) that opens offline."""
    html = pareto_figure(report).to_html(include_plotlyjs=True, full_html=True)
    try:
        return write_text_atomic(path, html)
    except OSError as error:
        raise SweeperError(f"{path}: cannot write: {error}.") from None
