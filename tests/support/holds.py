"""The test side of :mod:`sweeper.holds`: hold sweeper processes at named points, wait until
they are there, act, release them.

A test that must act while a process is in some state (its trials RUNNING, a batch training)
holds the process in that state instead of polling for a window the machine's load may close:
the process waits at the point for as long as the test takes. The only waits here are for a
state the processes reach by themselves and then stay in, with a deadline far beyond any
machine's pace (it only turns a hang into a failure).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sweeper.holds import HOLDS_VARIABLE, POINTS

__all__ = ["Holds", "Visit"]

DEADLINE_S = 600.0
POLL_S = 0.05


@dataclass(frozen=True, order=True)
class Visit:
    """One process's ``n``-th arrival at a point."""

    point: str
    pid: int
    n: int

    @property
    def name(self) -> str:
        return f"{self.point}.{self.pid}.{self.n}"


class Holds:
    """Hold points in one folder; :meth:`environment` is what a held process must inherit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        return {**(os.environ if base is None else base), HOLDS_VARIABLE: str(self.folder)}

    def hold(self, point: str) -> None:
        """Every process that reaches ``point`` from now on waits there."""
        assert point in POINTS, point
        (self.folder / f"{point}.hold").touch()

    def release_all(self, point: str) -> None:
        """Let every process waiting at ``point`` go on, and hold no later arrival."""
        (self.folder / f"{point}.hold").unlink(missing_ok=True)

    def release(self, visit: Visit) -> None:
        """Let one waiting visit go on; the point stays held for later arrivals."""
        (self.folder / f"{visit.name}.release").touch()

    def visits(self, point: str) -> list[Visit]:
        found = []
        for path in self.folder.glob(f"{point}.*.reached"):
            _, pid, n, _ = path.name.split(".")
            found.append(Visit(point, int(pid), int(n)))
        return sorted(found, key=lambda visit: (visit.n, visit.pid))

    def wait(
        self, point: str, count: int = 1, *, processes: Sequence[subprocess.Popen] = ()
    ) -> list[Visit]:
        """Wait until ``count`` visits of ``point`` have happened; return them all.

        Fails at once, naming it, if one of ``processes`` exits first: a held process cannot
        exit, so an exit means it never reached the point."""
        deadline = time.monotonic() + DEADLINE_S
        while len(visits := self.visits(point)) < count:
            for process in processes:
                code = process.poll()
                assert code is None, (
                    f"process {process.pid} exited with code {code} before {count} visits of "
                    f"{point!r} ({len(visits)} so far): {_output(process)}"
                )
            assert time.monotonic() < deadline, f"no {count} visits of {point!r} in {DEADLINE_S} s"
            time.sleep(POLL_S)
        return visits


def _output(process: subprocess.Popen) -> str:
    """What an exited process printed, if the test captured it."""
    out, err = process.communicate()
    return "\n".join(part for part in (out, err) if isinstance(part, str) and part)
