"""The Pareto report: compute a small data object, then render it as a table, JSON or HTML.

:class:`FrontReport` holds everything shown: the validation front of operating points (a trial
at its own decision rule or at a point of its stored curve, :mod:`sweeper.front`) with their test
figures, the baselines (:mod:`sweeper.baselines`) and the verdict on whether the searched weights
beat them, the PR curve of one chosen trial (the front's best validation F1), per-label recall
and precision of the front's trials, their weight vectors against label frequency, parameter
importances for both objectives, and the study's facts. The renderers only format it,
so tests check the data object and what a browser draws rather than pixels.

The HTML page is self-contained: plotly's JavaScript is inlined once, so it opens offline.
"""

from __future__ import annotations

import html
import json
import shutil
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from sweeper.baselines import load_baselines
from sweeper.errors import SweeperError
from sweeper.files import write_text_atomic
from sweeper.front import OperatingPoint, front_hypervolume, operating_points, validation_front
from sweeper.records import StudyInfo, TrialRecord
from sweeper.study import METRIC_NAMES, finished_records

__all__ = [
    "FrontReport",
    "artifact_store",
    "attach_report",
    "build_report",
    "format_table",
    "report_html",
    "write_html",
    "write_json",
]


BASELINE_NAMES = {
    "unweighted": "unweighted",
    "neg_pos": "pos_weight = neg/pos",
    "sklearn_balanced": "sklearn balanced",
}
GAIN_MARGIN = 0.005
"""The front must beat the best baseline's test hypervolume by this share to count as a gain."""


@dataclass(frozen=True)
class FrontReport:
    """A study's recall/precision front on validation, with test figures beside it."""

    study_name: str
    info: StudyInfo
    records: tuple[TrialRecord, ...]
    """Every complete trial, in trial order."""
    front: tuple[OperatingPoint, ...]
    """The validation Pareto front of the operating points that meet the study's constraints
    (all of them if none does), from high recall to high precision."""
    chosen: OperatingPoint
    """The front point with the best validation F1: its trial's PR curve is drawn."""
    importances: dict[str, dict[str, float]]
    """Per objective, each parameter's importance (Optuna's PED-ANOVA); empty if too few trials."""
    trial_states: dict[str, int]
    training_seconds: float
    baselines: dict[str, TrialRecord] = field(default_factory=dict)
    """The study's baselines by name (empty until its first batch has run)."""

    def hypervolume(self, split: str) -> float:
        """Area under the front's staircase on ``split`` (reference point recall 0, precision 0)."""
        return front_hypervolume(self.front, split)

    def baseline_hypervolume(self, name: str, split: str) -> float:
        """A baseline's whole curve (and default point) on ``split``: threshold tuning alone."""
        return front_hypervolume(operating_points([self.baselines[name]]), split)

    def front_trials(self) -> list[TrialRecord]:
        """The distinct trials on the front, in front order."""
        return list({id(p.record): p.record for p in self.front}.values())

    def verdict(self) -> str:
        """One honest sentence: does the searched front beat every baseline on test?"""
        if not self.baselines:
            return "no baselines yet: they are trained with the study's first batch."
        front = self.hypervolume("test")
        name, best = max(
            ((n, self.baseline_hypervolume(n, "test")) for n in self.baselines),
            key=lambda item: item[1],
        )
        label = BASELINE_NAMES.get(name, name)
        if front > best * (1 + GAIN_MARGIN):
            return (
                f"The searched weights beat every baseline: test hypervolume {front:.4f} against "
                f"{best:.4f} for the best baseline ({label}), {100 * (front / best - 1):+.1f}%."
            )
        advice = (
            "train unweighted and tune the threshold" if name == "unweighted"
            else f"the {label} rule with a tuned threshold is as good"
        )
        return (
            f"Weighting buys nothing here: the {label} baseline's test hypervolume {best:.4f} "
            f"matches or beats the front's {front:.4f} ({100 * (front / best - 1):+.1f}%); "
            f"{advice}."
        )

    def label_frequencies(self) -> list[float]:
        """Training frequency of each label (multi-label) or class share (multi-class)."""
        return [count / self.info.n_train for count in self.info.train_counts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study_name,
            "task": self.info.task,
            "average": self.info.average,
            "labels": list(self.info.labels),
            "train_counts": list(self.info.train_counts),
            "n_train": self.info.n_train,
            "n_validation": self.info.n_validation,
            "n_test": self.info.n_test,
            "data_fingerprint": self.info.fingerprint,
            "data_source": self.info.source,
            "trial_states": self.trial_states,
            "feasible_trials": sum(r.feasible for r in self.records),
            "training_seconds": self.training_seconds,
            "hypervolume": {
                "validation": self.hypervolume("validation"),
                "test": self.hypervolume("test"),
            },
            "baselines": {
                name: {
                    "weights": list(record.weights),
                    "hypervolume": {
                        split: self.baseline_hypervolume(name, split)
                        for split in ("validation", "test")
                    },
                    "default_decision": {
                        "validation": record.validation.to_dict(),
                        "test": record.test.to_dict(),
                    },
                }
                for name, record in self.baselines.items()
            },
            "verdict": self.verdict(),
            "chosen_trial": self.chosen.record.number,
            "importances": self.importances,
            "front": [_front_row(p) for p in self.front],
        }


