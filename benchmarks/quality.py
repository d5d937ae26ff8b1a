"""Quality: how close the sweeper's front comes to the best achievable, and to the baselines.

Run ``python benchmarks/quality.py --json OUT.json [--trials 60]``. In one process, for each of
``studies/seed-multilabel.toml`` and ``studies/longtail-multilabel.toml`` (into a temporary
SQLite file, ``--trials`` trials), it runs the sweeper through its Python API (what
``sweeper run`` and ``sweeper report`` call), then writes per data set:

- ``hv_front``: the hypervolume (reference point recall 0, precision 0) on the test split of the
  front the sweeper reports: operating points chosen on validation, read on test;
- ``hv_optimal``: the hypervolume of the Bayes-optimal micro PR curve on the same test split:
  for seed-multilabel in closed form (:func:`sweeper.data.seed_multilabel_optimal_hypervolume`),
  for longtail-multilabel from ranking every (row, label) pair by its true posterior
  (:meth:`sweeper.data.LongtailSpec.posterior`, :func:`sweeper.evaluation.ranking_front`);
- ``hv_ratio = hv_front / hv_optimal``;
- ``hv_baselines``: each baseline's test hypervolume (its whole curve), and the verdict line;
- ``trials``: complete trials used, and the wall time of the run.

Then, on small real data sets bundled with scikit-learn and made long-tailed
(``benchmarks/real_sets.py``; ``pip install -e ".[bench]"``), it sweeps each as a newcomer would
(``sweeper.sweep(X, y, trials=...)`` with every other setting at its default) and writes per set:

- ``hv_front`` and ``hv_baselines``: test hypervolumes of the front and of each baseline's
  whole curve, and ``hv_vs_best_baseline`` (their ratio);
- ``recommended``: the verdict's point (what ``export`` without a rule writes), ``baseline``:
  the best baseline's point; for both the test F1 the sweep recorded, and
  ``retrained_f1``: mean and standard deviation of the test F1 of the exported JSON trained
  again by independent Keras code (``real_sets.retrain_f1``) with 5 seeds.

It prints tables and writes the JSON. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import optuna

import sweeper
from sweeper.api import prepare_study_file
from sweeper.config import Split
from sweeper.data import longtail_spec, seed_multilabel_optimal_hypervolume
from sweeper.evaluation import hypervolume_2d, ranking_front

RETRAIN_SEEDS = 5
STUDIES = Path(__file__).resolve().parent.parent / "studies"
DATA_SETS = {
    "seed-multilabel": STUDIES / "seed-multilabel.toml",
    "longtail-multilabel": STUDIES / "longtail-multilabel.toml",
}


def optimal_hypervolume(name: str, splits, seed: int) -> float:
    test = splits.test
    if name == "seed-multilabel":
        return seed_multilabel_optimal_hypervolume(test)
    return hypervolume_2d(ranking_front(test.y, longtail_spec(seed=seed).posterior(test.X)))


def measure(name: str, path: Path, trials: int, folder: Path) -> dict:
    prepared = prepare_study_file(
        path, storage=f"sqlite:///{folder / (name + '.db')}", trials=trials
    )
    started = time.perf_counter()
    report = prepared.run(progress=False).report()
    seconds = time.perf_counter() - started
    hv_front = report.hypervolume(Split.TEST)
    hv_optimal = optimal_hypervolume(name, prepared.splits, prepared.config.data.seed)
    baselines = {n: report.baseline_hypervolume(n, Split.TEST) for n in report.baselines}
    return {
        "study_file": str(path.relative_to(STUDIES.parent)),
        "trials": report.trial_states.get("COMPLETE", 0),
        "seconds": round(seconds, 1),
        "front_points": len(report.front),
        "front_trials": len(report.front_trials()),
        "hv_front": hv_front,
        "hv_front_validation": report.hypervolume(Split.VALIDATION),
        "hv_optimal": hv_optimal,
        "hv_ratio": hv_front / hv_optimal,
        "hv_baselines": baselines,
        "beats_every_baseline": all(hv_front > value for value in baselines.values()),
        "verdict": report.verdict.message,
    }


def _retrained(document: dict, splits) -> dict:
    from real_sets import retrain_f1

    scores = [retrain_f1(document, splits, seed) for seed in range(RETRAIN_SEEDS)]
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "seeds": scores}


def measure_real(name: str, trials: int, folder: Path) -> dict:
    """A newcomer's sweep of a real set: defaults everywhere but the budget."""
    from real_sets import load_real_set

    X, y, labels = load_real_set(name)
    started = time.perf_counter()
    prepared = sweeper.prepare(
        X, y, labels=labels, trials=trials, study_name=name,
        storage=f"sqlite:///{folder / (name + '-real.db')}",
    )
    result = prepared.run(progress=False)
    seconds = time.perf_counter() - started
    report = result.report()
    hv_front = report.hypervolume(Split.TEST)
    baselines = {n: report.baseline_hypervolume(n, Split.TEST) for n in report.baselines}
    verdict = report.verdict
    exported = {
        "recommended": result.export(),
        "baseline": result.export(baseline=verdict.best_baseline),
    }
    return {
        "rows": int(X.shape[0]),
        "task": result.info.task.value,
        "train_counts": list(result.info.train_counts),
        "model": result.info.model,
        "unevaluable": list(result.info.unevaluable),
        "trials": report.trial_states.get("COMPLETE", 0),
        "seconds": round(seconds, 1),
        "hv_front": hv_front,
        "hv_baselines": baselines,
        "hv_vs_best_baseline": hv_front / max(max(baselines.values()), 1e-12),
        "verdict": verdict.message,
        "weighting_pays": verdict.weighting_pays,
        **{
            role: {
                "trial": point.trial, "baseline": point.baseline,
                "epochs": point.document["training"]["epochs"],
                "sweep_test_f1": point.test["f1"],
                "retrained_f1": _retrained(point.document, prepared.splits),
            }
            for role, point in exported.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--trials", type=int, default=60, help="budget per study (default 60)")
    parser.add_argument("--real-trials", type=int, default=40,
                        help="budget per real data set (default 40)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "keras_backend": keras.backend.backend(),
        },
        "trials_budget": args.trials,
        "data_sets": {},
        "real_data_sets": {},
    }
    from real_sets import REAL_SETS

    with tempfile.TemporaryDirectory() as folder:
        for name, path in DATA_SETS.items():
            results["data_sets"][name] = measure(name, path, args.trials, Path(folder))
        for name in REAL_SETS:
            results["real_data_sets"][name] = measure_real(name, args.real_trials, Path(folder))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'data set':<22}{'trials':>7}{'hv_front':>10}{'hv_optimal':>12}{'hv_ratio':>10}"
          "  baselines (test hypervolume)")
    for name, row in results["data_sets"].items():
        baselines = ", ".join(f"{n} {v:.4f}" for n, v in row["hv_baselines"].items())
        print(f"{name:<22}{row['trials']:>7}{row['hv_front']:>10.4f}{row['hv_optimal']:>12.4f}"
              f"{row['hv_ratio']:>10.3f}  {baselines}")
        print(f"{'':<22}{row['verdict']}")
    print(f"\n{'real data set':<20}{'rows':>6}{'hv front/best':>15}  "
          f"{'recommended: test F1 (retrained)':<38}{'best baseline: test F1 (retrained)':<38}")
    for name, row in results["real_data_sets"].items():
        cells = []
        for role in ("recommended", "baseline"):
            point = row[role]
            who = point["baseline"] or f"trial {point['trial']}"
            again = point["retrained_f1"]
            cells.append(f"{who} {point['sweep_test_f1']:.3f} "
                         f"({again['mean']:.3f}+-{again['std']:.3f})")
        print(f"{name:<20}{row['rows']:>6}{row['hv_vs_best_baseline']:>15.3f}  "
              f"{cells[0]:<38}{cells[1]:<38}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
