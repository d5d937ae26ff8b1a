"""Which Keras backend trains: chosen before Keras is first imported.

TensorFlow and JAX are extras (``classweight-sweeper[tensorflow]``, ``[jax]``), so a lean GPU
worker can run without TensorFlow. Keras itself defaults to TensorFlow and fails at import when
it is missing; :func:`choose_backend` picks JAX instead in that case, and turns "no backend at all"
into one line naming the extras. ``KERAS_BACKEND`` set by the user always wins.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys

from sweeper.errors import SweeperError

__all__ = ["choose_backend"]

logger = logging.getLogger(__name__)


def _installed(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder that refuses it: as good as missing
        return False


def choose_backend() -> None:
    """Set ``KERAS_BACKEND`` when it is unset and TensorFlow is not installed: JAX if it is,
    else raise :class:`~sweeper.errors.SweeperError` naming the extras."""
    if "KERAS_BACKEND" in os.environ or "keras" in sys.modules:
        return
    if _installed("tensorflow"):
        return  # Keras's own default
    if _installed("jax"):
        os.environ["KERAS_BACKEND"] = "jax"
        logger.info("TensorFlow is not installed: training on Keras's JAX backend.")
        return
    raise SweeperError(
        "no Keras backend is installed: pip install 'classweight-sweeper[tensorflow]' "
        "(or [jax]).", key="backend",
    )
