"""classweight-sweeper: search class weights, normalisation and threshold for imbalanced data.

The Python API (the command line is its client)::

    import sweeper

    result = sweeper.sweep(X, y, trials=40)      # arrays or a DataFrame already in memory
    result.front                                  # the recall/precision front, validation + test
    result.verdict                                # do the searched weights beat the baselines?
    exported = result.export("weights.json", min_precision=0.8)
    again = sweeper.load(result.study_name)       # reopen a finished or running sweep

Importing ``sweeper`` is light: the settings and errors load at once, the API (Optuna,
SQLAlchemy, NumPy) on first use of one of its names, and Keras or TensorFlow only when a sweep
trains. So ``sweeper --help`` answers at once, and the command line catches Ctrl-C from its first
moments (an interrupt during a module import would otherwise end in a traceback).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from sweeper import logs  # noqa: F401  (the sweeper's log handler, before any module logs)
from sweeper.config import (
    DataConfig,
    ModelConfig,
    SearchConfig,
    Split,
    StudyConfig,
    SweepConfig,
    Task,
)
from sweeper.errors import (
    ConfigError,
    DataError,
    ExportError,
    FactoryError,
    NoFinishedTrialsError,
    RunFailedError,
    StorageError,
    StorageLostError,
    StudyFileError,
    SweeperError,
)

if TYPE_CHECKING:
    from sweeper.api import PreparedSweep, SweepResult, load, prepare, sweep
    from sweeper.export import ExportedWeights, load_export

_LAZY = {
    "PreparedSweep": "sweeper.api",
    "SweepResult": "sweeper.api",
    "load": "sweeper.api",
    "prepare": "sweeper.api",
    "sweep": "sweeper.api",
    "ExportedWeights": "sweeper.export",
    "load_export": "sweeper.export",
}


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use (PEP 562)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sweeper' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

__all__ = [
    "ConfigError",
    "DataConfig",
    "DataError",
    "ExportError",
    "ExportedWeights",
    "FactoryError",
    "ModelConfig",
    "NoFinishedTrialsError",
    "PreparedSweep",
    "RunFailedError",
    "SearchConfig",
    "Split",
    "StorageError",
    "StorageLostError",
    "StudyConfig",
    "StudyFileError",
    "SweepConfig",
    "SweepResult",
    "SweeperError",
    "Task",
    "__version__",
    "load",
    "load_export",
    "prepare",
    "sweep",
]
