"""Time and peak memory of a sweep as the labels and the rows grow (issue 30's measurement).

Run ``python benchmarks/scaling.py --json OUT.json [--cells 30x30000 300x30000 ...]``. Each cell
``LABELSxROWS`` runs in a fresh process, as a notebook user would: in-memory NumPy arrays (64
float32 features, int8 0/1 labels, about one positive in ten per label), ``sweeper.prepare(X,
y, trials=8, model={"hidden": [128], "epochs": 3, "batch_size": 512}, data={"folds": 1},
stop="budget")``, then ``run()``, then ``report()``. After each phase the process's peak
resident memory so far (``ru_maxrss``) and the phase's seconds are written; the input's bytes
(X and y) are given beside them, with the budget issue 30 sets (1 GB plus three times the
input). A phase's peak is the process's peak up to its end: a later phase that needs less
shows the earlier peak. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_CELLS = ["30x30000", "300x30000"]
CHILD = "--child"


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(labels: int, rows: int, folder: Path) -> dict:
    """One cell, measured in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    import sweeper

    sweeper.logs.set_level("warning")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 64)).astype(np.float32)
    y = (rng.random((rows, labels)) < 0.1).astype(np.int8)
    X[:, :8] += y[:, :8]  # a little signal
    phases = {"start": {"seconds": 0.0, "peak_mb": peak_mb()}}
    started = time.perf_counter()
    prepared = sweeper.prepare(
        X, y, trials=8, model={"hidden": [128], "epochs": 3, "batch_size": 512},
        data={"folds": 1}, stop="budget", storage=f"sqlite:///{folder / 'scaling.db'}",
        study_name=f"s{labels}x{rows}")
    phases["prepare"] = {"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}
    started = time.perf_counter()
    result = prepared.run(progress=False)
    phases["train, score, store"] = {"seconds": time.perf_counter() - started,
                                     "peak_mb": peak_mb()}
    started = time.perf_counter()
    result.report()
    phases["report"] = {"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}
    input_mb = (X.nbytes + y.nbytes) / 2**20
    return {"labels": labels, "rows": rows, "input_mb": input_mb,
            "budget_mb": 1024 + 3 * input_mb, "phases": phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--cells", nargs="*", default=DEFAULT_CELLS)
    parser.add_argument(CHILD, nargs=2, type=str, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        cell, folder = arguments.child
        labels, rows = (int(part) for part in cell.split("x"))
        print(json.dumps(child(labels, rows, Path(folder))))
        return
    import tempfile

    results = []
    print(f"{'labels':>6} {'rows':>9} {'input MB':>9} {'budget MB':>10} | phase: seconds, "
          "peak MB so far")
    for cell in arguments.cells:
        with tempfile.TemporaryDirectory() as folder:
            done = subprocess.run([sys.executable, __file__, CHILD, cell, folder],
                                  capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(row)
        phases = "; ".join(f"{name} {p['seconds']:.1f} s, {p['peak_mb']:.0f}"
                           for name, p in row["phases"].items() if name != "start")
        print(f"{row['labels']:>6} {row['rows']:>9} {row['input_mb']:>9.1f} "
              f"{row['budget_mb']:>10.0f} | {phases}", flush=True)
    if arguments.json:
        arguments.json.write_text(json.dumps({"benchmark": "scaling", "cells": results},
                                             indent=2) + "\n")


if __name__ == "__main__":
    main()
