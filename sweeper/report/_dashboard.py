"""The report inside optuna-dashboard: its figures as the dashboard's own plotly graph objects,
and its facts and verdict as the study's note.

Each figure is saved under a fixed id (``sweeper-pareto``, ``sweeper-pr-curve``, ...), so a
later report overwrites the earlier one instead of adding a copy; the note is overwritten the
same way. Both live in the study's system attributes, so every dashboard on the storage shows
them, with no artifact folder to share.
"""

from __future__ import annotations

import warnings

import optuna

from sweeper.report._figures import named_figures
from sweeper.report._page import facts
from sweeper.report._report import FrontReport
from sweeper.report._table import format_table

__all__ = ["GRAPH_PREFIX", "dashboard_note", "publish"]

GRAPH_PREFIX = "sweeper-"
"""The prefix of the graph object ids the sweeper owns in a study."""


def dashboard_note(report: FrontReport) -> str:
    """The study's note (Markdown): the verdict first, then the front as the command line's
    table, then the facts."""
    rows = "\n".join(f"| {name} | {value.replace('|', '/')} |"
                     for name, value in facts(report) if name != "verdict")
    return (
        f"## classweight-sweeper: {report.study_name}\n\n"
        f"**Verdict.** {report.verdict.message}\n\n"
        f"```\n{format_table(report, width=120)}\n```\n\n"
        f"| fact | value |\n|---|---|\n{rows}\n\n"
        "Export the recommended point with `sweeper export STUDY_FILE -o weights.json`.\n"
    )


def publish(study: optuna.Study, report: FrontReport) -> list[str]:
    """Show ``report`` in optuna-dashboard: save each figure as a graph object and the note,
    replacing what an earlier report saved. Returns the graph object ids."""
    from optuna_dashboard import save_note, save_plotly_graph_object

    ids = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for name, figure in named_figures(report):
            ids.append(save_plotly_graph_object(
                study, figure, graph_object_id=GRAPH_PREFIX + name
            ))
        save_note(study, dashboard_note(report))
    return ids
