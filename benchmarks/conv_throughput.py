"""Packing for conv nets: seconds per trial of the sweeper with a Conv1D factory against one
``fit`` per trial, on a long-tailed sequence set.

Run ``python benchmarks/conv_throughput.py --json OUT.json`` (on either backend; the sweeper
packs a factory's members as one vmapped computation on JAX and as copies in one graph on
TensorFlow). In one process, on the same data (1,400 sequences of 64 steps, 10 classes from
500 down to 10 rows, one validation split) and the same model (three 32-filter Conv1D layers,
global pooling, a linear head), 10 epochs at batch 32 and no early stopping, it measures:

- ``naive``: one ``model.fit`` per trial with the trial's weighted loss (Keras's own loop,
  a fresh model each time), scored on the validation split;
- ``sweeper``: the sweeper's run loop (``sweeper.api.prepare(...).run()``: SQLite, packed
  training, records, the baselines' pass included) for the same trials, at each ``--packs``
  size, in each ``--layouts`` of the members (``copies``: one copy per member in one graph;
  ``vmapped``, JAX only: one model mapped over stacked variables);
- for each sweeper run, the share of wall time outside training.

It prints a table and writes the figures as JSON. It asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import optuna
from _stamp import write_json

from sweeper.api import prepare
from sweeper.study import TrialRecord
from sweeper.training import WeightedSparseCategoricalCrossentropy

EPOCHS, BATCH, STEPS = 10, 32, 64


def long_tailed_sequences(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes of 500 down to 10 sequences: class c is a bump at step 6c on noise."""
    rng = np.random.default_rng(seed)
    counts = np.round(500 * 50.0 ** (-np.arange(10) / 9)).astype(int)
    y = rng.permutation(np.repeat(np.arange(10), counts))
    X = rng.normal(size=(y.size, STEPS, 1)).astype(np.float32)
    for c in range(10):
        X[y == c, 6 * c:6 * c + 5, 0] += 1.5
    return X, y


def conv1d(input_shape: tuple[int, ...], n_outputs: int) -> keras.Model:
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv1D(32, 5, activation="relu"),
        keras.layers.Conv1D(32, 5, activation="relu"),
        keras.layers.Conv1D(32, 5, activation="relu"),
        keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(n_outputs),
    ])


MODEL = {"factory": conv1d, "epochs": EPOCHS, "batch_size": BATCH, "patience": 0}


def naive(prepared, trials: int) -> float:
    """One ``fit`` per trial (a fresh model, the trial's class weights); seconds per trial."""
    train, validation = prepared.splits.train, prepared.splits.validation
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for _ in range(trials):
        keras.utils.set_random_seed(0)
        model = conv1d(train.input_shape, train.n_outputs)
        weights = rng.uniform(0.5, 3.0, train.n_outputs)
        model.compile(optimizer="adam", loss=WeightedSparseCategoricalCrossentropy(weights))
        model.fit(train.X, train.y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
        keras.ops.convert_to_numpy(model(validation.X))
    return (time.perf_counter() - started) / trials


def sweeper_run(folder: Path, X, y, trials: int, pack: int, layout: str) -> dict[str, float]:
    name = f"{layout}-{pack}"
    prepared = prepare(X, y, trials=trials, study_name=name, data={"folds": 1},
                       storage=f"sqlite:///{folder / name}.db",
                       model={**MODEL, "pack": pack, "members": layout})
    network = type(_network(prepared, pack)).__name__
    started = time.perf_counter()
    prepared.run(progress=False)
    wall = time.perf_counter() - started
    records = [TrialRecord.from_trial(t) for t in prepared.study.get_trials()
               if TrialRecord.stored_in(t) is not None]
    training = sum(r.train_seconds for r in records)
    return {"pack": pack, "network": network, "s_per_trial": wall / trials, "wall_s": wall,
            "outside_training_share": max(0.0, 1.0 - training / wall)}


def _network(prepared, pack: int):
    from sweeper.training import PackedTrainer

    return PackedTrainer(prepared.splits, prepared.config.model, members=pack, seed=0,
                         factory=prepared.factory).network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=16, help="trials per side (default 16)")
    parser.add_argument("--packs", type=int, nargs="+", default=[8], help="pack sizes")
    parser.add_argument("--layouts", nargs="+", default=["auto"],
                        choices=["auto", "copies", "vmapped"],
                        help="[model] members layouts to run (default: auto)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = long_tailed_sequences()
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        reference = prepare(X, y, trials=args.trials, study_name="reference", data={"folds": 1},
                            storage=f"sqlite:///{folder / 'reference'}.db", model=MODEL)
        naive(reference, 1)  # warm-up: the backend's first compilation is not a trial's cost
        naive_s = naive(reference, args.trials)
        for pack in args.packs:
            for layout in args.layouts:
                runs.append(sweeper_run(folder, X, y, args.trials, pack, layout))
    for run in runs:
        run["speedup_vs_naive"] = naive_s / run["s_per_trial"]
    figures = {
        "backend": keras.backend.backend(),
        "rows": int(X.shape[0]), "epochs": EPOCHS, "batch_size": BATCH, "trials": args.trials,
        "naive_s_per_trial": naive_s, "sweeper": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, "conv_throughput", figures)
    print(f"backend {figures['backend']}, naive {naive_s:.3f} s per trial ({args.trials} trials)")
    print(f"{'network':>15} {'pack':>5} {'s/trial':>8} {'x naive':>8} {'outside':>8}")
    for run in runs:
        print(f"{run['network']:>15} {run['pack']:>5} {run['s_per_trial']:>8.3f} "
              f"{run['speedup_vs_naive']:>8.2f} {run['outside_training_share']:>8.1%}")


if __name__ == "__main__":
    main()
