"""Interrupts (Ctrl-C, SIGTERM) that cannot be lost.

The command line turns SIGINT and SIGTERM into ``KeyboardInterrupt``. Raised from a signal
handler, that exception lands wherever Python happens to be: inside a library's bare
``except:``, or a weakref callback during garbage collection, it is swallowed and the run goes on.
So the handler also records the request, and the trial loop checks it between batches
(:func:`check`): a swallowed interrupt still stops the run, one batch later at most.

Where Python itself swallows it (a weakref callback or a finaliser, which cannot raise), it
prints ``Exception ignored in ...`` and a traceback; :func:`quiet_unraisable` drops those
reports for an interrupt that was requested, since :func:`check` raises it again at a safe point.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "check",
    "clear",
    "interrupt",
    "quiet_unraisable",
    "requested",
    "serve_until_interrupted",
]

_requested = threading.Event()


def interrupt(signum: int, frame: Any) -> None:
    """A signal handler: record the request and raise ``KeyboardInterrupt``."""
    _requested.set()
    raise KeyboardInterrupt


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if an interrupt was requested (and perhaps swallowed)."""
    if _requested.is_set():
        raise KeyboardInterrupt


def clear() -> None:
    _requested.clear()


@contextlib.contextmanager
def quiet_unraisable() -> Iterator[None]:
    """Within the block, an interrupt Python could not raise (it landed in a weakref callback
    or a ``__del__``) is not printed: it was recorded, and :func:`check` raises it later. Every
    other unraisable exception goes to the previous hook as before."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and _requested.is_set():
            return
        previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def serve_until_interrupted(serve: Callable[[], object], poll_seconds: float = 0.5) -> None:
    """Run a blocking server (optuna-dashboard, the gRPC proxy) until an interrupt.

    The server runs in a daemon thread while the main thread waits and calls :func:`check`:
    an interrupt raised inside the server's loop can be swallowed there (a weakref callback of
    a database connection, a library's ``except``), and the server would run on after SIGTERM.
    An exception the server raises (its port taken, say) is raised here.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            serve()
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, name="server", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(poll_seconds)
        check()
    if failure:
        raise failure[0]
