"""The report: a data object with a structured verdict, then a table, figures, a page, and the
same figures and verdict inside optuna-dashboard."""

from __future__ import annotations

from sweeper.report._dashboard import GRAPH_PREFIX, dashboard_note, publish
from sweeper.report._figures import (
    importance_figure,
    named_figures,
    pareto_figure,
    per_label_figure,
    pr_curve_figure,
    weights_figure,
)
from sweeper.report._page import (
    artifact_store,
    calibration_summary,
    facts,
    report_html,
    write_html,
    write_json,
)
from sweeper.report._report import (
    BASELINE_NAMES,
    BaselineSummary,
    FrontPoint,
    FrontReport,
    Verdict,
    build_report,
)
from sweeper.report._table import (
    TABLE_ROWS,
    calibration_cells,
    format_table,
    front_rows,
    table_html,
)

__all__ = [
    "BASELINE_NAMES",
    "GRAPH_PREFIX",
    "TABLE_ROWS",
    "BaselineSummary",
    "FrontPoint",
    "FrontReport",
    "Verdict",
    "artifact_store",
    "build_report",
    "calibration_cells",
    "calibration_summary",
    "dashboard_note",
    "facts",
    "format_table",
    "front_rows",
    "importance_figure",
    "named_figures",
    "pareto_figure",
    "per_label_figure",
    "pr_curve_figure",
    "publish",
    "report_html",
    "table_html",
    "weights_figure",
    "write_html",
    "write_json",
]
