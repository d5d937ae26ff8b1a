"""Shared fixtures: servers, processes and hold points, small real data sets, study files
written into a temporary folder, and trained studies built once per session. The suite's tiers
(``slow``, ``backend``, ``--tier``) are the plugin ``tests/support/tiers.py``."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support import STUDY_TEMPLATE, make_multiclass_arrays, make_multilabel_arrays
from tests.support.holds import Holds

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

pytest_plugins = ["tests.support.tiers"]


def _postgres_server() -> Iterator[Any]:
    from tests.support.postgres import PostgresServer, find_binaries

    binaries = find_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing; .ci/run installs them.")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed.")
    server = PostgresServer(binaries)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server the tests own (tests/support/postgres.py), started once per session
    (per xdist worker) and shared: each test creates its own database on it. A test that
    stops or restarts a server uses :func:`own_postgres` instead."""
    yield from _postgres_server()


@pytest.fixture(scope="module")
def own_postgres():
    """A PostgreSQL server of the test module's own, so that its fault tests may stop and
    restart it without disturbing other modules' tests."""
    yield from _postgres_server()


@pytest.fixture(scope="module")
def mariadb():
    """The machine's MariaDB (MySQL) server (tests/support/mariadb.py); each database a test creates
    is dropped when the module ends."""
    from tests.support.mariadb import MariaDBServer

    server = MariaDBServer.find()
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("No MariaDB server answers on 127.0.0.1:3306; .ci/run starts it.")
        pytest.skip("No MariaDB server answers on 127.0.0.1:3306 (or pymysql is missing).")
    yield server
    server.close()


@pytest.fixture
def holds(tmp_path: Path) -> Holds:
    """Hold points for the sweeper processes a test starts (tests/support/holds.py)."""
    return Holds(tmp_path / "holds")


@pytest.fixture
def processes() -> Iterator[Callable[..., subprocess.Popen]]:
    """Start subprocesses (``subprocess.Popen`` arguments) that are ended, with every process
    they started, when the test ends, however it ends: each is the leader of a new process
    group, killed whole, then reaped and its pipes closed. One failure leaves nothing running
    that could disturb the next test."""
    started: list[subprocess.Popen] = []

    def start(command: Sequence[str], **options: Any) -> subprocess.Popen:
        process = subprocess.Popen(list(map(str, command)), start_new_session=True, **options)
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # workers a killed parent left behind too
        process.communicate()


@pytest.fixture
def write_study(tmp_path: Path):
    """Write a small study file; keyword arguments fill the template."""

    def write(**values: object) -> Path:
        fields = {
            "name": "small",
            "storage": f"sqlite:///{tmp_path / 'study.db'}",
            "trials": 4,
            "source": "small.npz",
            "data_extra": "",
            "epochs": 3,
            "pack": 2,
            "artifacts": str(tmp_path / "artifacts"),
        }
        fields.update(values)
        path = tmp_path / f"{fields['name']}.toml"
        path.write_text(STUDY_TEMPLATE.format(**fields))
        return path

    return write


@pytest.fixture
def multilabel_npz(tmp_path: Path) -> Path:
    X, y = make_multilabel_arrays()
    path = tmp_path / "small.npz"
    np.savez(path, X=X, y=y)
    return path


@pytest.fixture
def multiclass_npz(tmp_path: Path) -> Path:
    X, y = make_multiclass_arrays()
    path = tmp_path / "classes.npz"
    np.savez(path, X=X, y=y, labels=np.array(["A", "B", "C", "D"]))
    return path


@pytest.fixture(scope="session")
def trained_study(tmp_path_factory) -> Callable[..., Path]:
    """Trained studies built once per test session and shared: ``trained_study(task)`` gives
    the study file of a small study of ``task`` (``"multilabel"`` or ``"multiclass"``) run to
    its budget of 6 trials (3 packed passes of 2) through the command line, with extra
    ``[search]`` lines if given (``remedies = [...]``, say). Tests that only read a study (the
    report, the export, the command line, identities, resuming without new trials) share one
    instead of training their own; a test that changes a study trains its own."""
    built: dict[tuple[str, str], Path] = {}

    def get(task: str = "multilabel", search: str = "") -> Path:
        key = (task, search)
        if key not in built:
            built[key] = _train_study(tmp_path_factory.mktemp(f"trained-{task}"), task, search)
        return built[key]

    return get


def _train_study(folder: Path, task: str, search: str) -> Path:
    from sweeper.cli import main

    if task == "multilabel":
        X, y = make_multilabel_arrays()
        np.savez(folder / "small.npz", X=X, y=y)
    elif task == "multiclass":
        X, y = make_multiclass_arrays()
        np.savez(folder / "small.npz", X=X, y=y, labels=np.array(["A", "B", "C", "D"]))
    else:
        raise ValueError(f"no trained study of task {task!r}")
    path = folder / "small.toml"
    path.write_text(
        STUDY_TEMPLATE.format(
            name="small",
            storage=f"sqlite:///{folder / 'study.db'}",
            trials=6,
            source="small.npz",
            data_extra="",
            epochs=4,
            pack=2,
            artifacts=str(folder / "artifacts"),
        ) + search
    )
    assert main(["run", str(path), "--quiet"]) == 0
    return path


@pytest.fixture(scope="session")
def finished_study(trained_study) -> Path:
    """The shared small multi-label study (see :func:`trained_study`)."""
    return trained_study("multilabel")
