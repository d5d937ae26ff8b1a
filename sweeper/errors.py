"""The errors the sweeper reports, each with the exit code the command line gives it.

Every failure that comes from the user's input (a setting, a study file, the data, a model
factory, a storage URL, an export rule) is raised as a :class:`SweeperError` (exit code 2: the
user can fix it). A run that fails for a reason outside the input (a worker process died, the
database stayed unreachable past the reconnect timeout) raises a :class:`RunFailedError` (exit
code 1). The Python API raises them as they are, with the offending key (or column, or option)
in :attr:`SweeperError.key`; the command line prints the message as one line and exits with
:attr:`SweeperError.exit_code`; an interrupted command exits with :data:`EXIT_INTERRUPTED`.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "ConfigError",
    "DataError",
    "DependencyError",
    "ExportError",
    "FactoryError",
    "NoFinishedTrialsError",
    "RunFailedError",
    "StorageError",
    "StorageLostError",
    "StudyFileError",
    "SweeperError",
    "one_line",
]


EXIT_USAGE = 2
"""Exit code of a problem in the user's input (what they can fix), as argparse's."""
EXIT_FAILED = 1
"""Exit code of a run that failed for a reason outside the input."""
EXIT_INTERRUPTED = 130
"""Exit code of an interrupted command (Ctrl-C or SIGTERM): 128 + SIGINT, as shells report."""


def one_line(error: BaseException, limit: int = 240) -> str:
    """``SyntaxError: invalid syntax (models.py, line 3)``: an exception as one line (terminal
    colour codes out, at most ``limit`` characters: Keras's messages span paragraphs)."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split())
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class SweeperError(Exception):
    """A problem in the user's input, reported as one line and exit code 2.

    Args:
        message: one line that names the problem.
        key: the setting, column or option at fault, when there is one.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ConfigError(SweeperError):
    """A setting has a bad value, or settings contradict each other.

    :attr:`section` is the group (``study``, ``data``, ``model``, ``search``), :attr:`key` the
    setting: ``ModelConfig(epochs=0)`` raises one with ``section="model"``, ``key="epochs"``.
    """

    def __init__(self, message: str, *, key: str | None = None, section: str | None = None):
        super().__init__(message, key=key)
        self.section = section


class StudyFileError(ConfigError):
    """The study file is missing, is not valid TOML, or has a bad key or value."""


class DataError(SweeperError):
    """The data set cannot be used: missing file, bad shapes, NaN, non-binary labels, ..."""


class StorageError(SweeperError):
    """The storage URL is malformed or the database cannot be reached (key ``storage``)."""

    def __init__(self, message: str, *, key: str | None = "storage") -> None:
        super().__init__(message, key=key)


class StorageLostError(StorageError):
    """The database stopped answering during a run and stayed unreachable past the reconnect
    timeout: not the input's fault (exit code 1)."""

    exit_code = EXIT_FAILED


class FactoryError(ConfigError):
    """The model factory (or the user's training step, ``key="fit"``) cannot be imported or
    called, or gives a model the sweeper cannot train or score: not a Keras model, the wrong
    output shape, probabilities instead of logits."""

    def __init__(self, message: str, key: str = "factory") -> None:
        super().__init__(message, key=key, section="model")


class RunFailedError(SweeperError):
    """A run failed for a reason outside the input, such as a worker process that died
    (exit code 1)."""

    exit_code = EXIT_FAILED


class NoFinishedTrialsError(SweeperError):
    """A report or export was asked of a study that has no finished trial."""


class ExportError(SweeperError):
    """An export rule selects no trial, or an exported JSON file is invalid."""


class DependencyError(SweeperError):
    """An installed library is outside the versions the sweeper is tested with (exit code 2:
    installing a supported version fixes it)."""
