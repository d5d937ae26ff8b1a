"""Time and peak memory of a sweep per phase as the labels and the rows grow (issue 30).

Run ``python benchmarks/scaling.py --json OUT.json [--plot OUT.png] [--cells 30x30000
c10x30000 ...] [--backends tensorflow jax] [--baseline-tree DIR]``.

A cell ``LABELSxROWS`` is a multi-label problem, ``cCLASSESxROWS`` a multi-class one. Each cell
runs in a fresh process, as a notebook user would run it: in-memory NumPy arrays (64 float32
features; int8 0/1 labels with about one positive in ten per label, or int64 class ids drawn
with Zipf-like frequencies), ``sweeper.prepare(X, y, trials=8, model={"hidden": [128],
"epochs": 3, "batch_size": 512}, data={"folds": 1}, stop="budget")``, ``run()``, then
``report()``.

The phases: **prepare** (checks, splits, the study created), **train** (the packed trainer's
epochs), **score** (each member's probabilities on validation and test, and its record: curves,
thresholds, calibration, bootstrap), **store** (the rest of the run: asking, telling, writing
records) and **report**. A thread samples the process's resident memory every few
milliseconds; each phase's peak is the highest sample taken while it ran, and its seconds are
summed over its calls. The process's own peak (``ru_maxrss``) is given beside them, with the
input's bytes and the budget issue 30 sets: 1 GB plus three times the input.

``--baseline-tree DIR`` runs every cell a second time with the package imported from ``DIR``
(a checkout of an earlier commit), one after the other in the same run, and gives the ratios.
It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from _stamp import write_json

DEFAULT_CELLS = ["30x30000", "300x30000", "c10x30000", "c300x30000"]
PHASES = ("prepare", "train", "score", "store", "report")
CHILD = "--child"
SAMPLE_SECONDS = 0.005


def resident_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PhaseMeter:
    """Seconds and peak resident memory per phase; the innermost phase entered is charged."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.peak = dict.fromkeys(PHASES, 0.0)
        self.running = True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while self.running:
            if self.stack:
                phase = self.stack[-1]
                self.peak[phase] = max(self.peak[phase], resident_mb())
            time.sleep(SAMPLE_SECONDS)

    @contextmanager
    def phase(self, name: str):
        outer = self.stack[-1] if self.stack else None
        if outer is not None:
            self.seconds[outer] += time.perf_counter() - self._since
        self.stack.append(name)
        self.peak[name] = max(self.peak[name], resident_mb())
        self._since = time.perf_counter()
        try:
            yield
        finally:
            self.peak[name] = max(self.peak[name], resident_mb())
            self.seconds[name] += time.perf_counter() - self._since
            self.stack.pop()
            self._since = time.perf_counter()

    def wrap(self, owner: object, attribute: str, name: str) -> None:
        function = getattr(owner, attribute)

        def charged(*args, **kwargs):
            with self.phase(name):
                return function(*args, **kwargs)

        setattr(owner, attribute, charged)


def make_data(cell: str):
    import numpy as np

    multiclass = cell.startswith("c")
    outputs, rows = (int(part) for part in cell.lstrip("c").split("x"))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 64)).astype(np.float32)
    if multiclass:
        frequency = 1.0 / np.arange(1, outputs + 1)
        y = rng.choice(outputs, size=rows, p=frequency / frequency.sum())
        y[:outputs] = np.arange(outputs)  # every class present
        X[np.arange(rows), y % 64] += 1.0
    else:
        y = (rng.random((rows, outputs)) < 0.1).astype(np.int8)
        X[:, :8] += y[:, :8]
    return X, y, multiclass, outputs, rows


