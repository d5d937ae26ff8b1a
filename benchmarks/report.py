"""Report speed on a large study: ``sweeper report`` against Optuna's own Pareto plot.

Run ``python benchmarks/report.py --json OUT.json [--trials 10000]``. It generates a SQLite study
of N complete trials with the sweeper's full per-trial records (30 labels, two 57-point PR
curves; generated, not trained), then times, in one process on the same study file:

- ``sweeper``: loading the study and building the report (front, importances, facts), the
  terminal table, and the self-contained HTML page;
- ``optuna_baseline``: ``optuna.visualization.plot_pareto_front`` on the same study (load and
  figure), the plot a user would otherwise start from;

and writes both times, their ratio and the page's size; then the time to save the report into
the study for optuna-dashboard (``publish``: graph objects and note) and the figures' size.
It asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
from _stamp import write_json
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

import sweeper
from sweeper.evaluation import CURVE_POINTS, Evaluation, PRCurve
from sweeper.report import format_table, report_html
from sweeper.search import Candidate
from sweeper.study import (
    DIRECTIONS,
    METRIC_NAMES,
    RECORD_ATTR,
    STUDY_ATTR,
    StudyInfo,
    TrialRecord,
    open_storage,
)

LABELS = 30
DISTRIBUTIONS = {
    "exponent": FloatDistribution(0.0, 1.5),
    "normalisation": CategoricalDistribution(["none", "sum_to_one", "mean_one", "balanced"]),
    "threshold": FloatDistribution(0.01, 0.99),
}


def synthetic_trial(rng: np.random.Generator, number: int) -> optuna.trial.FrozenTrial:
    exponent, threshold = float(rng.uniform(0, 1.5)), float(rng.uniform(0.01, 0.99))
    normalisation = str(rng.choice(DISTRIBUTIONS["normalisation"].choices))
    recall = float(rng.beta(2, 2))
    precision = float(np.clip((1 - recall) ** 2 + rng.normal(0, 0.05), 0.03, 1))

    def figures() -> Evaluation:
        return Evaluation(recall, precision, tuple(rng.random(LABELS).round(4)),
                          tuple(rng.random(LABELS).round(4)))

    grid = np.sort(rng.random(CURVE_POINTS))
    curve = PRCurve("threshold", tuple(grid), tuple(np.sort(rng.random(grid.size))[::-1]),
                    tuple(np.sort(rng.random(grid.size))))
    record = TrialRecord(
        number=number,
        candidate=Candidate(exponent=exponent, normalisation=normalisation, threshold=threshold),
        weights=tuple(rng.uniform(0.5, 30, LABELS).round(4)), validation=figures(),
        test=figures(), validation_curve=curve, test_curve=curve, diverged=False,
        train_seconds=0.3, packed_members=32,
    )
    return create_trial(
        state=TrialState.COMPLETE, values=[recall, precision],
        params={"exponent": exponent, "normalisation": normalisation, "threshold": threshold},
        distributions=DISTRIBUTIONS, user_attrs={RECORD_ATTR: record.to_dict()},
    )


def make_study(url: str, trials: int) -> None:
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="big", directions=DIRECTIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(METRIC_NAMES)
    info = StudyInfo(
        task="multilabel", labels=tuple(f"Class{j + 1}" for j in range(LABELS)),
        average="micro", fingerprint="0" * 16, source="synthetic",
        train_counts=tuple(range(20, 20 + LABELS)), n_features=30, n_train=18006,
        n_validation=6000, n_test=6000, seed=0, model={}, version="bench",
    )
    study.set_user_attr(STUDY_ATTR, info.to_dict())
    rng = np.random.default_rng(0)
    study.add_trials([synthetic_trial(rng, n) for n in range(trials)])


def time_sweeper(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    report = sweeper.load("big", url).report()  # as `sweeper report` reads it
    format_table(report, width=120)
    page = report_html(report)
    return time.perf_counter() - started, len(page)


def time_publish(url: str) -> tuple[float, int]:
    """Saving the report into the study for optuna-dashboard (graph objects and note), as
    ``sweeper report`` does after printing; returns seconds and the figures' JSON size."""
    from sweeper.report import named_figures

    result = sweeper.load("big", url)
    report = result.report()
    size = sum(len(figure.to_json()) for _, figure in named_figures(report))
    started = time.perf_counter()
    result.publish()
    return time.perf_counter() - started, size


def time_optuna(url: str) -> float:
    started = time.perf_counter()
    study = optuna.load_study(study_name="big", storage=url)
    optuna.visualization.plot_pareto_front(study).to_dict()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=10_000)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'big.db'}"
        started = time.perf_counter()
        make_study(url, args.trials)
        generation = time.perf_counter() - started
        database_mb = (Path(folder) / "big.db").stat().st_size / 2**20
        sweeper_s, page_bytes = time_sweeper(url)
        publish_s, dashboard_bytes = time_publish(url)
        optuna_s = time_optuna(url)
    figures = {
        "trials": args.trials,
        "database_mb": database_mb,
        "generation_s": generation,
        "sweeper_report_s": sweeper_s,
        "optuna_pareto_plot_s": optuna_s,
        "sweeper_vs_optuna_ratio": sweeper_s / optuna_s,
        "dashboard_publish_s": publish_s,
        "dashboard_figures_mb": dashboard_bytes / 2**20,
        "html_mb": page_bytes / 2**20,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, "report", figures)
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key.ljust(width)}  {value:.4g}" if isinstance(value, float) else
              f"{key.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
