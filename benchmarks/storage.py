"""Storage cost per trial: ask + heartbeat + stored record + tell, for 1, 4 and 16 workers.

Run ``python benchmarks/storage.py --json OUT.json``. Each case runs the sweeper's real trial
loop (``sweeper.study.run_study``: budget counting, stale-trial checks, ask, worker heartbeat,
the full per-trial record of 30 labels with its two 57-point PR curves, tell) in N worker
processes on one fresh study, with training replaced by a trainer that returns random scores at
once, so what remains is what the storage costs. Cases:

- PostgreSQL directly, 1 / 4 / 16 workers (the machine's server, a fresh database per case);
- PostgreSQL through Optuna's gRPC storage proxy (``sweeper proxy``), 1 / 4 / 16 workers;
- SQLite, 1 worker.

The scaling curve (``--scaling 100 1000 10000``, ``--samplers tpe nsga2``): one worker on a
study that already holds 100, 1,000 and 10,000 complete trials (filled with copies of the loop's
own first records), on SQLite and on PostgreSQL: milliseconds per trial of everything but
training, the sampler's share timed apart, and the one-off read of the whole study into
Optuna's cache when the worker joins (``first_read_s``, not in the per-trial figures). Each row
also times, on the same study just before, the baseline: Optuna's own ask / ``suggest_*`` /
tell loop with the same record (``optuna_loop_ms_per_trial``, ``ratio_to_optuna_loop``).

Per case it writes ``trials_per_s`` (complete trials / wall time) and ``overhead_ms_per_trial``
(worker-seconds per trial: wall time x workers / trials, the time a worker spends per trial on
everything but training), and compares the 16-worker PostgreSQL cost with the training time of
one seed-multilabel trial on the sweeper's packed path (``--trial-seconds``; the default is what
``benchmarks/throughput.py`` measured on 2 CPU cores). Note that with 16 workers on 2 CPU cores
the workers also compete for the CPU: the figure is an upper bound of the storage cost.
"""

from __future__ import annotations

import argparse
import itertools
import logging
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
import optuna
from _stamp import write_json
from optuna.trial import TrialState

from sweeper.api import PreparedSweep, prepare
from sweeper.search import suggest_candidate
from sweeper.study import RECORD_ATTR, open_storage, record_member, run_study
from sweeper.training import BatchScores

LABELS = 30
ROWS = 300  # validation and test rows each; small, so computing the figures costs little
PACK = 32
"""Trials per batch: what the sweeper chooses on a CPU for this model and a budget of 128
trials or more (``MAX_PACK_CPU``), so the loop is measured at the CLI's defaults; ``--pack``
sets another (issue 30's earlier figures were taken at 8)."""


def make_arrays() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random((ROWS * 5, LABELS)) < 0.1).astype(np.uint8)
    return rng.random((ROWS * 5, 4)).astype(np.float32), y


def prepared_study(url: str, trials: int, sampler: str = "tpe",
                   window: int = 0) -> PreparedSweep:
    """The benchmark's study through the API (checked data, study created or resumed)."""
    X, y = make_arrays()
    return prepare(
        X, y, labels=[f"L{j}" for j in range(LABELS)], model={"hidden": [4], "pack": PACK},
        data={"folds": 1}, trials=trials, storage=url, study_name="storage-benchmark",
        sampler=sampler, sampler_window=window, stop="budget",  # the loop's cost at every size
    )