def _front_row(point: OperatingPoint) -> dict[str, Any]:
    record = point.record
    validation, test = point.validation, point.test
    return {
        "trial": record.number,
        "decision": point.decision_summary(),
        "threshold": point.threshold,
        "tau": point.tau,
        "from_curve": point.index is not None,
        "candidate": record.candidate.to_dict(),
        "weights": list(record.weights),
        "validation": {"recall": validation[0], "precision": validation[1]},
        "test": {"recall": test[0], "precision": test[1]},
    }


def _importances(study: optuna.Study, n_complete: int) -> dict[str, dict[str, float]]:
    if n_complete < 4:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # It reminds that it favours low targets: the targets below are negated for that.
        warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes")
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        result = {}
        for index, name in enumerate(METRIC_NAMES):
            try:
                scores = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, target=lambda t, i=index: -t.values[i]
                )
            except (ValueError, RuntimeError):
                return {}  # e.g. every parameter constant so far
            result[name] = {param: float(value) for param, value in scores.items()}
    return result


def build_report(
    study: optuna.Study,
    info: StudyInfo,
    *,
    min_precision: float | None = None,
    min_recall: float | None = None,
) -> FrontReport:
    """Gather the complete trials, their front and the baselines; an error if none finished.

    ``min_precision`` / ``min_recall`` are the study's constraints: the front keeps the points
    that meet them on validation (all points, if none does).
    """
    records = finished_records(study)
    front = tuple(validation_front(records, min_precision=min_precision, min_recall=min_recall))
    chosen = max(front, key=lambda p: (p.f1("validation"), p.validation[0]))
    states = Counter(trial.state.name for trial in study.get_trials(deepcopy=False))
    return FrontReport(
        study_name=study.study_name,
        info=info,
        records=tuple(records),
        front=front,
        chosen=chosen,
        importances=_importances(study, len(records)),
        trial_states=dict(sorted(states.items())),
        training_seconds=float(sum(r.train_seconds for r in records)),
        baselines=load_baselines(study),
    )


def _weight_summary(weights: tuple[float, ...]) -> str:
    return f"{min(weights):.3g}..{max(weights):.3g}"


TABLE_ROWS = 20
"""At most this many front points in the terminal table, spread along the front."""


def format_table(report: FrontReport, width: int | None = None) -> str:
    """The front as a fixed-width table; fits 80 columns, with more columns where there is room.

    A long front (every trial contributes its curve) is thinned to :data:`TABLE_ROWS` points
    spread evenly along it; ``--json`` has them all. A decision marked ``*`` is a point of the
    trial's stored curve rather than its own searched rule: the same trained weights at another
    threshold (or tau), no retraining needed.
    """
    width = width or shutil.get_terminal_size((100, 24)).columns
    wide = width >= 100
    header = ["trial", "val R", "val P", "test R", "test P", "decision", "family", "norm"]
    if wide:
        header.append("weights")
    shown = list(report.front)
    if len(shown) > TABLE_ROWS:
        keep = np.unique(np.linspace(0, len(shown) - 1, TABLE_ROWS).round().astype(int))
        shown = [shown[i] for i in keep]
    rows = []
    for point in shown:
        record = point.record
        row = [
            str(record.number),
            f"{point.validation[0]:.3f}",
            f"{point.validation[1]:.3f}",
            f"{point.test[0]:.3f}",
            f"{point.test[1]:.3f}",
            point.decision_summary(),
            record.candidate.family_summary(),
            record.candidate.normalisation,
        ]
        if wide:
            row.append(_weight_summary(record.weights))
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    shown_note = "" if len(shown) == len(report.front) else f", {len(shown)} shown"
    lines = [
        f"{report.study_name}: {len(report.front)} points on the validation front{shown_note}, "
        f"from {len(report.front_trials())} of {len(report.records)} complete trials "
        f"({report.info.task}, {report.info.average} average; * = a point of the trial's curve)",
        "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)),
    ]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(
        f"hypervolume: validation {report.hypervolume('validation'):.4f}, "
        f"test {report.hypervolume('test'):.4f}"
    )
    if report.baselines:
        lines.append("baselines (whole curve), test hypervolume: " + ", ".join(
            f"{BASELINE_NAMES.get(name, name)} {report.baseline_hypervolume(name, 'test'):.4f}"
            for name in report.baselines
        ))
    lines.append(report.verdict())
    return "\n".join(lines)


