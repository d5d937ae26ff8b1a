"""Throughput: seconds per trial of the sweeper against the naive one-``fit``-per-trial loop.

Run ``python benchmarks/throughput.py --json OUT.json``. In one process, on the same data
(seed-multilabel: 18,006 training rows after the split), the seed MLP (30-100-100-30), 10 epochs
and batch 256, it measures:

- ``naive``: an Optuna multi-objective study (SQLite) whose objective builds a Keras model, calls
  ``model.fit`` once per trial with the sweeper's weighted loss, and scores the validation split
  at the trial's threshold with the sweeper's metrics, as Optuna's Keras examples do;
- ``sweeper``: the sweeper's own run loop (``sweeper.PreparedSweep.run``, SQLite, packed
  training, full per-trial records) for the same number of trials;
- the machine's float32 matrix-product peak (sustained over 3 s of 4096 x 4096 products; the
  best single product is reported too, as ``matmul_burst_gflops``), the trial's arithmetic
  (6 x rows x epochs x multiply-adds per row: forward 2, backward 4) and the time that
  arithmetic takes at that peak;
- the peak resident memory of each side (sampled every 20 ms, above the process's baseline);
- for the sweeper, the share of wall time spent outside training (sampler, storage, scoring:
  1 - the trials' summed training seconds / wall seconds);
- on a machine with ``nvidia-smi``, the GPU's utilisation and memory, sampled every 200 ms while
  each side runs (mean and max).

- with ``--fit-trials N``, the sweeper's run loop with a training step of the user's own
  (``[model] fit``: ``model.compile`` and one ``model.fit`` per trial, the same epochs and
  batch size), which is not packed: what a user's own loop costs against the packed path,
  everything else (storage, records, scoring) the same.

``--packs 64 256 1024`` runs the sweeper side once per pack size (``auto``: the size
``sweeper run`` chooses), each in its own study. On a GPU with the JAX backend::

    KERAS_BACKEND=jax python benchmarks/throughput.py --packs auto 64 256 1024 --json gpu.json

It prints a table and writes every figure as JSON. It asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import optuna
from _stamp import write_json

from sweeper.api import PreparedSweep, prepare
from sweeper.config import ModelConfig, SearchConfig
from sweeper.data import make_seed_multilabel
from sweeper.evaluation import evaluate, sigmoid
from sweeper.search import suggest_candidate
from sweeper.training import WeightedBinaryCrossentropy

HIDDEN = (100, 100)
EPOCHS = 10
BATCH = 256


class PeakMemory:
    """Peak resident set size above the starting one, sampled from /proc every 20 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = self.rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def above_start_mb(self) -> float:
        return (self.peak - self.start) / 2**20


class GpuUtilisation:
    """``nvidia-smi`` sampled every 200 ms while the ``with`` runs (nothing without one)."""

    def __enter__(self) -> GpuUtilisation:
        self.samples: list[tuple[float, float]] = []
        self._process = None
        if shutil.which("nvidia-smi"):
            self._process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits", "-lms", "200"],
                stdout=subprocess.PIPE, text=True,
            )
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        for line in self._process.stdout:
            try:
                utilisation, memory = (float(v) for v in line.split(",")[:2])
            except ValueError:
                continue
            self.samples.append((utilisation, memory))

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait()
            self._reader.join(timeout=2)

    def figures(self) -> dict[str, float] | None:
        if not self.samples:
            return None
        utilisation = [u for u, _ in self.samples]
        return {
            "gpu_utilisation_mean_pct": sum(utilisation) / len(utilisation),
            "gpu_utilisation_max_pct": max(utilisation),
            "gpu_memory_max_mib": max(m for _, m in self.samples),
            "samples": len(self.samples),
        }


