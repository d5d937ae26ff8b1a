"""How often the verdict recommends a truly better trial (power), and how often one that is
not (false alarms): the unpaired noise rule the sweeper had, and the paired, selection-aware
comparison it has now, on simulated problems whose truth is known.

Run ``python benchmarks/verdict_calibration.py --json OUT.json [--replicates 200]
[--stop-replicates 50]`` (``--replicates 0 --stop-replicates 50``: the stop alone).

Each problem is a binary task (one rare class: the F1 the verdict compares) with ``rows``
validation rows holding ``positives`` positives. Models score every row as
``signal * y + shared + own``: ``shared`` is the same for every model (the rows' difficulty,
which makes trials and baselines trained on the same data agree), ``own`` is each model's.
Three baselines and ``trials - 1`` ordinary trials have signals at most the baselines' (90 to
100% of it: a search finds many trials no better than a rule of thumb, some as good); one
candidate trial's signal is set so that, at its best threshold, its F1 on a test set of
400,000 rows is the best baseline's times ``1 + gain``. Each model chooses its threshold on
the validation rows (96 quantiles, as the sweeper's curves do), and both rules judge the best
trial against the best baseline there:

- ``unpaired``: the best trial's F1 above the best baseline's by more than 1% and more than
  ``2 sqrt((1 - F1) / (F1 n))`` (:func:`sweeper.study.noise_margin`);
- ``paired``: :func:`sweeper.evaluation.compare_choice` on :func:`bootstrap_f1` vectors of the
  study's resamples (:func:`resample_weights`), the code the sweeper runs.

A recommendation of the candidate when ``gain > 0`` counts toward power; a recommendation of
any other trial, or of any trial when ``gain = 0``, is a false alarm.

``--stop-replicates``: studies of 40 trials (the candidate at a random place in the sequence)
judged as ``stop = "settled"`` judges them (:func:`sweeper.study.settle_risk`, after each
batch of 4 from the 20th trial on): how often they settle, after how many trials, and how
often the whole budget would have recommended a trial instead (the answer the stop changed).
It asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _stamp import write_json

from sweeper.config import Task
from sweeper.evaluation import (
    RESAMPLES,
    bootstrap_f1,
    compare_choice,
    fbeta,
    paired_differences,
    resample_weights,
)
from sweeper.study import (
    GAIN_MARGIN,
    SETTLE_MIN_TRIALS,
    noise_margin,
    settle_risk,
)
from sweeper.study._front import SETTLE_GAIN, SETTLE_RECENT, SETTLE_RISK

BASELINES = 3
SHARED, OWN = 0.8, 0.6
"""Standard deviations of the shared and of each model's own score noise."""
BASE_SIGNAL = 1.6
TEST_ROWS = 400_000
CELLS = [(300, 5), (300, 50), (3_000, 5), (3_000, 50), (3_000, 500), (30_000, 50),
         (30_000, 500)]
GAINS = [0.0, 0.02, 0.05, 0.10]
STOP_CELLS = [(300, 50), (3_000, 500), (30_000, 500)]


