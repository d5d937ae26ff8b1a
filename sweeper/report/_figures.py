"""The report's figures, as plotly figure objects built from a :class:`FrontReport`."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweeper.config import Split, Task
from sweeper.report._report import BASELINE_NAMES, FrontReport
from sweeper.report._table import calibration_cells, weight_summary
from sweeper.study import OperatingPoint, TrialRecord

__all__ = [
    "importance_figure",
    "named_figures",
    "pareto_figure",
    "per_label_figure",
    "pr_curve_figure",
    "weights_figure",
]


def _name(record: TrialRecord) -> str:
    if record.baseline is not None:
        return f"baseline {record.baseline}"
    return f"trial {record.number}"


def _hover(point: OperatingPoint, split: Split) -> str:
    recall, precision = point.figures(split)
    record = point.record
    brier, ece = calibration_cells(point, split)
    return (
        f"{_name(record)}<br>{split} recall {recall:.3f}, precision {precision:.3f}<br>"
        f"{split} Brier {brier}, ECE {ece} (the model's, at any decision)<br>"
        f"decision {point.decision_summary()}<br>"
        f"{record.candidate.family_summary()}, {record.candidate.normalisation}<br>"
        f"weights {weight_summary(record.weights)}"
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
    colors = {Split.VALIDATION: "#1f77b4", Split.TEST: "#d62728"}
    for column, split in enumerate(Split, 1):
        color = colors[split]
        figure.add_trace(go.Scatter(
            x=[p.figures(split)[0] for p in own], y=[p.figures(split)[1] for p in own],
            mode="markers", name=f"all trials ({split})", marker={"color": "lightgray", "size": 5},
            text=[_hover(p, split) for p in own], hoverinfo="text",
        ), row=1, col=column)
        for dash, (name, record) in zip(dashes, report.baselines.items(), strict=False):
            curve = record.curve(split)
            assert curve is not None  # a baseline is stored with its curves
            figure.add_trace(go.Scatter(
                x=list(curve.recall), y=list(curve.precision), mode="lines",
                name=f"baseline {BASELINE_NAMES.get(name, name)} ({split})",
                line={"dash": dash, "color": "#555", "width": 1.5},
                text=[f"{curve.parameter} {v:.3f}" for v in curve.values],
                hoverinfo="text+x+y",
            ), row=1, col=column)
        spreads = [p.spread for p in report.front]
        error_bars = {}
        if split is Split.VALIDATION and all(s is not None for s in spreads):
            # Every spread is set (checked above); "if s is not None" only tells mypy so.
            known = [s for s in spreads if s is not None]
            error_bars = {  # cross-validation: each point's spread across folds
                "error_x": {"type": "data", "array": [s[0] for s in known], "thickness": 1},
                "error_y": {"type": "data", "array": [s[1] for s in known], "thickness": 1},
            }
        figure.add_trace(go.Scatter(
            x=[p.figures(split)[0] for p in report.front],
            y=[p.figures(split)[1] for p in report.front],
            mode="lines+markers", name=f"front ({split})", line={"shape": "hv", "color": color},
            text=[_hover(p, split) for p in report.front], hoverinfo="text", **error_bars,
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
    for split in Split:
        curve = record.curve(split)
        if curve is None:
            continue
        figure.add_trace(go.Scatter(
            x=list(curve.recall), y=list(curve.precision), mode="lines+markers",
            name=f"{_name(record)} ({split})",
            text=[f"{curve.parameter} {t:.4f}" for t in curve.values], hoverinfo="text+x+y",
        ))
    title = f"PR curve of {_name(record)} (the recommended point: best validation F1)"
    if report.info.task == Task.MULTICLASS:
        title += ": over the logit-adjustment strength tau"
    figure.update_layout(title=title, template="plotly_white", height=420,
                         xaxis={"title": "recall", "range": [0, 1.02]},
                         yaxis={"title": "precision", "range": [0, 1.02]})
    return figure


LABELS_DRAWN = 200
"""At most this many labels (or classes) in the per-label heatmap: beyond, the rarest (by
training count), which are the ones a weighting trades; the JSON report has every one."""


def drawn_labels(report: FrontReport) -> list[int]:
    """The label indices the per-label heatmap draws: all, or the :data:`LABELS_DRAWN`
    rarest, rarest first."""
    counts = np.asarray(report.info.train_counts)
    if counts.size <= LABELS_DRAWN:
        return list(range(counts.size))
    return [int(j) for j in np.argsort(counts, kind="stable")[:LABELS_DRAWN]]


def per_label_figure(report: FrontReport):
    """Per-label recall and precision of each front trial: which rare labels each sacrifices
    (at thousands of labels, the :data:`LABELS_DRAWN` rarest)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    kind = report.info.task.unit
    trials = report.front_trials()
    rows = [_name(r) for r in trials]
    drawn = drawn_labels(report)
    every = len(report.info.labels)
    part = "" if len(drawn) == every else f" (the {len(drawn)} rarest of {every:,})"
    titles: tuple[str, ...] = (f"validation recall per {kind}{part}",
                               f"validation precision per {kind}{part}")
    if report.info.task == Task.BINARY:  # one column: the positive class
        titles = tuple(title.replace(f"per {kind}", f"of the positive class "
                                                    f"{report.info.labels[0]!r}")
                       for title in titles)
    figure = make_subplots(rows=1, cols=2, subplot_titles=titles)
    for column, values in (
        (1, [[r.validation.per_label_recall[j] for j in drawn] for r in trials]),
        (2, [[r.validation.per_label_precision[j] for j in drawn] for r in trials]),
    ):
        figure.add_trace(go.Heatmap(
            z=values,
            x=[report.info.labels[j] for j in drawn], y=rows, zmin=0, zmax=1,
            colorscale="Viridis", showscale=column == 2,
        ), row=1, col=column)
    figure.update_xaxes(title_text=kind)
    figure.update_yaxes(title_text="front model", row=1, col=1)
    figure.update_yaxes(showticklabels=False, row=1, col=2)  # the same rows: named once
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
            mode="lines+markers", name=_name(record),
            text=[report.info.labels[i] for i in order], hoverinfo="text+x+y",
        ))
    weight_name = "pos_weight" if report.info.task.sigmoid else "class weight"
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
                         xaxis={"title": "searched parameter"}, yaxis={"title": "importance"})
    return figure



def named_figures(report: FrontReport) -> list[tuple[str, Any]]:
    """Every figure of the report with its stable name (an HTML id, and the dashboard's graph
    object id): the front, the PR curves, the per-label figures, the weights, and the
    importances once the study has enough trials for them."""
    figures = [("pareto", pareto_figure(report)), ("pr-curve", pr_curve_figure(report)),
               ("per-label", per_label_figure(report)), ("weights", weights_figure(report))]
    if report.importances:
        figures.append(("importances", importance_figure(report)))
    return figures
