"""Shared fixtures: small real data sets and study files written into a temporary folder."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.holds import Holds

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SLOW_FIXTURES = {"postgres", "mariadb", "processes", "finished_study", "browser"}
"""A test that uses one of these starts servers or processes, or a trained study."""
SLOW_MODULES = {"test_workers", "test_backend", "test_browser", "test_train", "test_runner",
                "test_resume", "test_api", "test_logs", "test_optimizers"}
"""Modules whose tests (nearly all) train a model or start processes."""
SLOW_PARAMETERS = {"postgresql", "mariadb", "mariadb-no-returning", "gp"}
"""A parametrised case on a database server (or PyTorch's GP) is slow where its SQLite one is
not."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow tests ``slow`` (servers, processes, training), so that ``pytest -m "not
    slow"`` runs the rest, in well under a minute on 2 cores: a developer's quick check. A
    slow test outside these rules carries ``@pytest.mark.slow`` itself."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        callspec = getattr(item, "callspec", None)
        parameters = {str(v) for v in callspec.params.values()} if callspec else set()
        if (module in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
                or SLOW_PARAMETERS & parameters):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of the test module's own (tests/postgres.py): started once per
    module, so a module's fault tests may stop and restart it without disturbing others."""
    from tests.postgres import PostgresServer, find_binaries

    binaries = find_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing; .ci/run installs them.")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed.")
    server = PostgresServer(binaries)
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def mariadb():
    """The machine's MariaDB (MySQL) server (tests/mariadb.py); each database a test creates
    is dropped when the module ends."""
    from tests.mariadb import MariaDBServer

    server = MariaDBServer.find()
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("No MariaDB server answers on 127.0.0.1:3306; .ci/run starts it.")
        pytest.skip("No MariaDB server answers on 127.0.0.1:3306 (or pymysql is missing).")
    yield server
    server.close()


@pytest.fixture
def holds(tmp_path: Path) -> Holds:
    """Hold points for the sweeper processes a test starts (tests/holds.py)."""
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_dashboard(
    study_file: Path,
    *,
    launcher: Sequence[str] = (sys.executable, "-m", "sweeper.cli"),
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[int]:
    """``sweeper dashboard`` in a subprocess (started by ``launcher``, the command line's
    entry), answering on the yielded port; stopped after by SIGTERM, which must end it with
    exit code 130."""
    port = free_port()
    command = [*launcher, "dashboard", str(study_file), "--port", str(port)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd,
                          env=env) as server:
        try:
            deadline = time.monotonic() + 300  # it stays up until stopped: ends a hang only
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2)
                    break
                except OSError:
                    assert server.poll() is None, server.stderr.read().decode()
                    assert time.monotonic() < deadline, "the dashboard did not start"
                    time.sleep(0.3)
            yield port
        finally:
            server.terminate()  # SIGTERM, as `docker stop` sends: a clean exit, code 130
            try:
                code = server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                raise AssertionError("the dashboard ignored SIGTERM") from None
        assert code == 130, server.stderr.read().decode()


def make_multilabel_arrays(n_rows: int = 1500, n_labels: int = 4, seed: int = 0):
    """Rare labels (about 1 in 8) with a noisy feature per label and one pure-noise feature."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n_rows, n_labels)) < 0.12).astype(np.uint8)
    signal = y * (rng.random((n_rows, n_labels)) < 0.7)
    X = np.column_stack(
        [signal + 0.3 * rng.standard_normal((n_rows, n_labels)), rng.standard_normal(n_rows)]
    ).astype(np.float32)
    return X, y


def make_multiclass_arrays(counts=(60, 130, 210, 80), seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    means = 1.5 * np.eye(len(counts))
    X = (means[y] + rng.standard_normal((y.size, len(counts)))).astype(np.float32)
    return X, y.astype(np.int64)


STUDY_TEMPLATE = """
[study]
name = "{name}"
storage = "{storage}"
trials = {trials}
artifacts = "{artifacts}"

[data]
source = "{source}"
{data_extra}
validation_fraction = 0.25
test_fraction = 0.25
seed = 0

[model]
hidden = [16]
epochs = {epochs}
batch_size = 64
learning_rate = 0.01
pack = {pack}

[search]
exponent = [0.0, 1.5]
threshold = [0.05, 0.95]
"""


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
def finished_study(tmp_path_factory):
    """A small multi-label study run to its budget of 6 trials (3 packed passes of 2)."""
    folder = tmp_path_factory.mktemp("study")
    X, y = make_multilabel_arrays()
    np.savez(folder / "small.npz", X=X, y=y)
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
        )
    )
    from sweeper.cli import main

    assert main(["run", str(path), "--quiet"]) == 0
    return path