def best_threshold_f1(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold of highest F1 among 96 quantiles of the scores, and that F1."""
    thresholds = np.quantile(scores, np.linspace(0.5, 0.999, 96))
    decided = scores[:, None] >= thresholds[None, :]
    positive = y.astype(bool)[:, None]
    tp = (decided & positive).sum(axis=0)
    predicted = decided.sum(axis=0)
    recall = tp / max(int(y.sum()), 1)
    precision = np.divide(tp, predicted, out=np.zeros(tp.shape), where=predicted > 0)
    f1 = fbeta(recall, precision)
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


def true_f1(signal: float, prevalence: float, rng: np.random.Generator) -> float:
    """A model's F1 at its best threshold on the test rows (at least 2,000 positives: at a
    prevalence of 1/600, 400,000 rows measured an F1 of 0.08 to +-25%, too coarse to set a
    gain)."""
    rows = max(TEST_ROWS, int(2000 / prevalence))
    y = (rng.random(rows) < prevalence).astype(np.int8)
    noise = rng.normal(0, SHARED, rows) + rng.normal(0, OWN, rows)
    return best_threshold_f1(y, signal * y + noise)[1]


def signal_for(target: float, prevalence: float) -> float:
    """The signal whose true F1 is ``target`` (bisection, common random numbers)."""
    low, high = 0.0, 8.0
    for _ in range(20):
        middle = (low + high) / 2
        if true_f1(middle, prevalence, np.random.default_rng(1)) < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def scored(rows: int, positives: int, signals: np.ndarray, seed: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Every model's validation F1 at its best threshold and its resampled F1s."""
    rng = np.random.default_rng(seed)
    y = np.zeros(rows, np.int8)
    y[rng.choice(rows, positives, replace=False)] = 1
    shared = rng.normal(0, SHARED, rows)
    weights = resample_weights(rows, seed)
    f1, resampled = [], []
    for signal in signals:
        scores = signal * y + shared + rng.normal(0, OWN, rows)
        threshold, value = best_threshold_f1(y, scores)
        f1.append(value)
        resampled.append(bootstrap_f1(y[:, None], (scores >= threshold)[:, None],
                                      Task.BINARY, "micro", weights))
    return np.asarray(f1), np.stack(resampled)