class InstantTrainer:
    """Stands in for training: random probabilities of the right shapes, at once."""

    def __init__(self, splits, members: int) -> None:
        self.splits = splits
        self.members = members
        self.rng = np.random.default_rng(members)

    def train_and_score(self, weights: np.ndarray) -> BatchScores:
        shape = (self.members, self.splits.validation.y.shape[0], LABELS)
        return BatchScores(
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


class TimedSampler(optuna.samplers.BaseSampler):
    """The study's sampler, timed: what asking for parameters costs, apart from the storage."""

    def __init__(self, inner: optuna.samplers.BaseSampler) -> None:
        self.inner = inner
        self.seconds = 0.0

    def _timed(self, method, *args):
        started = time.perf_counter()
        try:
            return method(*args)
        finally:
            self.seconds += time.perf_counter() - started

    def infer_relative_search_space(self, study, trial):
        return self._timed(self.inner.infer_relative_search_space, study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._timed(self.inner.sample_relative, study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._timed(self.inner.sample_independent, study, trial, param_name,
                           param_distribution)

    def before_trial(self, study, trial):
        self._timed(self.inner.before_trial, study, trial)

    def after_trial(self, study, trial, state, values):
        self._timed(self.inner.after_trial, study, trial, state, values)


def prefill(study: optuna.Study, templates: list, count: int) -> None:
    """Add ``count`` complete trials copied from ``templates`` (real records), in chunks."""
    trials = []
    for index in range(count):
        template = templates[index % len(templates)]
        trials.append(optuna.trial.create_trial(
            params=template.params, distributions=template.distributions,
            values=template.values, user_attrs=template.user_attrs,
            system_attrs=template.system_attrs,
        ))
    study.add_trials(trials)


def run_instant(prepared: PreparedSweep) -> float:
    """The real loop on ``prepared`` with instant training; its wall time."""
    started = time.perf_counter()
    run_study(
        prepared.study, config=prepared.config, info=prepared.info, splits=prepared.splits,
        progress=False, make_trainer=lambda members: InstantTrainer(prepared.splits, members),
    )
    return time.perf_counter() - started


def run_optuna_loop(prepared: PreparedSweep, trials: int) -> float:
    """The baseline: Optuna's own ask / ``suggest_*`` / tell (what the sweeper's loop did
    before it stored each trial in one write), on the same study, record and instant scores,
    in batches of the same pack size; its wall time. No heartbeat or stale-trial check."""
    study, info, config = prepared.study, prepared.info, prepared.config
    trainer = InstantTrainer(prepared.splits, PACK)
    counts = np.asarray(info.train_counts)
    started = time.perf_counter()
    for _ in range(0, trials, PACK):
        asked = [study.ask() for _ in range(PACK)]
        candidates = [suggest_candidate(t, config.search, info.task, info.labels) for t in asked]
        scores = trainer.train_and_score(None)
        for member, (trial, candidate) in enumerate(zip(asked, candidates, strict=True)):
            record = record_member(
                info=info, splits=prepared.splits, scores=scores, member=member,
                number=trial.number, candidate=candidate,
                weights=candidate.weights(counts, info.n_train, info.task),
            )
            trial.set_user_attr(RECORD_ATTR, record.to_dict())
            study.tell(trial, [record.validation.recall, record.validation.precision])
    return time.perf_counter() - started


def complete(study: optuna.Study) -> list:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def scaling_case(url: str, sizes: list[int], window: int, sampler: str,
                 sampler_window: int = 0) -> list[dict]:
    """Per-trial cost of the loop (everything but training, one worker) when the study already
    holds each of ``sizes`` complete trials (increasing, each at least ``window``): the study is
    filled up to the size with copies of the loop's own first ``window`` trials (real records),
    then ``window`` trials of Optuna's own loop (the baseline) and ``window`` more of the
    sweeper's are timed, the sampler apart."""
    run_instant(prepared_study(url, window, sampler, sampler_window))
    templates = complete(prepared_study(url, window, sampler, sampler_window).study)
    held = len(templates)
    rows = []
    for size in sizes:
        # Budget: `window` trials of the baseline, then `window` of the sweeper's loop.
        prepared = prepared_study(url, size + 2 * window, sampler, sampler_window)
        prefill(prepared.study, templates, size - held)
        # A worker reads the whole study into Optuna's cache once, when it joins: timed
        # apart, so the rows show what every further trial costs.
        started = time.perf_counter()
        complete(prepared.study)
        cold_s = time.perf_counter() - started
        timed = TimedSampler(prepared.study.sampler)
        prepared.study.sampler = timed
        # The baseline first: the sweeper's loop then runs on the larger study (by `window`
        # trials), which leans the ratio against it, not for it.
        done = window
        optuna_wall = run_optuna_loop(prepared, done)
        optuna_sampler_s, timed.seconds = timed.seconds, 0.0
        wall = run_instant(prepared)
        sampler_s = timed.seconds
        held = len(complete(prepared.study))
        assert held == size + 2 * window, held
        rows.append({
            "trials_in_study": size,
            "trials_timed": done,
            "ms_per_trial": 1000 * wall / done,
            "sampler_ms_per_trial": 1000 * sampler_s / done,
            "rest_ms_per_trial": 1000 * (wall - sampler_s) / done,
            "optuna_loop_ms_per_trial": 1000 * optuna_wall / done,
            "optuna_loop_sampler_ms_per_trial": 1000 * optuna_sampler_s / done,
            "ratio_to_optuna_loop": wall / optuna_wall,
            "first_read_s": cold_s,
        })
        print(f"  {url.split(':')[0]:<22} {sampler:<10} {size:>6} trials: "
              f"{rows[-1]['ms_per_trial']:.1f} ms/trial (sampler "
              f"{rows[-1]['sampler_ms_per_trial']:.1f}); Optuna's own loop "
              f"{rows[-1]['optuna_loop_ms_per_trial']:.1f}", flush=True)
    return rows


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
    global PACK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server URL; each case gets a fresh database on it")
    parser.add_argument("--trials-per-worker", type=int, default=48)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--trial-seconds", type=float, default=0.364,
                        help="training time of one seed-multilabel trial (sweeper path)")
    parser.add_argument("--scaling", type=int, nargs="*", default=[100, 1000, 10000],
                        help="study sizes of the scaling curve (one worker); none: skip it")
    parser.add_argument("--window", type=int, default=96,
                        help="trials of the real loop timed at each size")
    parser.add_argument("--samplers", nargs="+", default=["tpe"],
                        help="samplers of the scaling curve ([study] sampler values)")
    parser.add_argument("--sampler-windows", nargs="+", type=int, default=[0],
                        help="[study] sampler_window values of the scaling curve (0: all trials)")
    parser.add_argument("--storages", nargs="+", default=["sqlite", "postgres"],
                        choices=["sqlite", "postgres"], help="storages of the scaling curve")
    parser.add_argument("--pack", type=int, default=PACK,
                        help=f"trials per batch (default {PACK}, the CLI's choice on a CPU; "
                             "the worker cases always take the default)")
    parser.add_argument("--skip-workers", action="store_true",
                        help="only the scaling curve, not the 1 / 4 / 16-worker cases")
    args = parser.parse_args()
    PACK = args.pack
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("sweeper").setLevel(logging.WARNING)

    cases: dict[str, dict[str, float]] = {}
    scaling: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for sampler, sampler_window in itertools.product(
            args.samplers if args.scaling else [], args.sampler_windows
        ):
            name = sampler + (f"_window{sampler_window}" if sampler_window else "")
            if "sqlite" in args.storages:
                scaling[f"sqlite_{name}"] = scaling_case(
                    f"sqlite:///{folder / f'scaling-{name}.db'}", args.scaling, args.window,
                    sampler, sampler_window,
                )
            if "postgres" in args.storages:
                scaling[f"postgres_{name}"] = scaling_case(
                    fresh_postgres_database(args.postgres), args.scaling, args.window, sampler,
                    sampler_window,
                )
        if not args.skip_workers:
            cases["sqlite_1"] = run_case(f"sqlite:///{folder / 'bench.db'}", 1,
                                         args.trials_per_worker)
        for count in [] if args.skip_workers else args.workers:
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

    figures = {"pack": PACK, "labels": LABELS, "cases": cases, "scaling": scaling,
               "trial_seconds": args.trial_seconds}
    top = max(args.workers)
    if cases:
        fraction = cases[f"postgres_{top}"]["overhead_ms_per_trial"] / 1000 / args.trial_seconds
        figures[f"postgres_{top}_overhead_fraction_of_trial"] = fraction
    args.json.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, "storage", figures)
    if scaling:
        print(f"{'scaling (1 worker)':<22}{'trials in study':>16}{'ms/trial':>10}"
              f"{'sampler':>9}{'rest':>7}{'optuna loop':>13}{'ratio':>7}{'first read s':>14}")
        for name, rows in scaling.items():
            for row in rows:
                print(f"{name:<22}{row['trials_in_study']:>16}{row['ms_per_trial']:>10.1f}"
                      f"{row['sampler_ms_per_trial']:>9.1f}{row['rest_ms_per_trial']:>7.1f}"
                      f"{row['optuna_loop_ms_per_trial']:>13.1f}"
                      f"{row['ratio_to_optuna_loop']:>7.2f}{row['first_read_s']:>14.2f}")
    if cases:
        print(f"{'case':<16}{'workers':>8}{'trials':>8}{'trials/s':>10}{'ms/trial':>10}")
        for name, case in cases.items():
            print(f"{name:<16}{case['workers']:>8}{case['complete_trials']:>8}"
                  f"{case['trials_per_s']:>10.1f}{case['overhead_ms_per_trial']:>10.1f}")
        print(f"16-worker PostgreSQL cost per trial: {100 * fraction:.2f}% of a "
              f"{args.trial_seconds} s trial")


if __name__ == "__main__":
    main()
