"""The sweeper's log: what it does, one timestamped line per event, on stderr.

Every module logs to a child of the ``sweeper`` logger (``logging.getLogger(__name__)``). As
Optuna does for its own, the ``sweeper`` logger has a handler of its own on stderr, so a notebook
or a script sees the sweeper's messages without configuring logging, and does not propagate
them to the root logger (no line printed twice). The level is ``$SWEEPER_LOG_LEVEL`` (default
``INFO``), or :func:`set_level` (the command line's ``--log-level``). An application that wants
the records in its own handlers calls ``set_level`` and
``logging.getLogger("sweeper").propagate = True``.

Progress bars are not log lines: they are drawn only on a terminal or in a notebook
(:func:`draws_progress`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import TextIO

__all__ = [
    "LEVELS",
    "LEVEL_VARIABLE",
    "ROOT",
    "draws_progress",
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


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (a notebook, JupyterLab, Colab), by the test
    ``tqdm.auto`` makes; IPython is never imported here, only asked when already loaded."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
        return shell is not None and "IPKernelApp" in shell.config
    except Exception:  # an IPython too old or too new to answer: take it as no notebook
        return False


def draws_progress(progress: bool, stream: TextIO | None = None) -> bool:
    """Whether a progress bar asked for (``progress=True``) is drawn on ``stream`` (default
    ``sys.stderr``): on a terminal, or in a notebook (a widget, or an output area where each
    redraw replaces the last). Elsewhere (stderr redirected to a file, a pipe, a CI log) a bar
    would write its line again at every epoch, tens of kilobytes glued to the log lines, which
    already say how the run goes; so no bar there. ``progress=False`` never draws one."""
    if not progress:
        return False
    if _in_notebook():
        return True
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # a closed stream
        return False


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