def device_name() -> str:
    """What trains: the first accelerator of the backend, else the CPU."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        return f"jax {device.platform}: {device.device_kind}"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"tensorflow: {gpus[0].name}" if gpus else "tensorflow: cpu"
    return backend


def matmul_peak_flops(size: int = 4096, seconds: float = 3.0) -> tuple[float, float]:
    """The backend's float32 matrix-product rate in FLOP/s: sustained over ``seconds`` of
    back-to-back ``size`` x ``size`` products (what the machine keeps up), and the best single
    product (a burst, often at a turbo clock the machine cannot hold)."""
    a = keras.random.normal((size, size), seed=1)
    b = keras.random.normal((size, size), seed=2)
    keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
    flops = 2 * size**3
    best, total, count = float("inf"), 0.0, 0
    while total < seconds:
        started = time.perf_counter()
        keras.ops.convert_to_numpy(keras.ops.matmul(a, b))
        elapsed = time.perf_counter() - started
        best, total, count = min(best, elapsed), total + elapsed, count + 1
    return flops * count / total, flops / best


def trial_flops(n_rows: int, n_features: int, n_outputs: int) -> float:
    sizes = (n_features, *HIDDEN, n_outputs)
    multiply_adds = sum(a * b for a, b in itertools.pairwise(sizes))
    return 6.0 * n_rows * EPOCHS * multiply_adds


def keras_fit_step(model, loss, arguments):
    """A user's training step as a newcomer writes it: compile, then one ``fit``."""
    model.compile(optimizer=arguments.optimizer(), loss=loss)
    model.fit(arguments.x, arguments.y, epochs=arguments.epochs,
              batch_size=arguments.batch_size, verbose=0)
    return model


def prepared_sweep(folder: Path, name: str, trials: int, pack: int | None,
                   fit=None) -> PreparedSweep:
    """The seed-multilabel sweep through the API: data checked and split, study created."""
    data = make_seed_multilabel(seed=0)
    return prepare(
        data.X, data.y, labels=data.labels, trials=trials, study_name=name,
        storage=f"sqlite:///{folder / name}.db",
        model=ModelConfig(hidden=HIDDEN, epochs=EPOCHS, batch_size=BATCH, pack=pack, fit=fit),
    )


def naive(folder: Path, prepared: PreparedSweep, trials: int) -> float:
    """One ``model.fit`` per trial inside ``study.optimize``; returns seconds per trial."""
    info = prepared.info
    train, validation = prepared.splits.train, prepared.splits.validation
    search = SearchConfig()

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        candidate = suggest_candidate(trial, search, "multilabel")
        weights = candidate.weights(np.asarray(info.train_counts), info.n_train, "multilabel")
        model = keras.Sequential(
            [keras.Input((train.X.shape[1],))]
            + [keras.layers.Dense(h, activation="relu") for h in HIDDEN]
            + [keras.layers.Dense(train.n_outputs)]
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=WeightedBinaryCrossentropy(pos_weight=weights))
        model.fit(train.X, train.y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
        logits = keras.ops.convert_to_numpy(model(validation.X))
        scores = sigmoid(logits)
        figures = evaluate(validation.y, scores, task="multilabel", average="micro",
                           threshold=candidate.threshold)
        return figures.recall, figures.precision

    study = optuna.create_study(
        storage=f"sqlite:///{folder / 'naive.db'}", study_name="naive",
        directions=["maximize", "maximize"], sampler=optuna.samplers.TPESampler(seed=0),
    )
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - started) / trials


