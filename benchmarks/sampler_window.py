"""What ``[study] sampler_window`` costs in search quality, and what it saves per ask.

Run ``python benchmarks/sampler_window.py --json OUT.json``. Multivariate TPE with the constant
liar (the sweeper's sampler, asked in batches of 8 as the runner asks) minimises a standard
two-objective test problem, ZDT1 with 4 variables, side by side with and without the window, for
several seeds in one run, in memory (no storage cost). Per setting: the hypervolume of the
front found at each checkpoint of trials, as its gap to the true front's (``OPTIMUM_HV``;
smaller is better), and the milliseconds per ask (with its draw) over the last 200 trials.
This is a synthetic problem: it shows how much of the search a window forgets, not the
sweeper's recall/precision on real data, where one trial takes seconds of training to measure.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import optuna

from sweeper.study._study import WindowedSampler

VARIABLES = 4
REFERENCE = (1.1, 1.1)
BATCH = 8
OPTIMUM_HV = 1.1 * 1.1 - 1.0 / 3.0
"""ZDT1's true front is f2 = 1 - sqrt(f1), f1 in [0, 1]: in the box up to (1.1, 1.1) it
dominates the box's area minus the integral of 1 - sqrt(x) over [0, 1] (1/3)."""


def zdt1(x: np.ndarray) -> tuple[float, float]:
    f1 = float(x[0])
    g = 1.0 + 9.0 * float(np.sum(x[1:])) / (len(x) - 1)
    return f1, g * (1.0 - math.sqrt(f1 / g))


def hypervolume(points: list[tuple[float, float]]) -> float:
    """The area the points dominate (minimising both) inside the reference box."""
    inside = sorted(p for p in points if p[0] < REFERENCE[0] and p[1] < REFERENCE[1])
    area, best_f2 = 0.0, REFERENCE[1]
    for f1, f2 in inside:
        if f2 < best_f2:
            area += (REFERENCE[0] - f1) * (best_f2 - f2)
            best_f2 = f2
    return area


def run(seed: int, window: int, trials: int, checkpoints: list[int]) -> dict:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if window:
        sampler = WindowedSampler(sampler, window)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    points: list[tuple[float, float]] = []
    row: dict = {"seed": seed, "window": window, "hypervolume": {}}
    timed_from = trials - 200
    ask_seconds = 0.0
    for start in range(0, trials, BATCH):
        started = time.perf_counter()
        batch = [study.ask() for _ in range(BATCH)]
        xs = [np.array([t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(VARIABLES)])
              for t in batch]
        if start >= timed_from:
            ask_seconds += time.perf_counter() - started
        for trial, x in zip(batch, xs, strict=True):
            values = zdt1(x)
            study.tell(trial, values)
            points.append(values)
        done = start + BATCH
        for checkpoint in checkpoints:
            if done - BATCH < checkpoint <= done:  # the batch that reaches it
                row["hypervolume"][checkpoint] = hypervolume(points)
    row["sampler_ms_per_ask_last_200"] = 1000 * ask_seconds / 200
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--windows", type=int, nargs="+", default=[0, 300])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    checkpoints = [n for n in (200, 500, 1000, 2000, 5000) if n <= args.trials]
    rows = []
    for seed in args.seeds:
        for window in args.windows:
            rows.append(run(seed, window, args.trials, checkpoints))
            print(f"seed {seed} window {window}: " + ", ".join(
                f"{n}: {hv:.4f}" for n, hv in rows[-1]["hypervolume"].items())
                  + f"; {rows[-1]['sampler_ms_per_ask_last_200']:.1f} ms/ask", flush=True)
    summary = {}
    for window in args.windows:
        mine = [r for r in rows if r["window"] == window]
        summary[str(window)] = {
            "mean_hypervolume": {n: float(np.mean([r["hypervolume"][n] for r in mine]))
                                 for n in checkpoints},
            "mean_gap_to_optimum": {
                n: float(np.mean([OPTIMUM_HV - r["hypervolume"][n] for r in mine]))
                for n in checkpoints},
            "sampler_ms_per_ask_last_200": float(np.mean(
                [r["sampler_ms_per_ask_last_200"] for r in mine])),
        }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"optimum_hypervolume": OPTIMUM_HV, "rows": rows,
                                     "summary": summary}, indent=2) + "\n")
    for window, figures in summary.items():
        print(f"window {window:>5}: gap to the optimum's hypervolume "
              + ", ".join(f"{n}: {gap:.4f}" for n, gap in figures["mean_gap_to_optimum"].items())
              + f"; sampler {figures['sampler_ms_per_ask_last_200']:.1f} ms/ask")


if __name__ == "__main__":
    main()