def write_json(report: FrontReport, path: str | Path) -> Path:
    try:
        return write_text_atomic(path, json.dumps(report.to_dict(), indent=2) + "\n")
    except OSError as error:
        raise SweeperError(f"{path}: cannot write: {error}.") from None


def _hover(point: OperatingPoint, split: str) -> str:
    recall, precision = point.figures(split)
    record = point.record
    return (
        f"trial {record.number}<br>{split} recall {recall:.3f}, precision {precision:.3f}<br>"
        f"decision {point.decision_summary()}<br>"
        f"{record.candidate.family_summary()}, {record.candidate.normalisation}<br>"
        f"weights {_weight_summary(record.weights)}"
    )


def pareto_figure(report: FrontReport):
    """Validation (left) and test (right): every trial at its own rule in grey, the front as a
    staircase, and each baseline's whole curve dashed."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, subplot_titles=("validation", "test"),
                           shared_yaxes=True)
    own = [OperatingPoint(r) for r in report.records]
    dashes = ("dash", "dot", "dashdot")
    for column, (split, color) in enumerate((("validation", "#1f77b4"), ("test", "#d62728")), 1):
        figure.add_trace(go.Scatter(
            x=[p.figures(split)[0] for p in own], y=[p.figures(split)[1] for p in own],
            mode="markers", name=f"all trials ({split})", marker={"color": "lightgray", "size": 5},
            text=[_hover(p, split) for p in own], hoverinfo="text",
        ), row=1, col=column)
        for dash, (name, record) in zip(dashes, report.baselines.items(), strict=False):
            curve = getattr(record, f"{split}_curve")
            figure.add_trace(go.Scatter(
                x=list(curve.recall), y=list(curve.precision), mode="lines",
                name=f"baseline {BASELINE_NAMES.get(name, name)} ({split})",
                line={"dash": dash, "color": "#555", "width": 1.5},
                text=[f"{curve.parameter} {v:.3f}" for v in curve.values],
                hoverinfo="text+x+y",
            ), row=1, col=column)
        figure.add_trace(go.Scatter(
            x=[p.figures(split)[0] for p in report.front],
            y=[p.figures(split)[1] for p in report.front],
            mode="lines+markers", name=f"front ({split})", line={"shape": "hv", "color": color},
            text=[_hover(p, split) for p in report.front], hoverinfo="text",
        ), row=1, col=column)
        figure.update_xaxes(title_text=f"recall ({report.info.average})", range=[0, 1.02],
                            row=1, col=column)
    figure.update_yaxes(title_text=f"precision ({report.info.average})", range=[0, 1.02],
                        row=1, col=1)
    figure.update_layout(title="Recall / precision Pareto front", template="plotly_white",
                         height=480)
    return figure


def pr_curve_figure(report: FrontReport):
    """The chosen trial's recall and precision at every stored threshold, both splits."""
    import plotly.graph_objects as go

    record = report.chosen.record
    figure = go.Figure()
    for split, curve in (("validation", record.validation_curve), ("test", record.test_curve)):
        if curve is None:
            continue
        figure.add_trace(go.Scatter(
            x=list(curve.recall), y=list(curve.precision), mode="lines+markers",
            name=f"trial {record.number} ({split})",
            text=[f"{curve.parameter} {t:.4f}" for t in curve.values], hoverinfo="text+x+y",
        ))
    title = f"PR curve of trial {record.number} (best validation F1 on the front)"
    if report.info.task == "multiclass":
        title += ": over the logit-adjustment strength tau"
    figure.update_layout(title=title, template="plotly_white", height=420,
                         xaxis={"title": "recall", "range": [0, 1.02]},
                         yaxis={"title": "precision", "range": [0, 1.02]})
    return figure