def stop_replicate(rows: int, positives: int, signals: np.ndarray, seed: int,
                   batch: int = 4) -> dict[str, object]:
    """One study of ``len(signals) - BASELINES`` trials judged as ``stop = "settled"`` judges
    it after each batch from the minimum on: where it would stop, and whether the whole budget
    would have recommended a trial (the answer the stop changed)."""
    f1, resampled = scored(rows, positives, signals, seed)
    base_f1, base_resampled = f1[:BASELINES], resampled[:BASELINES]
    trial_f1, trial_resampled = f1[BASELINES:], resampled[BASELINES:]
    budget = trial_f1.size
    full = compare_choice(trial_f1, trial_resampled, base_f1, base_resampled).beats
    for n in range(SETTLE_MIN_TRIALS, budget, batch):
        comparison = compare_choice(trial_f1[:n], trial_resampled[:n], base_f1,
                                    base_resampled)
        if comparison.beats:
            continue
        recent = slice(n - max(SETTLE_RECENT, n // 2), n)
        differences, _, errors = paired_differences(trial_f1[recent], trial_resampled[recent],
                                                    base_f1, base_resampled)
        if comparison.critical * float(np.median(errors)) < SETTLE_GAIN * base_f1.max():
            continue  # a trial 10% better could still be recommended (as settlement() reads)
        if settle_risk(differences, errors, comparison.critical, budget - n) < SETTLE_RISK:
            return {"stopped_at": n, "changed": bool(full)}
    return {"stopped_at": None, "changed": False}


def run_stop_cell(rows: int, positives: int, gain: float, trials: int, replicates: int,
                  rng: np.random.Generator) -> dict[str, object]:
    """The settled stop on ``replicates`` studies of ``trials`` trials (the candidate, if any,
    at a random place in the sequence)."""
    prevalence = positives / rows
    base_truth = true_f1(BASE_SIGNAL, prevalence, np.random.default_rng(1))
    candidate = (signal_for(base_truth * (1 + gain), prevalence) if gain > 0
                 else BASE_SIGNAL)
    stopped, changed, used = 0, 0, []
    for _ in range(replicates):
        ordinary = list(BASE_SIGNAL * rng.uniform(0.9, 1.0, trials - 1))
        ordinary.insert(int(rng.integers(trials)), candidate)
        signals = np.concatenate([[BASE_SIGNAL] * BASELINES, ordinary])
        outcome = stop_replicate(rows, positives, signals, seed=int(rng.integers(2**31)))
        if outcome["stopped_at"] is not None:
            stopped += 1
            used.append(outcome["stopped_at"])
            changed += bool(outcome["changed"])
    return {"rows": rows, "positives": positives, "gain": gain, "trials": trials,
            "replicates": replicates, "settled": stopped / replicates,
            "mean_trials_when_settled": float(np.mean(used)) if used else None,
            "changed_answer": changed / replicates}


def replicate(rows: int, positives: int, signals: np.ndarray, seed: int) -> dict[str, int]:
    """One simulated study: ``signals`` are the baselines' then the trials' (the candidate
    last). Returns which trial (or -1 for a baseline) each rule recommends."""
    f1_array, resampled_array = scored(rows, positives, signals, seed)
    base_f1, trial_f1 = f1_array[:BASELINES], f1_array[BASELINES:]
    best_trial = int(np.argmax(trial_f1))
    baseline = float(base_f1.max())
    required = max(GAIN_MARGIN, noise_margin(baseline, positives))
    unpaired = best_trial if trial_f1[best_trial] > baseline * (1 + required) else -1
    comparison = compare_choice(trial_f1, resampled_array[BASELINES:], base_f1,
                                resampled_array[:BASELINES])
    paired = best_trial if comparison.beats else -1
    return {"unpaired": unpaired, "paired": paired}


def run_cell(rows: int, positives: int, gain: float, trials: int, replicates: int,
             rng: np.random.Generator) -> dict[str, object]:
    prevalence = positives / rows
    base_truth = true_f1(BASE_SIGNAL, prevalence, np.random.default_rng(1))
    candidate = (signal_for(base_truth * (1 + gain), prevalence) if gain > 0
                 else BASE_SIGNAL)
    counts = {rule: {"better": 0, "not_better": 0} for rule in ("unpaired", "paired")}
    for _ in range(replicates):
        ordinary = BASE_SIGNAL * rng.uniform(0.9, 1.0, trials - 1)
        signals = np.concatenate([[BASE_SIGNAL] * BASELINES, ordinary, [candidate]])
        chosen = replicate(rows, positives, signals, seed=int(rng.integers(2**31)))
        for rule, trial in chosen.items():
            if trial < 0:
                continue
            truly = gain > 0 and trial == trials - 1
            counts[rule]["better" if truly else "not_better"] += 1
    return {
        "rows": rows, "positives": positives, "gain": gain, "trials": trials,
        "replicates": replicates, "baseline_true_f1": base_truth,
        "candidate_true_f1": true_f1(candidate, prevalence, np.random.default_rng(2)),
        **{rule: {"power": c["better"] / replicates,
                  "false_alarms": c["not_better"] / replicates}
           for rule, c in counts.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop-replicates", type=int, default=0,
                        help="also judge the settled stop on this many 40-trial studies a "
                             "cell (0: not)")
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    stops = []
    if arguments.stop_replicates:
        print(f"{'rows':>7} {'pos':>4} {'gain':>5} | settled  mean trials  answer changed")
        for rows, positives in STOP_CELLS:
            for gain in (0.0, 0.05, 0.10):
                cell = run_stop_cell(rows, positives, gain, 40, arguments.stop_replicates, rng)
                stops.append(cell)
                mean = cell["mean_trials_when_settled"]
                print(f"{rows:>7} {positives:>4} {gain:>5.0%} | {cell['settled']:>7.2f} "
                      f"{'-' if mean is None else f'{mean:.1f}':>12} "
                      f"{cell['changed_answer']:>15.2f}", flush=True)
        if arguments.replicates == 0:
            write_json(arguments.json, "verdict_calibration", {"stop": stops})
            return
    started = time.perf_counter()
    cells = []
    print(f"{'rows':>7} {'pos':>4} {'gain':>5} | {'unpaired power':>14} {'false':>6} | "
          f"{'paired power':>12} {'false':>6}")
    for rows, positives in CELLS:
        for gain in GAINS:
            cell = run_cell(rows, positives, gain, arguments.trials, arguments.replicates, rng)
            cells.append(cell)
            old, new = cell["unpaired"], cell["paired"]
            print(f"{rows:>7} {positives:>4} {gain:>5.0%} | {old['power']:>14.2f} "
                  f"{old['false_alarms']:>6.2f} | {new['power']:>12.2f} "
                  f"{new['false_alarms']:>6.2f}", flush=True)
    result = {"resamples": RESAMPLES,
              "baselines": BASELINES, "trials": arguments.trials,
              "replicates": arguments.replicates, "seconds": time.perf_counter() - started,
              "cells": cells, "stop": stops}
    write_json(arguments.json, "verdict_calibration", result)


if __name__ == "__main__":
    main()
