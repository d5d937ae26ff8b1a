"""The sweeper's log: what it does, one timestamped line per event, on stderr.

Every module logs to a child of the ``sweeper`` logger (``logging.getLogger(__name__)``). As
Optuna does for its own, the ``sweeper`` logger has a handler of its own on stderr, so a notebook
or a script sees the sweeper's messages without configuring logging, and does not propagate
them to the root logger (no line printed twice). The level is ``$SWEEPER_LOG_LEVEL`` (default
``INFO``), or :func:`set_level` (the command line's ``--log-level``). An application that wants
the records in its own handlers calls ``set_level`` and
``logging.getLogger("sweeper").propagate = True``.

Progress bars are not log lines: they are drawn only on a terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

__all__ = [
    "LEVELS",
    "LEVEL_VARIABLE",
    "ROOT",
    "held_back",
    "level_from_environment",
    "set_level",
]

ROOT = "sweeper"
LEVEL_VARIABLE = "SWEEPER_LOG_LEVEL"
LEVELS = ("debug", "info", "warning", "error")
FORMAT = "[%(asctime)s %(levelname)s] %(message)s"
"""``[2026-11-23 10:04:12,031 INFO] study 'x' in sqlite:///...``"""


class _StderrHandler(logging.StreamHandler):
    """Writes to the ``sys.stderr`` of the moment (tests and notebooks replace it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def level_from_environment(default: str = "info") -> str:
    """``$SWEEPER_LOG_LEVEL`` (one of :data:`LEVELS`, any case), else ``default``.

    Raises ``ValueError`` naming the variable for any other value."""
    value = os.environ.get(LEVEL_VARIABLE, "").strip().lower() or default
    if value not in LEVELS:
        raise ValueError(f"${LEVEL_VARIABLE}: expected one of {', '.join(LEVELS)}, got {value!r}.")
    return value


def set_level(level: str | int) -> None:
    """The level of the sweeper's messages: ``"debug"``, ``"info"``, ``"warning"``,
    ``"error"`` (or a ``logging`` constant)."""
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    logging.getLogger(ROOT).setLevel(level)


class _Holder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def held_back() -> Iterator[None]:
    """Hold the sweeper's log records back while a block runs: they are emitted when it
    succeeds and dropped when it raises, so input that is refused after a warning (too few
    gradient steps, say) prints its one error line and nothing else."""
    logger = logging.getLogger(ROOT)
    holder = _Holder()
    handlers = logger.handlers[:]
    for handler in handlers:
        logger.removeHandler(handler)
    logger.addHandler(holder)
    try:
        yield
    finally:
        logger.removeHandler(holder)
        for handler in handlers:
            logger.addHandler(handler)
    for record in holder.records:  # reached only when the block succeeded
        logger.handle(record)


def _install() -> None:
    logger = logging.getLogger(ROOT)
    if logger.handlers:
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        set_level(level_from_environment())
    except ValueError:
        set_level("info")  # the command line reports the bad value; the API keeps going


_install()
