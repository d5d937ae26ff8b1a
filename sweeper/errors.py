"""The errors a user can cause, each with the exit code the command line gives it.

Every failure that comes from the user's input (a study file, a data file, a storage URL, an
export rule) is raised as a :class:`SweeperError`. The command line prints its message as one line
and exits with :attr:`SweeperError.exit_code`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "ExportError",
    "NoFinishedTrialsError",
    "StorageError",
    "StudyFileError",
    "SweeperError",
]


class SweeperError(Exception):
    """A problem in the user's input, reported as one line and exit code 2."""

    exit_code = 2


class StudyFileError(SweeperError):
    """The study file is missing, is not valid TOML, or has a bad key or value."""


class DataError(SweeperError):
    """The data set cannot be used: missing file, bad shapes, NaN, non-binary labels, ..."""


class StorageError(SweeperError):
    """The storage URL is malformed or the database cannot be reached."""


class NoFinishedTrialsError(SweeperError):
    """A report or export was asked of a study that has no finished trial."""


class ExportError(SweeperError):
    """An export rule selects no trial, or an exported JSON file is invalid."""
