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
(``benchmarks/real_sets.py``; ``pip install -e ".[bench]"``), on ``--real-seeds`` splits each
(``[data] seed`` 0, 1, ...: their test splits hold about a hundred rows, so one split's figures
move by a few percent), it sweeps each as a newcomer would
(``sweeper.sweep(X, y, trials=...)`` with every other setting at its default: automatic
epochs, batch size and cross-validation, standardised features) and writes per set:

- ``hv_front`` and ``hv_baselines``: test hypervolumes of the front and of each baseline's
  points chosen the same way (the baseline's own validation front, read on test), and
  ``hv_vs_best_baseline`` (their ratio); ``hv_baselines_whole_curve``: each baseline's whole
  test curve (every threshold, including those no validation split would pick);
- ``folds`` (the automatic cross-validation's K, 1 for one split) and ``front_spread``: the
  median over front points of the validation recall and precision spread across folds;
- ``recommended``: the verdict's point (what ``export`` without a rule writes), ``baseline``:
  the best baseline's point; for both the test F1 the sweep recorded, and
  ``retrained_f1``: mean and standard deviation of the test F1 of the exported JSON trained
  again by independent Keras code (``real_sets.retrain_f1``) with 5 seeds.

Last, the remedies on long-tailed images (``benchmarks/remedies_quality.py``, ``--image-seeds``
seeds, 0 to leave them out): ``builtin:shapes-longtail`` with a small conv net, every remedy
searched, the recommended export and each baseline's trained again by plain Keras code and
scored on a balanced test set (balanced accuracy, macro F1), under ``image_remedies``.

It prints tables and writes the JSON. It asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from _stamp import write_json

import sweeper
from sweeper.api import prepare_study_file
from sweeper.config import Split
from sweeper.data import (
    dataset_from_arrays,
    longtail_spec,
    make_splits,
    resolve_task,
    seed_multilabel_optimal_hypervolume,
)
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


def _raw_splits(X, y, labels, prepared):
    """The study's rows (test, and training: every non-test row under cross-validation) with
    their raw features: retraining applies the exported standardisation itself."""
    data = dataclasses.replace(prepared.config.data, standardize=False, folds=prepared.info.folds)
    dataset = resolve_task(dataset_from_arrays(X, y, labels=labels), data)  # binary as the sweep
    return make_splits(dataset, data)


def _median_spread(report) -> list[float] | None:
    """The median across front points of the recall and precision spread across folds."""
    spreads = [p.spread for p in report.front if p.spread is not None]
    return None if not spreads else np.median(np.asarray(spreads), axis=0).tolist()


def measure_real_split(name: str, trials: int, folder: Path, seed: int) -> dict:
    """A newcomer's sweep of a real set on the split of ``[data] seed``: defaults everywhere
    but the budget."""
    from real_sets import load_real_set

    X, y, labels = load_real_set(name)
    started = time.perf_counter()
    prepared = sweeper.prepare(
        X, y, labels=labels, trials=trials, study_name=f"{name}-{seed}",
        storage=f"sqlite:///{folder / (name + '-real.db')}", data={"seed": seed},
    )
    result = prepared.run(progress=False)
    seconds = time.perf_counter() - started
    report = result.report()
    hv_front = report.hypervolume(Split.TEST)
    baselines = {n: report.baseline_hypervolume(n, Split.TEST) for n in report.baselines}
    chosen = {
        n: report.baseline_hypervolume(n, Split.TEST, chosen_on_validation=True)
        for n in report.baselines
    }
    verdict = report.verdict
    raw = _raw_splits(X, y, labels, prepared)
    exported = {
        "recommended": result.export(),
        "baseline": result.export(baseline=verdict.best_baseline),
    }
    retrained = {}
    for point in exported.values():  # the same point twice is retrained once
        key = json.dumps(point.document, sort_keys=True)
        retrained[key] = retrained.get(key) or _retrained(point.document, raw)
    return {
        "seed": seed,
        "rows": int(X.shape[0]),
        "task": result.info.task.value,
        "train_counts": list(result.info.train_counts),
        "model": result.info.model,
        "unevaluable": list(result.info.unevaluable),
        "folds": result.info.folds,
        "trials": report.trial_states.get("COMPLETE", 0),
        "seconds": round(seconds, 1),
        "hv_front": hv_front,
        "hv_baselines": chosen,
        "hv_baselines_whole_curve": baselines,
        "hv_vs_best_baseline": hv_front / max(max(chosen.values()), 1e-12),
        "front_spread": _median_spread(report),
        "verdict": verdict.message,
        "weighting_pays": verdict.weighting_pays,
        **{
            role: {
                "trial": point.trial, "baseline": point.baseline,
                "epochs": point.document["training"]["epochs"],
                "sweep_test_f1": point.test["f1"],
                "retrained_f1": retrained[json.dumps(point.document, sort_keys=True)],
            }
            for role, point in exported.items()
        },
    }


def measure_real(name: str, trials: int, folder: Path, seeds: int) -> dict:
    """:func:`measure_real_split` on ``seeds`` splits (a test split of a hundred rows moves a
    hypervolume by a few percent), and the ratios and retrained F1s summarised over them."""
    splits = [measure_real_split(name, trials, folder, seed) for seed in range(seeds)]
    ratios = [row["hv_vs_best_baseline"] for row in splits]
    return {
        "rows": splits[0]["rows"],
        "task": splits[0]["task"],
        "hv_vs_best_baseline": {
            "mean": float(np.mean(ratios)), "min": float(np.min(ratios)),
            "max": float(np.max(ratios)),
        },
        **{
            f"{role}_retrained_f1": float(
                np.mean([row[role]["retrained_f1"]["mean"] for row in splits])
            )
            for role in ("recommended", "baseline")
        },
        "splits": splits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--trials", type=int, default=60, help="budget per study (default 60)")
    parser.add_argument("--real-trials", type=int, default=40,
                        help="budget per real data set (default 40)")
    parser.add_argument("--real-seeds", type=int, default=3,
                        help="splits ([data] seed 0, 1, ...) per real data set (default 3)")
    parser.add_argument("--image-seeds", type=int, default=3,
                        help="seeds of the remedies on long-tailed images (default 3; 0: none)")
    parser.add_argument("--image-trials", type=int, default=16,
                        help="budget per image sweep (default 16)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {
        "runtime": {
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
            results["real_data_sets"][name] = measure_real(
                name, args.real_trials, Path(folder), args.real_seeds
            )
        if args.image_seeds:
            import remedies_quality

            results["image_remedies"] = {
                "trials": args.image_trials, "epochs": remedies_quality.EPOCHS,
                "remedies": remedies_quality.REMEDIES,
                "seeds": [remedies_quality.measure(seed, args.image_trials, Path(folder),
                                                   remedies_quality.EPOCHS)
                          for seed in range(args.image_seeds)],
            }
    write_json(args.json, "quality", results)
    print(f"{'data set':<22}{'trials':>7}{'hv_front':>10}{'hv_optimal':>12}{'hv_ratio':>10}"
          "  baselines (test hypervolume)")
    for name, row in results["data_sets"].items():
        baselines = ", ".join(f"{n} {v:.4f}" for n, v in row["hv_baselines"].items())
        print(f"{name:<22}{row['trials']:>7}{row['hv_front']:>10.4f}{row['hv_optimal']:>12.4f}"
              f"{row['hv_ratio']:>10.3f}  {baselines}")
        print(f"{'':<22}{row['verdict']}")
    print(f"\n{'real data set':<20}{'seed':>5}{'folds':>6}{'hv front/best':>15}  "
          f"{'recommended: test F1 (retrained)':<38}{'best baseline: test F1 (retrained)':<38}")
    for name, summary in results["real_data_sets"].items():
        for row in summary["splits"]:
            cells = []
            for role in ("recommended", "baseline"):
                point = row[role]
                who = point["baseline"] or f"trial {point['trial']}"
                again = point["retrained_f1"]
                cells.append(f"{who} {point['sweep_test_f1']:.3f} "
                             f"({again['mean']:.3f}+-{again['std']:.3f})")
            print(f"{name:<20}{row['seed']:>5}{row['folds']:>6}"
                  f"{row['hv_vs_best_baseline']:>15.3f}  {cells[0]:<38}{cells[1]:<38}")
        ratio = summary["hv_vs_best_baseline"]
        print(f"{name:<20} mean{'':>6}{ratio['mean']:>15.3f}  retrained F1: recommended "
              f"{summary['recommended_retrained_f1']:.3f}, best baseline "
              f"{summary['baseline_retrained_f1']:.3f}")
    if "image_remedies" in results:
        print()
        remedies_quality.print_table(results["image_remedies"]["seeds"])
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