def per_label_figure(report: FrontReport):
    """Per-label recall and precision of each front trial: which rare labels each sacrifices."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    kind = "label" if report.info.task == "multilabel" else "class"
    trials = report.front_trials()
    rows = [f"trial {r.number}" for r in trials]
    figure = make_subplots(rows=1, cols=2, subplot_titles=(f"validation recall per {kind}",
                                                           f"validation precision per {kind}"))
    for column, attribute in ((1, "per_label_recall"), (2, "per_label_precision")):
        figure.add_trace(go.Heatmap(
            z=[list(getattr(r.validation, attribute)) for r in trials],
            x=list(report.info.labels), y=rows, zmin=0, zmax=1, colorscale="Viridis",
            showscale=column == 2,
        ), row=1, col=column)
    figure.update_layout(template="plotly_white", height=max(300, 22 * len(rows) + 160))
    return figure


def weights_figure(report: FrontReport):
    """Each front trial's weight vector against the training frequency of its labels."""
    import plotly.graph_objects as go

    frequencies = report.label_frequencies()
    order = np.argsort(frequencies)
    figure = go.Figure()
    for record in report.front_trials():
        figure.add_trace(go.Scatter(
            x=[frequencies[i] for i in order], y=[record.weights[i] for i in order],
            mode="lines+markers", name=f"trial {record.number}",
            text=[report.info.labels[i] for i in order], hoverinfo="text+x+y",
        ))
    weight_name = "pos_weight" if report.info.task == "multilabel" else "class weight"
    figure.update_layout(title=f"{weight_name} against label frequency (front trials)",
                         template="plotly_white", height=420,
                         xaxis={"title": "training frequency", "type": "log"},
                         yaxis={"title": weight_name, "type": "log"})
    return figure


def importance_figure(report: FrontReport):
    import plotly.graph_objects as go

    figure = go.Figure()
    for objective, scores in report.importances.items():
        figure.add_trace(go.Bar(x=list(scores), y=list(scores.values()), name=objective))
    figure.update_layout(title="Parameter importance per objective (PED-ANOVA)",
                         template="plotly_white", height=360, barmode="group",
                         yaxis={"title": "importance"})
    return figure


def _facts_table(report: FrontReport) -> str:
    info = report.info
    counts = ", ".join(f"{label}: {count}" for label, count in
                       zip(info.labels, info.train_counts, strict=True))
    states = ", ".join(f"{state.lower()} {count}" for state, count in report.trial_states.items())
    rows = [
        ("task", f"{info.task}, {len(info.labels)} labels, {info.average} average"),
        ("data", f"{info.source} (fingerprint {info.fingerprint})"),
        ("rows", f"train {info.n_train}, validation {info.n_validation}, test {info.n_test}"),
        ("training counts", counts),
        ("trials", states),
        ("training time", f"{report.training_seconds:.1f} s"),
        ("hypervolume", f"validation {report.hypervolume('validation'):.4f}, "
                        f"test {report.hypervolume('test'):.4f}"),
        *(
            (f"baseline: {BASELINE_NAMES.get(name, name)}",
             f"hypervolume validation {report.baseline_hypervolume(name, 'validation'):.4f}, "
             f"test {report.baseline_hypervolume(name, 'test'):.4f}")
            for name in report.baselines
        ),
        ("verdict", report.verdict()),
    ]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f'<table id="facts">{cells}</table>'


def report_html(report: FrontReport) -> str:
    """The whole report as one self-contained HTML page."""
    from plotly.offline import get_plotlyjs

    sections = [("pareto", pareto_figure(report)), ("pr-curve", pr_curve_figure(report)),
                ("per-label", per_label_figure(report)), ("weights", weights_figure(report))]
    if report.importances:
        sections.append(("importances", importance_figure(report)))
    plots = "\n".join(
        f'<section id="{name}">'
        f"{figure.to_html(full_html=False, include_plotlyjs=False, div_id=f'{name}-plot')}"
        "</section>"
        for name, figure in sections
    )
    title = html.escape(f"{report.study_name}: class-weight sweep")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><script type='text/javascript'>{get_plotlyjs()}</script>"
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "th,td{text-align:left;padding:2px 10px;border-bottom:1px solid #ddd}</style>"
        f"</head><body><h1>{title}</h1>{_facts_table(report)}{plots}</body></html>"
    )


def write_html(report: FrontReport, path: str | Path) -> Path:
    """Write :func:`report_html` atomically."""
    try:
        return write_text_atomic(path, report_html(report))
    except OSError as error:
        raise SweeperError(f"{path}: cannot write: {error}.") from None


def artifact_store(folder: str | Path):
    """Optuna's file-system artifact store in ``folder`` (created if missing)."""
    from optuna.artifacts import FileSystemArtifactStore

    Path(folder).mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(base_path=str(folder))


def attach_report(study: optuna.Study, path: str | Path, folder: str | Path) -> str:
    """Upload the HTML report as a study artifact, so the dashboard opens it; returns its id."""
    from optuna.artifacts import upload_artifact

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return upload_artifact(
            artifact_store=artifact_store(folder), file_path=str(path), study_or_trial=study,
            mimetype="text/html",
        )
