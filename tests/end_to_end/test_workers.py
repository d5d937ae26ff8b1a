"""Many workers on one PostgreSQL study, and the faults a fleet meets: real processes, a real
PostgreSQL server owned by the tests (so it can be restarted), real training."""

from __future__ import annotations

import os
import signal
import socket
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
from tests.support import STUDY_TEMPLATE, free_port, make_multilabel_arrays

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


@pytest.fixture
def sweeper(processes, holds):
    """Start ``python -m sweeper.cli ARGS`` (output captured), under the test's hold points."""

    def start(*args: object) -> subprocess.Popen:
        return processes(
            [sys.executable, "-m", "sweeper.cli", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=holds.environment(),
        )

    return start


def finish(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    """Wait for a process to exit (the deadline only turns a hang into a failure)."""
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


def _claimed(url: str) -> list[int]:
    """The trial ids a (held) worker claims, once its heartbeat thread has written them: a
    state it reaches by itself and then keeps (the deadline only turns a hang into a
    failure)."""
    deadline = time.monotonic() + 600
    while not (claims := [trials for trials in workers_in_flight(url).values() if trials]):
        assert time.monotonic() < deadline, "the worker never claimed its trial"
        time.sleep(0.1)
    (claimed,) = claims
    return claimed


def workers_in_flight(url: str) -> dict[str, list[int]]:
    study = load(url)
    attrs = storage_of(study).get_study_system_attrs(study_id_of(study))
    return {k: v["trials"] for k, v in attrs.items() if k.startswith(WORKER_PREFIX)}


def test_three_workers_finish_one_budget(tmp_path, own_postgres, sweeper, holds):
    url = own_postgres.create_database()
    path = write_study(tmp_path, url, trials=12, pack=2, epochs=3)
    # The server trusts local connections, so any password works; none may show in `ps`.
    with_password = url.replace("://postgres@", "://postgres:s3cret-pw@")
    assert with_password != url
    holds.hold("training")  # each worker waits with its first batch until all three are seen
    parent = sweeper("run", path, "--workers", 3, "--quiet", "--storage", with_password)
    visits = holds.wait("training", 3, processes=[parent])
    workers = _children(parent.pid)
    assert sorted(workers) == sorted(visit.pid for visit in visits)
    command_lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in workers]
    assert all(b"worker" in line and b"s3cret" not in line for line in command_lines)
    holds.release_all("training")
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


def test_killed_worker_trial_is_retried_and_the_budget_completes(
    tmp_path, own_postgres, sweeper, holds
):
    url = own_postgres.create_database()
    path = write_study(tmp_path, url, trials=5, pack=1, epochs=3)
    holds.hold("training")
    victim = sweeper("worker", path, "--quiet")
    holds.wait("training", processes=[victim])  # its first trial RUNNING, parameters drawn
    (running,) = states(load(url))[TrialState.RUNNING]
    assert len(running.params) == 3
    in_flight = _claimed(url)  # the held worker's heartbeat thread writes the claim
    assert in_flight == [trial_id_of(running)]
    victim.send_signal(signal.SIGKILL)
    finish(victim)
    holds.release_all("training")
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


def test_database_restart_mid_study_loses_nothing(tmp_path, own_postgres, sweeper, holds):
    """The server restarts while the worker's third trial is RUNNING, two already told."""
    url = own_postgres.create_database()
    path = write_study(tmp_path, url, trials=6, pack=1, epochs=3)
    holds.hold("training")
    worker = sweeper("worker", path, "--quiet")
    for n in (1, 2):
        (visit,) = [v for v in holds.wait("training", n, processes=[worker]) if v.n == n]
        holds.release(visit)
    holds.wait("training", 3, processes=[worker])
    by_state = states(load(url))
    before = {t.number for t in by_state[TrialState.COMPLETE]}
    assert len(before) == 2 and len(by_state[TrialState.RUNNING]) == 1
    own_postgres.restart(down_seconds=3)
    holds.release_all("training")
    code, output = finish(worker)
    assert code == 0, output
    by_state = states(load(url))
    after = {t.number for t in by_state[TrialState.COMPLETE]}
    assert before <= after
    assert len(after) == 6
    assert not by_state[TrialState.RUNNING]


def test_sigterm_fails_the_batch_cleanly_and_exits_130(tmp_path, own_postgres, sweeper, holds):
    """SIGTERM lands inside the packed training loop (the worker is held after an epoch of its
    first batch of two): both trials fail as interrupted and wait in the queue."""
    url = own_postgres.create_database()
    path = write_study(tmp_path, url, trials=4, pack=2, epochs=5)
    holds.hold("training")
    worker = sweeper("worker", path, "--quiet")
    holds.wait("training", processes=[worker])
    running = states(load(url))[TrialState.RUNNING]
    assert len(running) == 2 and all(len(t.params) == 3 for t in running)
    epochs_so_far = len(holds.visits("epoch"))  # the baselines' pass; the worker waits now
    holds.hold("epoch")
    holds.release_all("training")
    holds.wait("epoch", epochs_so_far + 1, processes=[worker])
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


def test_workers_through_the_grpc_proxy(tmp_path, own_postgres, sweeper):
    pytest.importorskip("grpc")
    url = own_postgres.create_database()
    path = write_study(tmp_path, url, trials=4, pack=2, epochs=2)
    port = free_port()
    proxy = sweeper("proxy", path, "--storage", url, "--port", port)
    _wait_until_listening(port, proxy)
    code, output = finish(
        sweeper("worker", path, "--storage", f"grpc://127.0.0.1:{port}", "--quiet")
    )
    assert code == 0, output
    proxy.send_signal(signal.SIGTERM)
    assert finish(proxy)[0] == 130
    assert len(states(load(url))[TrialState.COMPLETE]) == 4


def _wait_until_listening(port: int, server: subprocess.Popen) -> None:
    """Wait until ``server`` accepts connections on ``port`` (it stays up until the test stops
    it; the deadline only turns a hang into a failure)."""
    deadline = time.monotonic() + 600
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return
        except OSError:
            assert server.poll() is None, finish(server)[1]
            assert time.monotonic() < deadline, f"nothing listens on port {port}"
            time.sleep(0.1)


def test_several_workers_on_sqlite_are_refused(tmp_path, sweeper):
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


def test_a_dead_worker_makes_the_run_exit_1(tmp_path, own_postgres, sweeper, holds):
    """A worker killed mid-batch: the other finishes the budget (the dead one's trial is failed
    and retried), and `run` exits 1, a runtime failure, not 0 and not a usage error."""
    url = own_postgres.create_database()
    path = write_study(tmp_path, url, trials=4, pack=1, epochs=3)
    holds.hold("training")
    parent = sweeper("run", path, "--workers", 2, "--quiet")
    first, second = holds.wait("training", 2, processes=[parent])
    assert {first.pid, second.pid} == set(_children(parent.pid))
    assert len(states(load(url))[TrialState.RUNNING]) == 2
    os.kill(first.pid, signal.SIGKILL)
    holds.release_all("training")
    code, output = finish(parent)
    assert code == 1, output
    assert output.strip().splitlines()[-1].startswith("sweeper: error: a worker exited with code")
    assert "its worker stopped beating" in output  # the survivor's log names the stale trial
    assert len(states(load(url))[TrialState.COMPLETE]) >= 4


def test_a_database_gone_past_the_reconnect_timeout_exits_1(
    tmp_path, own_postgres, sweeper, holds
):
    """The server stops while the worker's first trial is RUNNING; it trains, cannot tell the
    result, waits out its 2 s reconnect timeout and exits 1."""
    url = own_postgres.create_database()
    path = write_study(tmp_path, url, trials=4, pack=1, epochs=2)
    path.write_text(path.read_text().replace("reconnect_timeout = 60", "reconnect_timeout = 2"))
    holds.hold("training")
    worker = sweeper("worker", path, "--quiet")
    try:
        holds.wait("training", processes=[worker])
        while STORAGES:  # this test's own connections go first
            STORAGES.popitem()[1].engine.dispose()
        own_postgres.stop()
        holds.release_all("training")
        code, output = finish(worker)
    finally:
        own_postgres.start()
    assert code == 1, output
    assert "unreachable for 2 s" in output.strip().splitlines()[-1]
