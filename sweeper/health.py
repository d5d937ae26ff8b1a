"""Health checks for a fleet's long-running services (Compose ``healthcheck``, Kubernetes
probes), as ``python -m sweeper.health KIND TARGET``:

- ``file PATH MAX_AGE``: a worker is healthy while its heartbeat file is fresher than
  ``MAX_AGE`` seconds. A worker with ``$SWEEPER_HEALTH_FILE`` set touches that file each time its
  heartbeat reaches the study's storage (every ``heartbeat_interval``), so the check means "alive
  and reaching the database", the same thing its trials' liveness means to the other workers.
- ``http URL``: the dashboard answers (a 2xx or 3xx status).
- ``tcp HOST:PORT``: the gRPC proxy accepts connections.

Exit 0 when healthy, 1 with one line on stderr when not. Besides the standard library only
the sweeper's light package root is imported: a probe runs every few seconds and must not
load TensorFlow or Optuna.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

__all__ = ["HEALTH_FILE_VARIABLE", "check", "main", "mark_alive"]

HEALTH_FILE_VARIABLE = "SWEEPER_HEALTH_FILE"


def mark_alive() -> None:
    """Touch ``$SWEEPER_HEALTH_FILE`` when it is set (the worker's heartbeat calls this)."""
    path = os.environ.get(HEALTH_FILE_VARIABLE)
    if path:
        with contextlib.suppress(OSError):  # a health file that cannot be written must not
            Path(path).touch()              # stop the trials; the check then reports it


def check(kind: str, target: str, max_age: float | None = None, timeout: float = 5.0) -> str:
    """Return ``""`` when healthy, else why not (one line)."""
    if kind == "file":
        if max_age is None:
            raise ValueError("file: give the largest age in seconds")
        try:
            age = time.time() - os.path.getmtime(target)
        except OSError:
            return f"{target}: no heartbeat yet"
        return "" if age <= max_age else f"{target}: last heartbeat {age:.0f} s ago"
    if kind == "http":
        try:
            with urllib.request.urlopen(target, timeout=timeout) as answer:
                return "" if answer.status < 400 else f"{target}: HTTP {answer.status}"
        except OSError as error:
            return f"{target}: {error}"
    if kind == "tcp":
        host, _, port = target.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return ""
        except (OSError, ValueError) as error:
            return f"{target}: {error}"
    raise ValueError(f"unknown check {kind!r}: file, http or tcp")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) not in (2, 3):
            raise ValueError("usage: python -m sweeper.health file PATH MAX_AGE | http URL | "
                             "tcp HOST:PORT")
        problem = check(args[0], args[1], float(args[2]) if len(args) == 3 else None)
    except ValueError as error:
        print(f"sweeper.health: error: {error}", file=sys.stderr)
        return 2
    if problem:
        print(f"sweeper.health: unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
