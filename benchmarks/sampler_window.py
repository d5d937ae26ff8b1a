"""What ``[study] sampler_window`` costs in search quality, and what it saves per ask.

Run ``python benchmarks/sampler_window.py --json OUT.json``. Multivariate TPE with the constant
liar (the sweeper's sampler, asked in batches of ``--batch`` as the runner asks) minimises a
standard two-objective test problem, ZDT1 with 4 variables, side by side with and without the
window, for several seeds in one run, in memory (no storage cost). Per setting: the hypervolume
of the front found at each checkpoint of trials, as its gap to the true front's (``OPTIMUM_HV``;
smaller is better), and the milliseconds per ask (with its draw) over the last 200 trials.
This is a synthetic problem: it shows how much of the search a window forgets.

``--problem sweeper`` measures the same on the sweeper's own problem: the search space and
sampler of ``studies/seed-multilabel.toml`` (exponent, normalisation, threshold; 30 labels), its
validation recall and precision maximised. Training per trial would take hours for thousands of
trials, so the response is tabulated first: a grid of exponents (``--grid`` values) times every
normalisation is trained for real in packed passes (the study's MLP, its epochs, one validation
split), and a trial scores the validation probabilities of the grid model nearest its exponent at
its own threshold. The gap is to the hypervolume of every grid model's whole validation curve
(the best any trial could reach); wall time is the sampler's per ask, as above.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import optuna
from _stamp import write_json

from sweeper.study._study import WindowedSampler

VARIABLES = 4
REFERENCE = (1.1, 1.1)
BATCH = 8
"""Trials asked per batch (``--batch``): 8 by default, as the figures of issue 30 were taken;
the CLI's pack on a CPU is 32 once the budget reaches 128 trials."""
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


class SweeperProblem:
    """The seed-multilabel study's response, tabulated on a grid of trained models."""

    def __init__(self, grid: int) -> None:
        import dataclasses
        import tempfile

        from sweeper.api import prepare_study_file
        from sweeper.config import DataConfig
        from sweeper.data import make_splits
        from sweeper.training import PackedTrainer

        folder = Path(tempfile.mkdtemp())
        study_file = Path(__file__).resolve().parent.parent / "studies" / "seed-multilabel.toml"
        prepared = prepare_study_file(study_file, storage=f"sqlite:///{folder / 'grid.db'}")
        config = prepared.config
        data = dataclasses.replace(config.data, folds=1)
        assert isinstance(data, DataConfig)
        from sweeper.data import load_source

        splits = make_splits(load_source(data, study_file.parent), data)
        self.config, self.info = config, prepared.info
        counts = np.asarray(self.info.train_counts)
        low, high = config.search.exponent
        self.exponents = np.linspace(low, high, grid)
        self.normalisations = config.search.normalisations
        from sweeper.search import Candidate

        candidates = [Candidate(exponent=float(e), normalisation=n, threshold=0.5)
                      for n in self.normalisations for e in self.exponents]
        weights = np.stack([c.loss_weights(counts, self.info.n_train, self.info.task)
                            for c in candidates])
        started = time.perf_counter()
        scores = []
        for start in range(0, len(candidates), 16):
            chunk = weights[start:start + 16]
            trainer = PackedTrainer(splits, config.model, members=len(chunk), seed=0)
            scores.append(trainer.train_and_score({"weights": chunk}).validation)
        self.scores = np.concatenate(scores).reshape(len(self.normalisations), grid,
                                                     *scores[0].shape[1:])
        self.truth = splits.validation.y
        self.train_seconds = time.perf_counter() - started
        self.optimum = self._optimum()

    def figures(self, exponent: float, normalisation: str, threshold: float) -> tuple:
        from sweeper.evaluation import evaluate

        row = self.normalisations.index(normalisation)
        column = int(np.argmin(np.abs(self.exponents - exponent)))
        figures = evaluate(self.truth, self.scores[row, column], task=self.info.task,
                           average=self.info.average, threshold=threshold)
        return figures.recall, figures.precision

    def _optimum(self) -> float:
        from sweeper.evaluation import hypervolume_2d

        points = []
        for model_scores in self.scores.reshape(-1, *self.scores.shape[2:]):
            for threshold in np.linspace(0.01, 0.99, 197):
                points.append(self._micro(model_scores, threshold))
        return hypervolume_2d(np.array(points))

    def _micro(self, scores: np.ndarray, threshold: float) -> tuple[float, float]:
        predicted = scores >= threshold
        tp = float(np.sum(predicted & (self.truth == 1)))
        recall = tp / max(float(np.sum(self.truth == 1)), 1.0)
        precision = tp / float(np.sum(predicted)) if predicted.any() else 0.0
        return recall, precision


