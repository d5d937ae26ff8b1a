"""Local worker processes: ``sweeper run --workers N`` and ``--gpus 0,1,...``.

The parent process creates (or resumes) the study, starts one ``sweeper worker`` process per
worker on the same storage, shows the study's global progress, and forwards Ctrl-C / SIGTERM to
its workers, which fail and requeue their batch in flight and exit 130 (as the parent then
does). With ``--gpus`` each worker sees only its own device (``CUDA_VISIBLE_DEVICES``) and
allocates GPU memory as it needs it instead of all at once, on TensorFlow and on JAX.

Several processes cannot share one SQLite file safely (writers lock the whole file), so more than
one worker on SQLite is refused: use PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sweeper.errors import SweeperError
from sweeper.study._storage import is_sqlite

__all__ = ["check_worker_storage", "gpu_environment", "run_local_workers", "worker_environments"]


def gpu_environment(device: str) -> dict[str, str]:
    """Environment for a worker that owns one GPU."""
    return {
        "CUDA_VISIBLE_DEVICES": device,
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }


def worker_environments(workers: int | None, gpus: Sequence[str] | None) -> list[dict[str, str]]:
    """One environment per worker process."""
    if gpus:
        return [{**os.environ, **gpu_environment(device)} for device in gpus]
    return [dict(os.environ) for _ in range(workers or 1)]


def check_worker_storage(url: str, count: int, key: str) -> None:
    """Refuse several workers on one SQLite file; ``key`` names the setting that asked for
    them (``workers`` or ``gpus``)."""
    if count > 1 and is_sqlite(url):
        raise SweeperError(
            f"{key}: {count} workers cannot share one SQLite file (it locks on every write); "
            "use PostgreSQL (a storage URL such as postgresql+psycopg://USER@HOST/DB).",
            key=key,
        )


def run_local_workers(
    study_file: Path,
    storage_url: str,
    environments: Sequence[dict[str, str]],
    *,
    progress: Callable[[], None] | None = None,
    extra_arguments: Sequence[str] = (),
    poll_s: float = 2.0,
) -> int:
    """Run the workers to completion; return 0 if every worker exited 0, else the first failure.

    SIGTERM or Ctrl-C here stops every worker (each fails and requeues its batch in flight),
    waits for them, and raises ``KeyboardInterrupt``. The storage URL reaches the workers in
    their environment (``SWEEPER_STORAGE``), not on their command line, which any user of the
    machine can read (``ps``), password included."""
    command = [sys.executable, "-m", "sweeper.cli", "worker", str(study_file), "--quiet",
               *extra_arguments]
    processes = [subprocess.Popen(command, env={**env, "SWEEPER_STORAGE": storage_url})
                 for env in environments]

    interrupted = []

    def stop(signum: int, frame: object) -> None:
        interrupted.append(signum)
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while any(process.poll() is None for process in processes):
            if progress is not None:
                progress()
            try:
                time.sleep(poll_s)
            except KeyboardInterrupt:
                stop(signal.SIGINT, None)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if progress is not None:
        progress()
    if interrupted:
        raise KeyboardInterrupt
    codes = [process.returncode for process in processes]
    return next((code for code in codes if code != 0), 0)
