"""Which remedy, on a long-tailed image set with a conv net: the recommended export against each
baseline, retrained by plain Keras code and scored on a balanced test split.

Run ``python benchmarks/remedies_quality.py --json OUT.json [--seeds 3] [--trials 16]`` (or
``benchmarks/quality.py``, whose last part it is). For each seed, in one process:

1. the long-tailed training pool: ``builtin:shapes-longtail`` (8x8 uint8 images, ten classes of
   500 down to 10, imbalance 50) drawn with that seed, and a **balanced** test set of 50 images
   per class drawn from the same generator with another seed (never seen by the sweep);
2. ``sweeper.sweep`` on the pool with a small conv factory, every remedy searched (weights,
   deferred, focal, logit-adjusted), one validation split;
3. the recommended export (what ``export`` writes without a rule) and every baseline's export,
   each trained again from its JSON by plain Keras code: a fresh conv net (seed 0), compiled with
   the export's ``loss()`` and ``optimizer()`` (two phases for a deferred export, as
   ``weight_schedule()`` documents), Keras's own ``fit`` (shuffled batches, not the sweeper's
   order) on the sweep's training rows for the export's epochs, decided by ``decide()`` (its tau),
   scored by this file's own balanced accuracy and macro F1 on the balanced test set.

It prints a table and writes the figures as JSON. It asserts nothing.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "studies"))
from _stamp import write_json
from models import small_conv  # studies/models.py, as studies/shapes-longtail.toml imports it

EPOCHS, BATCH, RATE = 40, 64, 0.01
REMEDIES = ["weights", "deferred", "focal", "logit_adjusted"]


conv = small_conv  # the conv net studies/shapes-longtail.toml trains


def scores(truth: np.ndarray, decided: np.ndarray, classes: int) -> dict[str, float]:
    """Balanced accuracy (the mean per-class recall) and macro F1, counted here."""
    recalls, f1s = [], []
    for c in range(classes):
        tp = float(np.sum((decided == c) & (truth == c)))
        fp = float(np.sum((decided == c) & (truth != c)))
        fn = float(np.sum((decided != c) & (truth == c)))
        recalls.append(tp / (tp + fn) if tp + fn else 0.0)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {"balanced_accuracy": float(np.mean(recalls)), "macro_f1": float(np.mean(f1s))}


def retrain(exported, X: np.ndarray, y: np.ndarray, X_test: np.ndarray, y_test: np.ndarray):
    keras.utils.set_random_seed(0)
    model = conv(X.shape[1:], len(exported.labels))
    epochs = int(exported.document["training"]["epochs"])
    optimizer = exported.optimizer(steps_per_epoch=-(-len(X) // BATCH))
    switch = exported.weight_schedule()
    if switch:
        model.compile(optimizer=optimizer, loss=exported.loss(weighted=False))
        model.fit(X, y, epochs=switch, batch_size=BATCH, verbose=0)
    model.compile(optimizer=optimizer, loss=exported.loss())
    model.fit(X, y, epochs=epochs, initial_epoch=switch, batch_size=BATCH, verbose=0)
    decided = exported.decide(keras.ops.convert_to_numpy(model(X_test)))
    return scores(y_test, np.asarray(decided), len(exported.labels))


def measure(seed: int, trials: int, folder: Path, epochs: int) -> dict:
    pool = make_shapes_longtail(seed=seed)
    balanced = make_shapes_longtail(head=50, imbalance=1.0, seed=1000 + seed)
    started = time.perf_counter()
    result = sweeper.sweep(
        pool.X, pool.y, labels=pool.labels, trials=trials, data={"folds": 1, "seed": seed},
        model={"factory": conv, "epochs": epochs, "batch_size": BATCH, "learning_rate": RATE},
        search={"remedies": REMEDIES}, storage=f"sqlite:///{folder / f'seed{seed}.db'}",
        study_name=f"seed{seed}", progress=False,
    )
    splits = make_splits(dataset_from_arrays(pool.X, pool.y, labels=pool.labels),
                         DataConfig(folds=1, seed=seed))  # the rows the sweep trained on
    X, y = np.asarray(splits.train.X), np.asarray(splits.train.y)
    recommended = result.export()
    row = {
        "seed": seed, "sweep_s": time.perf_counter() - started,
        "verdict": result.verdict.message,
        "recommended": {"baseline": recommended.baseline, "trial": recommended.trial,
                        "remedy": recommended.document.get("remedy"),
                        **retrain(recommended, X, y, balanced.X, balanced.y)},
        "baselines": {},
    }
    for name in result.baselines:
        exported = result.export(baseline=name)
        row["baselines"][name] = retrain(exported, X, y, balanced.X, balanced.y)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="[model] epochs (a cap: "
                        "early stopping ends sooner)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sweeper.logs.set_level("warning")
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(seed, args.trials, Path(folder), args.epochs)
                for seed in range(args.seeds)]
    figures = {"backend": keras.backend.backend(), "trials": args.trials, "epochs": args.epochs,
               "remedies": REMEDIES, "seeds": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, "remedies_quality", figures)
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    """Each export's figures per seed, and what the verdict recommended."""
    names = ["recommended", *rows[0]["baselines"]]
    print(f"{'export':>22} " + " ".join(f"{'seed ' + str(r['seed']):>13}" for r in rows)
          + "   (balanced accuracy / macro F1 on the balanced test set)")
    for name in names:
        cells = []
        for r in rows:
            figure = r["recommended"] if name == "recommended" else r["baselines"][name]
            cells.append(f"{figure['balanced_accuracy']:.3f}/{figure['macro_f1']:.3f}")
        print(f"{name:>22} " + " ".join(f"{c:>13}" for c in cells))
    for r in rows:
        print(f"seed {r['seed']}: recommended {r['recommended']['baseline'] or 'trial'} "
              f"{r['recommended']['trial']} remedy {r['recommended']['remedy']}")


if __name__ == "__main__":
    main()
