"""classweight-sweeper: search class weights, normalisation and threshold for imbalanced data.

The Python API (the command line is its client)::

    import sweeper

    result = sweeper.sweep(X, y, trials=40)      # arrays or a DataFrame already in memory
    result.front                                  # the recall/precision front, validation + test
    result.verdict                                # do the searched weights beat the baselines?
    exported = result.export("weights.json", min_precision=0.8)
    again = sweeper.load(result.study_name)       # reopen a finished or running sweep

Importing ``sweeper`` does not import Keras or TensorFlow; a sweep does when it trains.
"""

from __future__ import annotations

__version__ = "0.1.0"

from sweeper.api import PreparedSweep, SweepResult, load, prepare, sweep
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
    NoFinishedTrialsError,
    StorageError,
    StudyFileError,
    SweeperError,
)
from sweeper.export import ExportedWeights, load_export

__all__ = [
    "ConfigError",
    "DataConfig",
    "DataError",
    "ExportError",
    "ExportedWeights",
    "ModelConfig",
    "NoFinishedTrialsError",
    "PreparedSweep",
    "SearchConfig",
    "Split",
    "StorageError",
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
