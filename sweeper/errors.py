"""The errors a user can cause, each with the exit code the command line gives it.

Every failure that comes from the user's input (a setting, a study file, the data, a storage URL,
an export rule) is raised as a :class:`SweeperError`. The Python API raises it as it is, with the
offending key (or column, or option) in :attr:`SweeperError.key`; the command line prints its
message as one line and exits with :attr:`SweeperError.exit_code`. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "ExportError",
    "NoFinishedTrialsError",
    "StorageError",
    "StudyFileError",
    "SweeperError",
]


class SweeperError(Exception):
    """A problem in the user's input, reported as one line and exit code 2.

    Args:
        message: one line that names the problem.
        key: the setting, column or option at fault, when there is one.
    """

    exit_code = 2

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


class NoFinishedTrialsError(SweeperError):
    """A report or export was asked of a study that has no finished trial."""


class ExportError(SweeperError):
    """An export rule selects no trial, or an exported JSON file is invalid."""