def child(cell: str, folder: Path) -> dict:
    """One cell, measured in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    X, y, multiclass, outputs, rows = make_data(cell)
    meter = PhaseMeter()
    import sweeper
    import sweeper.study._baselines as baselines
    import sweeper.study._runner as runner
    from sweeper.training import PackedTrainer

    sweeper.logs.set_level("error")
    start_mb = resident_mb()
    with meter.phase("prepare"):
        prepared = sweeper.prepare(
            X, y, trials=8, model={"hidden": [128], "epochs": 3, "batch_size": 512},
            data={"folds": 1}, stop="budget", storage=f"sqlite:///{folder / 'scaling.db'}",
            study_name="scaling")
    meter.wrap(PackedTrainer, "train", "train")
    if hasattr(PackedTrainer, "scores"):
        meter.wrap(PackedTrainer, "scores", "score")
    else:  # the code before issue 30's work scored through logits()
        meter.wrap(PackedTrainer, "logits", "score")
    meter.wrap(runner, "record_member", "score")
    meter.wrap(baselines, "record_member", "score")
    with meter.phase("store"):
        result = prepared.run(progress=False)
    with meter.phase("report"):
        result.report()
    meter.running = False
    input_mb = (X.nbytes + y.nbytes) / 2**20
    return {
        "cell": cell, "task": "multiclass" if multiclass else "multilabel",
        "outputs": outputs, "rows": rows, "input_mb": input_mb,
        "budget_mb": 1024 + 3 * input_mb, "start_mb": start_mb,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "phases": {name: {"seconds": meter.seconds[name], "peak_mb": meter.peak[name]}
                   for name in PHASES},
    }


def measure(cell: str, backend: str, tree: Path | None) -> dict:
    environment = {**os.environ, "KERAS_BACKEND": backend}
    if tree is not None:
        environment["PYTHONPATH"] = str(tree)
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run([sys.executable, __file__, CHILD, cell, folder],
                              capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        return {"cell": cell, "backend": backend, "error": done.stderr.strip()[-500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def total_seconds(row: dict) -> float:
    return sum(phase["seconds"] for phase in row["phases"].values())


def describe(row: dict) -> str:
    if "error" in row:
        return f"{row['cell']:>12} {row['backend']:>10} | failed: {row['error'][-120:]}"
    phases = " ".join(f"{p['seconds']:6.1f}s/{p['peak_mb']:5.0f}" for p in row["phases"].values())
    verdict = "within" if row["peak_mb"] <= row["budget_mb"] else "OVER"
    return (f"{row['cell']:>12} {row['backend']:>10} {row['input_mb']:8.1f} {row['budget_mb']:7.0f}"
            f" {row['peak_mb']:7.0f} {verdict:>6} | {phases}")


def plot(rows: list[dict], path: Path) -> None:
    """Peak memory and run seconds against labels (one line per task, rows and backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (memory, seconds) = plt.subplots(1, 2, figsize=(11, 4.2))
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if "error" not in row and not row.get("baseline"):
            groups.setdefault((row["task"], row["rows"], row["backend"]), []).append(row)
    for (task, n_rows, backend), cells in sorted(groups.items()):
        cells.sort(key=lambda row: row["outputs"])
        outputs = [row["outputs"] for row in cells]
        label = f"{task}, {n_rows:,} rows, {backend}"
        line, = memory.plot(outputs, [row["peak_mb"] for row in cells], "o-", label=label)
        memory.plot(outputs, [row["budget_mb"] for row in cells], ":", color=line.get_color())
        seconds.plot(outputs, [total_seconds(row) for row in cells], "o-",
                     color=line.get_color(), label=label)
    for axis, title in ((memory, "peak resident memory, MB (dotted: budget)"),
                        (seconds, "seconds, all phases")):
        axis.set_xscale("log")
        axis.set_xlabel("labels (multi-label) or classes (multi-class)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    seconds.set_yscale("log")
    memory.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--cells", nargs="*", default=DEFAULT_CELLS)
    parser.add_argument("--backends", nargs="*", default=["tensorflow"])
    parser.add_argument("--baseline-tree", type=Path)
    parser.add_argument(CHILD, nargs=2, type=str, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        cell, folder = arguments.child
        print(json.dumps(child(cell, Path(folder))))
        return
    print(f"{'cell':>12} {'backend':>10} {'input MB':>8} {'budget':>7} {'peak':>7} {'':>6} | "
          + " ".join(f"{name:>12}" for name in PHASES) + "  (seconds/peak MB)")
    results = []
    for cell in arguments.cells:
        for backend in arguments.backends:
            row = measure(cell, backend, None)
            results.append(row)
            print(describe(row), flush=True)
            if arguments.baseline_tree is not None:
                base = {**measure(cell, backend, arguments.baseline_tree), "baseline": True}
                results.append(base)
                ratio = "" if "error" in row or "error" in base else (
                    f"  peak ratio {row['peak_mb'] / base['peak_mb']:.2f}, seconds ratio "
                    f"{total_seconds(row) / total_seconds(base):.2f}")
                print(describe(base).replace(backend, "baseline", 1) + ratio, flush=True)
    if arguments.json:
        write_json(arguments.json, "scaling", {"cells": results})
    if arguments.plot:
        plot(results, arguments.plot)


if __name__ == "__main__":
    main()
