"""Hold points: a test parks a sweeper process at a named point until it releases it.

Tests of several processes act while a process is in a given state: a worker killed while its
trials train, SIGTERM during training, the database stopped while trials run. Polling the study
for that state races the process, which moves on at the speed of the machine of the day, so a
loaded CI machine closes the window and the test fails. Instead the code calls :func:`reach` at
the points tests need, and the test holds the process there for as long as it takes.

The protocol is files in one folder, named by ``$SWEEPER_TEST_HOLDS`` (test-only; unset in
production, where :func:`reach` returns at once and touches nothing):

- at each point a process writes ``<point>.<pid>.<n>.reached`` (``n`` counts this process's
  visits to the point, from 1), whether held or not, so a test can also wait for a moment to pass;
- if ``<point>.hold`` exists, the process then waits until that file is removed (release all)
  or ``<point>.<pid>.<n>.release`` appears (release this one visit).

The wait sleeps in short steps, so a signal (SIGINT, SIGTERM) lands in it as it would in
training, and a process killed while held leaves nothing behind but its ``reached`` file.
``tests/support/holds.py`` is the test side. Points: ``started`` (the command line's signal handlers
are installed, before any heavy import), ``prepared`` (the study is open and its data loaded,
before any training), ``training`` (a batch's trials are RUNNING, before it trains), ``epoch``
(after each epoch of a packed training pass).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

__all__ = ["HOLDS_VARIABLE", "POINTS", "reach"]

HOLDS_VARIABLE = "SWEEPER_TEST_HOLDS"
POINTS = ("started", "prepared", "training", "epoch")
WAIT_STEP_S = 0.02

_visits: Counter[str] = Counter()


def reach(point: str) -> None:
    """Mark ``point`` as reached and wait there while a test holds it (no-op unless
    ``$SWEEPER_TEST_HOLDS`` is set)."""
    folder = os.environ.get(HOLDS_VARIABLE)
    if not folder:
        return
    if point not in POINTS:
        raise ValueError(f"unknown hold point {point!r}; expected one of {POINTS}.")
    _visits[point] += 1
    visit = f"{point}.{os.getpid()}.{_visits[point]}"
    folder_path = Path(folder)
    marker = folder_path / f".{visit}.tmp"
    marker.write_text("")
    marker.replace(folder_path / f"{visit}.reached")
    held, release = folder_path / f"{point}.hold", folder_path / f"{visit}.release"
    while held.exists() and not release.exists():
        time.sleep(WAIT_STEP_S)
