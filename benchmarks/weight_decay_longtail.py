"""Does a searched weight decay let a trial beat the best baseline on a long tail?

Run ``python benchmarks/weight_decay_longtail.py --json OUT.json [--seeds 2] [--trials 16]``.
For each seed, on ``builtin:shapes-longtail``'s pool (8x8 images, ten classes of 500 down to
10) with the small conv net of ``studies/models.py`` (as ``benchmarks/remedies_quality.py``), two
sweeps with the same seeds, one validation split and ``stop = "budget"``: every remedy searched
without weight decay, and the same with ``[search] weight_decay = [1e-5, 1e-1]`` (log). For
each: the paired comparison of the best trial with the best baseline (its difference in
validation macro F1 and 95% bound), the recommended point, and its export retrained by plain
Keras (``remedies_quality.retrain``) and scored on a balanced test set. ``--real-set NAME``
runs the same comparison on a set of ``benchmarks/real_sets.py`` with the built-in MLP and
every default, reading the recommended point's test F1 from the study. It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import optuna

import sweeper
from sweeper.config import DataConfig
from sweeper.data import dataset_from_arrays, make_shapes_longtail, make_splits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stamp import write_json
from remedies_quality import BATCH, EPOCHS, RATE, REMEDIES, conv, retrain

DECAY_RANGE = [1e-5, 1e-1]


def measure(seed: int, trials: int, folder: Path, decay: bool) -> dict:
    pool = make_shapes_longtail(seed=seed)
    balanced = make_shapes_longtail(head=50, imbalance=1.0, seed=1000 + seed)
    search: dict = {"remedies": REMEDIES}
    if decay:
        search["weight_decay"] = DECAY_RANGE
    started = time.perf_counter()
    name = f"seed{seed}-{'decay' if decay else 'plain'}"
    result = sweeper.sweep(
        pool.X, pool.y, labels=pool.labels, trials=trials, data={"folds": 1, "seed": seed},
        model={"factory": conv, "epochs": EPOCHS, "batch_size": BATCH, "learning_rate": RATE},
        search=search, storage=f"sqlite:///{folder / f'{name}.db'}", study_name=name,
        progress=False, stop="budget",
    )
    splits = make_splits(dataset_from_arrays(pool.X, pool.y, labels=pool.labels),
                         DataConfig(folds=1, seed=seed))
    X, y = np.asarray(splits.train.X), np.asarray(splits.train.y)
    recommended = result.export()
    return {"seed": seed, **summary(result, decay, started),
            "recommended": {"baseline": recommended.baseline, "trial": recommended.trial,
                            **retrain(recommended, X, y, balanced.X, balanced.y)}}


def summary(result, decay: bool, started: float) -> dict:
    """What both measurements report of a sweep: the paired comparison of its best trial with
    its best baseline, and the verdict."""
    recommendation = result.report().recommendation
    best, comparison = recommendation.best_trial, recommendation.comparison
    return {
        "weight_decay_searched": decay, "sweep_s": time.perf_counter() - started,
        "comparison": None if comparison is None else comparison.to_dict(),
        "best_trial": None if best is None else {
            "trial": best.record.number, "validation_f1": best.f1(),
            "weight_decay": best.record.candidate.weight_decay,
            "remedy": best.record.candidate.remedy},
        "best_baseline": recommendation.best_baseline.baseline,
        "best_baseline_validation_f1": recommendation.best_baseline.f1(),
        "verdict": result.verdict.message,
    }


def measure_real(name: str, trials: int, folder: Path, decay: bool) -> dict:
    """The same comparison on a real set of ``benchmarks/real_sets.py`` with the built-in MLP
    and every default (automatic epochs and folds); the recommended point's test F1 as the
    study reads it (no retraining)."""
    from real_sets import load_real_set

    X, y, labels = load_real_set(name)
    search: dict = {"remedies": REMEDIES}
    if decay:
        search["weight_decay"] = DECAY_RANGE
    started = time.perf_counter()
    study = f"{name}-{'decay' if decay else 'plain'}"
    result = sweeper.sweep(X, y, labels=labels, trials=trials, search=search, progress=False,
                           storage=f"sqlite:///{folder / f'{study}.db'}", study_name=study,
                           stop="budget")
    point = result.report().recommendation.point
    return {"set": name, **summary(result, decay, started),
            "recommended": {"baseline": point.baseline,
                            "trial": None if point.baseline else point.record.number,
                            "macro_f1": point.f1(sweeper.Split.TEST)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--real-set", default=None,
                        help="a set of benchmarks/real_sets.py instead of the shapes")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweeper.logs.set_level("warning")
    rows = []
    print(f"{'seed':>4} {'decay':>5} | {'best trial F1':>13} {'best baseline':>22} | "
          f"{'difference [95% bound]':>26} | recommended (balanced test macro F1)")
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):
            for decay in (False, True):
                row = (measure(seed, args.trials, Path(folder), decay) if args.real_set is None
                       else measure_real(args.real_set, args.trials, Path(folder), decay))
                rows.append(row)
                c = row["comparison"] or {}
                recommended = row["recommended"]
                who = (recommended["baseline"] if recommended["baseline"]
                       else f"trial {recommended['trial']}")
                print(f"{seed:>4} {'yes' if decay else 'no':>5} | "
                      f"{row['best_trial']['validation_f1']:>13.3f} "
                      f"{row['best_baseline']:>14} {row['best_baseline_validation_f1']:.3f} | "
                      f"{c.get('difference', float('nan')):+.3f} "
                      f"[{c.get('low', float('nan')):+.3f}, {c.get('high', float('nan')):+.3f}]"
                      f"      | {who} ({recommended['macro_f1']:.3f})", flush=True)
    write_json(args.json, "weight_decay_longtail", {"backend": keras.backend.backend(),
                                                     "trials": args.trials,
                                                     "decay_range": DECAY_RANGE, "runs": rows})


if __name__ == "__main__":
    main()
