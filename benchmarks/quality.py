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

It prints a table and writes the JSON. It asserts nothing.
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
import optuna

from sweeper.api import prepare_study_file
from sweeper.config import Split
from sweeper.data import longtail_spec, seed_multilabel_optimal_hypervolume
from sweeper.evaluation import hypervolume_2d, ranking_front

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--trials", type=int, default=60, help="budget per study (default 60)")
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
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, path in DATA_SETS.items():
            results["data_sets"][name] = measure(name, path, args.trials, Path(folder))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'data set':<22}{'trials':>7}{'hv_front':>10}{'hv_optimal':>12}{'hv_ratio':>10}"
          "  baselines (test hypervolume)")
    for name, row in results["data_sets"].items():
        baselines = ", ".join(f"{n} {v:.4f}" for n, v in row["hv_baselines"].items())
        print(f"{name:<22}{row['trials']:>7}{row['hv_front']:>10.4f}{row['hv_optimal']:>12.4f}"
              f"{row['hv_ratio']:>10.3f}  {baselines}")
        print(f"{'':<22}{row['verdict']}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