def sweeper_path(folder: Path, trials: int, pack: int | None,
                 fit=None) -> dict[str, float | int]:
    """The sweeper's run loop: seconds per trial, the pack size it used, and the share of the
    wall time outside training."""
    from sweeper.study import TrialRecord

    name = "sweeper-fit" if fit is not None else f"sweeper-{pack or 'auto'}"
    prepared = prepared_sweep(folder, name, trials, pack, fit)
    started = time.perf_counter()
    prepared.run(progress=False)
    wall = time.perf_counter() - started
    records = [TrialRecord.from_trial(t) for t in prepared.study.get_trials()
               if TrialRecord.stored_in(t) is not None]
    searched = [r for r in records if r.baseline is None]
    training = sum(r.train_seconds for r in records)
    return {
        "s_per_trial": wall / trials,
        "pack": max(r.packed_members for r in searched),
        "training_s": training,
        "wall_s": wall,
        "outside_training_share": max(0.0, 1.0 - training / wall),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--trials", type=int, default=128, help="trials per side (default 128)")
    parser.add_argument("--naive-trials", type=int, default=None,
                        help="trials for the naive side (default: --trials)")
    parser.add_argument("--fit-trials", type=int, default=0,
                        help="also run N trials with a training step of the user's own "
                        "(not packed; default 0: skip)")
    parser.add_argument("--packs", nargs="+", default=["auto"], metavar="P",
                        help="the sweeper's pack sizes, one run each; auto: chosen as "
                        "`sweeper run` does (default: auto)")
    args = parser.parse_args()
    packs = [None if p == "auto" else int(p) for p in args.packs]
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    peak, burst = matmul_peak_flops()
    sweeper_runs = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        reference = prepared_sweep(folder, "info", args.trials, None)  # the same data and split
        splits = reference.splits
        flops = trial_flops(splits.train.X.shape[0], splits.train.X.shape[1],
                            splits.train.n_outputs)
        with PeakMemory() as naive_memory, GpuUtilisation() as naive_gpu:
            naive_s = naive(folder, reference, args.naive_trials or args.trials)
        for pack in packs:
            with PeakMemory() as memory, GpuUtilisation() as gpu:
                run = sweeper_path(folder, args.trials, pack)
            sweeper_runs.append({
                "requested_pack": pack or "auto",
                **run,
                "speedup_vs_naive": naive_s / run["s_per_trial"],
                "limit_ratio": run["s_per_trial"] / (flops / peak),
                "peak_memory_mb": memory.above_start_mb,
                "gpu": gpu.figures(),
            })
        user_step = None
        if args.fit_trials:
            with PeakMemory() as memory:
                user_step = sweeper_path(folder, args.fit_trials, None, fit=keras_fit_step)
            user_step.update({
                "trials": args.fit_trials,
                "peak_memory_mb": memory.above_start_mb,
                "slowdown_vs_packed": user_step["s_per_trial"] / sweeper_runs[0]["s_per_trial"],
                "speedup_vs_naive": naive_s / user_step["s_per_trial"],
            })

    figures = {
        "backend": keras.backend.backend(),
        "device": device_name(),
        "train_rows": int(splits.train.X.shape[0]),
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "trials": args.trials,
        "naive_trials": args.naive_trials or args.trials,
        "naive_s_per_trial": naive_s,
        "naive_peak_memory_mb": naive_memory.above_start_mb,
        "naive_gpu": naive_gpu.figures(),
        "matmul_peak_gflops": peak / 1e9,
        "matmul_burst_gflops": burst / 1e9,
        "trial_gflop": flops / 1e9,
        "flop_bound_s_per_trial": flops / peak,
        "sweeper": sweeper_runs,
        "user_step": user_step,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, "throughput", figures)
    for key, value in figures.items():
        if key not in ("sweeper", "user_step"):
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            print(f"{key.ljust(24)}  {shown}")
    print(f"{'pack':>6} {'s/trial':>9} {'x naive':>8} {'x bound':>8} {'outside':>8} "
          f"{'gpu mean%':>9}")
    for run in sweeper_runs:
        gpu = run["gpu"]["gpu_utilisation_mean_pct"] if run["gpu"] else float("nan")
        print(f"{run['pack']:>6} {run['s_per_trial']:>9.4f} {run['speedup_vs_naive']:>8.2f} "
              f"{run['limit_ratio']:>8.2f} {run['outside_training_share']:>8.1%} {gpu:>9.1f}")
    if user_step is not None:
        print(f"user step (not packed): {user_step['s_per_trial']:.4f} s/trial, "
              f"{user_step['slowdown_vs_packed']:.2f}x the packed path's, "
              f"{user_step['speedup_vs_naive']:.2f}x naive's speed")


if __name__ == "__main__":
    main()
