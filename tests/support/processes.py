"""Helpers for tests that start the sweeper in another process: a free port, a running
dashboard."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path


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
