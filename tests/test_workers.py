"""Many workers on one PostgreSQL study, and the faults a fleet meets: real processes, a real
PostgreSQL server owned by the tests (so it can be restarted), real training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweeper.study._liveness import WORKER_PREFIX
from sweeper.study._optuna import storage_of, study_id_of, trial_id_of
from tests.conftest import STUDY_TEMPLATE, free_port, make_multilabel_arrays

LIVENESS = "heartbeat_interval = 0.5\ngrace_period = 8\nmax_retries = 2\nreconnect_timeout = 60\n"


def write_study(folder: Path, url: str, *, trials: int, pack: int, epochs: int) -> Path:
    X, y = make_multilabel_arrays()
    np.savez(folder / "small.npz", X=X, y=y)
    text = STUDY_TEMPLATE.format(
        name="fleet",
        storage=url,
        trials=trials,
        source="small.npz",
        data_extra="",
        epochs=epochs,
        pack=pack,
        artifacts=str(folder / "artifacts"),
    ).replace("trials = ", LIVENESS + "trials = ", 1)
    # No early stopping: the fault tests rely on a batch staying in training for its epochs.
    text = text.replace("[model]\n", "[model]\npatience = 0\n")
    path = folder / "fleet.toml"
    path.write_text(text)
    return path


def sweeper(*args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sweeper.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


STORAGES: dict[str, optuna.storages.RDBStorage] = {}


@pytest.fixture(autouse=True)
def close_storages():
    yield
    while STORAGES:
        STORAGES.popitem()[1].engine.dispose()


def load(url: str) -> optuna.Study:
    """The study as another process sees it, through one storage per database."""
    if url not in STORAGES:
        STORAGES[url] = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    return optuna.load_study(study_name="fleet", storage=STORAGES[url])


def states(study: optuna.Study) -> dict[TrialState, list[optuna.trial.FrozenTrial]]:
    trials = study.get_trials()
    return {state: [t for t in trials if t.state == state] for state in TrialState}


def wait_for(condition, timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def workers_in_flight(url: str) -> dict[str, list[int]]:
    study = load(url)
    attrs = storage_of(study).get_study_system_attrs(study_id_of(study))
    return {k: v["trials"] for k, v in attrs.items() if k.startswith(WORKER_PREFIX)}


def test_three_workers_finish_one_budget(tmp_path, postgres):
    url = postgres.create_database()
    path = write_study(tmp_path, url, trials=12, pack=2, epochs=3)
    # The server trusts local connections, so any password works; none may show in `ps`.
    with_password = url.replace("://postgres@", "://postgres:s3cret-pw@")
    assert with_password != url
    parent = sweeper("run", path, "--workers", 3, "--quiet", "--storage", with_password)
    wait_for(lambda: len(_children(parent.pid)) == 3 or parent.poll() is not None,
             what="three workers started")
    command_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in _children(parent.pid)]
    assert len(command_lines) == 3
    assert all(b"worker" in line and b"s3cret" not in line for line in command_lines)
    code, output = finish(parent)
    assert code == 0, output
    by_state = states(load(url))
    complete = len(by_state[TrialState.COMPLETE])
    # The budget is global; the overshoot is at most one batch per other worker.
    assert 12 <= complete <= 12 + 2 * 2
    assert not by_state[TrialState.RUNNING] and not by_state[TrialState.FAIL]
    assert not by_state[TrialState.WAITING]
    workers = workers_in_flight(url)
    assert len(workers) == 3 and all(trials == [] for trials in workers.values())
    assert "fleet: " in output and "points on the validation front" in output


def test_killed_worker_trial_is_retried_and_the_budget_completes(tmp_path, postgres):
    url = postgres.create_database()
    path = write_study(tmp_path, url, trials=5, pack=1, epochs=60)
    victim = sweeper("worker", path, "--quiet")

    def training() -> bool:
        if not _study_exists(url):
            return False
        running = states(load(url))[TrialState.RUNNING]
        return len(running) == 1 and len(running[0].params) == 3

    wait_for(training, what="the first worker's trial in training")
    (in_flight,) = [trials for trials in workers_in_flight(url).values() if trials]
    victim.send_signal(signal.SIGKILL)
    finish(victim)
    code, output = finish(sweeper("worker", path, "--quiet"))
    assert code == 0, output
    study = load(url)
    by_state = states(study)
    (killed,) = by_state[TrialState.FAIL]
    assert trial_id_of(killed) == in_flight[0]
    assert killed.user_attrs["failed_because"] == "stale"
    retried = [t for t in by_state[TrialState.COMPLETE] if t.user_attrs.get("retry_of") is not None]
    assert [t.user_attrs["retry_of"] for t in retried] == [killed.number]
    assert retried[0].params == killed.params
    assert len(by_state[TrialState.COMPLETE]) == 5
    assert not by_state[TrialState.RUNNING]


def _study_exists(url: str) -> bool:
    try:
        load(url)
    except KeyError:
        return False
    return True


def test_database_restart_mid_study_loses_nothing(tmp_path, postgres):
    url = postgres.create_database()
    path = write_study(tmp_path, url, trials=6, pack=1, epochs=20)
    worker = sweeper("worker", path, "--quiet")
    wait_for(
        lambda: _study_exists(url) and len(states(load(url))[TrialState.COMPLETE]) >= 2,
        what="two complete trials",
    )
    before = {t.number for t in states(load(url))[TrialState.COMPLETE]}
    postgres.restart(down_seconds=3)
    code, output = finish(worker)
    assert code == 0, output
    by_state = states(load(url))
    after = {t.number for t in by_state[TrialState.COMPLETE]}
    assert before <= after
    assert len(after) == 6
    assert not by_state[TrialState.RUNNING]


def test_sigterm_fails_the_batch_cleanly_and_exits_130(tmp_path, postgres):
    url = postgres.create_database()
    # Long enough that the signal lands in training on either backend (JAX's compiled epochs
    # finish 200 epochs of this small model in about a second).
    path = write_study(tmp_path, url, trials=4, pack=2, epochs=5000)
    worker = sweeper("worker", path, "--quiet")

    def training() -> bool:
        running = states(load(url))[TrialState.RUNNING] if _study_exists(url) else []
        return len(running) == 2 and all(len(t.params) == 3 for t in running)

    wait_for(training, what="a batch of two in training")
    time.sleep(1.0)
    worker.send_signal(signal.SIGTERM)
    code, output = finish(worker)
    assert code == 130, output  # interrupted: `sweeper worker && sweeper export` stops here
    assert "stopped:" in output
    by_state = states(load(url))
    assert not by_state[TrialState.RUNNING]
    interrupted = by_state[TrialState.FAIL]
    assert len(interrupted) == 2
    assert all(t.user_attrs["failed_because"] == "interrupted" for t in interrupted)
    assert len(by_state[TrialState.WAITING]) == 2


def test_workers_through_the_grpc_proxy(tmp_path, postgres):
    pytest.importorskip("grpc")
    url = postgres.create_database()
    path = write_study(tmp_path, url, trials=4, pack=2, epochs=2)
    port = free_port()
    proxy = sweeper("proxy", path, "--storage", url, "--port", port)
    try:
        code, output = finish(
            sweeper("worker", path, "--storage", f"grpc://127.0.0.1:{port}", "--quiet")
        )
        assert code == 0, output
    finally:
        proxy.send_signal(signal.SIGTERM)
        finish(proxy, timeout=30)
    assert len(states(load(url))[TrialState.COMPLETE]) == 4


def test_several_workers_on_sqlite_are_refused(tmp_path):
    path = write_study(tmp_path, f"sqlite:///{tmp_path / 's.db'}", trials=4, pack=2, epochs=1)
    code, output = finish(sweeper("run", path, "--workers", 2))
    assert code == 2
    assert "workers: 2 workers cannot share one SQLite file" in output
    assert not (tmp_path / "s.db").exists()


def _children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_a_dead_worker_makes_the_run_exit_1(tmp_path, postgres):
    """A worker killed mid-batch: the other finishes the budget (the dead one's trial is failed
    and retried), and `run` exits 1, a runtime failure, not 0 and not a usage error."""
    url = postgres.create_database()
    path = write_study(tmp_path, url, trials=4, pack=1, epochs=40)
    parent = sweeper("run", path, "--workers", 2, "--quiet")

    def both_training() -> bool:
        return _study_exists(url) and len(states(load(url))[TrialState.RUNNING]) == 2

    wait_for(both_training, what="both workers training")
    workers = _children(parent.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    code, output = finish(parent)
    assert code == 1, output
    assert output.strip().splitlines()[-1].startswith("sweeper: error: a worker exited with code")
    assert "its worker stopped beating" in output  # the survivor's log names the stale trial
    assert len(states(load(url))[TrialState.COMPLETE]) >= 4


def test_a_database_gone_past_the_reconnect_timeout_exits_1(tmp_path, postgres):
    url = postgres.create_database()
    path = write_study(tmp_path, url, trials=4, pack=1, epochs=2000)
    path.write_text(path.read_text().replace("reconnect_timeout = 60", "reconnect_timeout = 2"))
    worker = sweeper("worker", path, "--quiet")
    try:
        wait_for(lambda: _study_exists(url) and states(load(url))[TrialState.RUNNING],
                 what="a trial in training")
        while STORAGES:  # this test's own connections go first
            STORAGES.popitem()[1].engine.dispose()
        postgres.stop()
        code, output = finish(worker, timeout=120)
    finally:
        postgres.start()
    assert code == 1, output
    assert "unreachable for 2 s" in output.strip().splitlines()[-1]
