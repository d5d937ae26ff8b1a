"""Storage cost per trial: ask + heartbeat + stored record + tell, for 1, 4 and 16 workers.

Run ``python benchmarks/storage.py --json OUT.json``. Each case runs the sweeper's real trial
loop (``sweeper.study.run_study``: budget counting, stale-trial checks, ask, worker heartbeat,
the full per-trial record of 30 labels with its two 57-point PR curves, tell) in N worker
processes on one fresh study, with training replaced by a trainer that returns random scores at
once, so what remains is what the storage costs. Cases:

- PostgreSQL directly, 1 / 4 / 16 workers (the machine's server, a fresh database per case);
- PostgreSQL through Optuna's gRPC storage proxy (``sweeper proxy``), 1 / 4 / 16 workers;
- SQLite, 1 worker.

Per case it writes ``trials_per_s`` (complete trials / wall time) and ``overhead_ms_per_trial``
(worker-seconds per trial: wall time x workers / trials, the time a worker spends per trial on
everything but training), and compares the 16-worker PostgreSQL cost with the training time of
one seed-multilabel trial on the sweeper's packed path (``--trial-seconds``; the default is what
``benchmarks/throughput.py`` measured on 2 CPU cores). Note that with 16 workers on 2 CPU cores
the workers also compete for the CPU: the figure is an upper bound of the storage cost.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from optuna.trial import TrialState

from sweeper.api import PreparedSweep, prepare
from sweeper.study import open_storage, run_study
from sweeper.training import PackedScores

LABELS = 30
ROWS = 300  # validation and test rows each; small, so computing the figures costs little
PACK = 8


def make_arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random((ROWS * 5, LABELS)) < 0.1).astype(np.uint8)
    return rng.random((ROWS * 5, 4)).astype(np.float32), y


def prepared_study(url: str, trials: int) -> PreparedSweep:
    """The benchmark's study through the API (checked data, study created or resumed)."""
    X, y = make_arrays()
    return prepare(
        X, y, labels=[f"L{j}" for j in range(LABELS)], model={"hidden": [4], "pack": PACK},
        trials=trials, storage=url, study_name="storage-benchmark",
    )


class InstantTrainer:
    """Stands in for training: random probabilities of the right shapes, at once."""

    def __init__(self, splits, members: int) -> None:
        self.splits = splits
        self.members = members
        self.rng = np.random.default_rng(members)

    def train_and_score(self, weights: np.ndarray) -> PackedScores:
        shape = (self.members, self.splits.validation.y.shape[0], LABELS)
        return PackedScores(
            validation=self.rng.random(shape, dtype=np.float32),
            test=self.rng.random((self.members, self.splits.test.y.shape[0], LABELS),
                                 dtype=np.float32),
            seconds=0.0,
        )


def worker(url: str, trials: int, ready) -> None:
    prepared = prepared_study(url, trials)
    ready.wait()  # every worker imported and connected: start together
    run_study(
        prepared.study, config=prepared.config, info=prepared.info, splits=prepared.splits,
        progress=False, make_trainer=lambda members: InstantTrainer(prepared.splits, members),
    )


def run_case(url: str, workers: int, trials: int) -> dict[str, float]:
    study = prepared_study(url, trials).study
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(workers + 1)
    processes = [context.Process(target=worker, args=(url, trials, ready))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    ready.wait()
    started = time.time()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a worker failed with exit code {process.exitcode}")
    wall = time.time() - started
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return {
        "workers": workers,
        "complete_trials": complete,
        "wall_s": wall,
        "trials_per_s": complete / wall,
        "overhead_ms_per_trial": 1000.0 * wall * workers / complete,
    }


def fresh_postgres_database(server_url: str) -> str:
    import psycopg

    base = server_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"sweeper_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_proxy(database_url: str, folder: Path) -> tuple[subprocess.Popen, str]:
    study_file = folder / "proxy.toml"
    study_file.write_text('[study]\nname = "storage-benchmark"\ntrials = 1\n'
                          '[data]\nsource = "builtin:seed-multilabel"\n')
    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "sweeper.cli", "proxy", str(study_file), "--storage",
         database_url, "--port", str(port)], stderr=subprocess.DEVNULL,
    )
    url = f"grpc://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            open_storage(url, reconnect_timeout=0)
            return proxy, url
        except Exception:
            if time.monotonic() > deadline or proxy.poll() is not None:
                raise
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server URL; each case gets a fresh database on it")
    parser.add_argument("--trials-per-worker", type=int, default=48)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--trial-seconds", type=float, default=0.364,
                        help="training time of one seed-multilabel trial (sweeper path)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    cases: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        cases["sqlite_1"] = run_case(f"sqlite:///{folder / 'bench.db'}", 1,
                                     args.trials_per_worker)
        for count in args.workers:
            trials = args.trials_per_worker * count
            cases[f"postgres_{count}"] = run_case(fresh_postgres_database(args.postgres), count,
                                                  trials)
            database = fresh_postgres_database(args.postgres)
            proxy, url = start_proxy(database, folder)
            try:
                cases[f"grpc_proxy_{count}"] = run_case(url, count, trials)
            finally:
                proxy.send_signal(signal.SIGTERM)
                proxy.wait(timeout=30)

    top = max(args.workers)
    fraction = cases[f"postgres_{top}"]["overhead_ms_per_trial"] / 1000 / args.trial_seconds
    figures = {
        "pack": PACK,
        "labels": LABELS,
        "cases": cases,
        "trial_seconds": args.trial_seconds,
        f"postgres_{top}_overhead_fraction_of_trial": fraction,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{'case':<16}{'workers':>8}{'trials':>8}{'trials/s':>10}{'ms/trial':>10}")
    for name, case in cases.items():
        print(f"{name:<16}{case['workers']:>8}{case['complete_trials']:>8}"
              f"{case['trials_per_s']:>10.1f}{case['overhead_ms_per_trial']:>10.1f}")
    print(f"16-worker PostgreSQL cost per trial: {100 * fraction:.2f}% of a "
          f"{args.trial_seconds} s trial")


if __name__ == "__main__":
    main()