def run_sweeper(problem: SweeperProblem, seed: int, window: int, trials: int,
                checkpoints: list[int]) -> dict:
    """The sweeper's sampler (``make_sampler``, as a study of this file makes it) on the
    tabulated problem, asked in batches of ``--batch``."""
    import dataclasses

    from sweeper.evaluation import hypervolume_2d
    from sweeper.search import suggest_candidate
    from sweeper.study import make_sampler

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study_config = dataclasses.replace(problem.config.study, sampler_seed=seed,
                                       sampler_window=window)
    study = optuna.create_study(directions=["maximize", "maximize"],
                                sampler=make_sampler(study_config))
    points: list[tuple[float, float]] = []
    row: dict = {"seed": seed, "window": window, "hypervolume": {}}
    timed_from, ask_seconds = trials - 200, 0.0
    for start in range(0, trials, BATCH):
        started = time.perf_counter()
        batch = [study.ask() for _ in range(BATCH)]
        candidates = [suggest_candidate(t, problem.config.search, problem.info.task,
                                        problem.info.labels) for t in batch]
        if start >= timed_from:
            ask_seconds += time.perf_counter() - started
        for trial, candidate in zip(batch, candidates, strict=True):
            values = problem.figures(candidate.exponent, candidate.normalisation,
                                     candidate.threshold)
            study.tell(trial, values)
            points.append(values)
        done = start + BATCH
        for checkpoint in checkpoints:
            if done - BATCH < checkpoint <= done:
                row["hypervolume"][checkpoint] = hypervolume_2d(np.array(points))
    row["sampler_ms_per_ask_last_200"] = 1000 * ask_seconds / 200
    return row


def main() -> None:
    global BATCH
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--windows", type=int, nargs="+", default=[0, 300])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--problem", choices=["zdt1", "sweeper"], default="zdt1")
    parser.add_argument("--grid", type=int, default=16,
                        help="sweeper problem: trained exponents per normalisation")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help=f"trials asked per batch (default {BATCH}; the CLI's CPU pack: 32)")
    args = parser.parse_args()
    BATCH = args.batch
    checkpoints = [n for n in (200, 500, 1000, 2000, 3000, 5000) if n <= args.trials]
    rows = []
    optimum = OPTIMUM_HV
    problem = None
    if args.problem == "sweeper":
        problem = SweeperProblem(args.grid)
        optimum = problem.optimum
        print(f"tabulated {problem.scores.shape[0] * problem.scores.shape[1]} trained models "
              f"in {problem.train_seconds:.0f} s; best reachable hypervolume {optimum:.4f}",
              flush=True)
    for seed in args.seeds:
        for window in args.windows:
            if problem is None:
                rows.append(run(seed, window, args.trials, checkpoints))
            else:
                rows.append(run_sweeper(problem, seed, window, args.trials, checkpoints))
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
                n: float(np.mean([optimum - r["hypervolume"][n] for r in mine]))
                for n in checkpoints},
            "sampler_ms_per_ask_last_200": float(np.mean(
                [r["sampler_ms_per_ask_last_200"] for r in mine])),
        }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, "sampler_window", {"problem": args.problem, "batch": BATCH,
                                              "optimum_hypervolume": optimum, "rows": rows,
                                              "summary": summary})
    for window, figures in summary.items():
        print(f"window {window:>5}: gap to the optimum's hypervolume "
              + ", ".join(f"{n}: {gap:.4f}" for n, gap in figures["mean_gap_to_optimum"].items())
              + f"; sampler {figures['sampler_ms_per_ask_last_200']:.1f} ms/ask")


if __name__ == "__main__":
    main()
