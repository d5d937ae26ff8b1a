"""The study file: a TOML document translated into a :class:`~sweeper.config.SweepConfig`.

The translation is all this module does: each table goes to its config class, whose fields
validate themselves (:mod:`sweeper.config._configs`); a table's unknown key, a missing required
key or table, and invalid TOML are refused here. Every error names the file and the key
(``demo.toml: [model] epochs: expected an integer >= 1, got 0.``) and is raised before any data
is read or any training starts, so a typo never costs a sweep.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeper.config._configs import (
    DataConfig,
    ModelConfig,
    SearchConfig,
    StudyConfig,
    SweepConfig,
)
from sweeper.config._options import Config
from sweeper.errors import ConfigError, StudyFileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

__all__ = ["StudyFile", "errors_in", "load_study_file", "parse_study_file"]

TABLES: dict[str, type[Config]] = {
    "study": StudyConfig,
    "data": DataConfig,
    "model": ModelConfig,
    "search": SearchConfig,
}
REQUIRED: dict[str, tuple[str, ...]] = {"study": ("name", "trials"), "data": ("source",)}
"""Tables a study file must have, and the keys they must set (the API has other sources for
them: a derived name, a default budget, arrays in memory)."""


@dataclass(frozen=True)
class StudyFile:
    """A study file read and validated: where it is (relative paths start from its folder),
    and what it says."""

    path: Path
    config: SweepConfig

    @property
    def folder(self) -> Path:
        return self.path.parent


def _read_table(path: Path, name: str, table: Any) -> Config:
    if not isinstance(table, dict):
        raise StudyFileError(f"{path}: [{name}] must be a table, got {type(table).__name__}.")
    for key in REQUIRED.get(name, ()):
        if key not in table:
            raise StudyFileError(
                f"{path}: [{name}] {key}: missing required key.", key=key, section=name
            )
    try:
        return TABLES[name].from_mapping(table)
    except ConfigError as error:
        raise StudyFileError(f"{path}: {error}", key=error.key, section=name) from None


def parse_study_file(text: str, path: Path) -> StudyFile:
    """Parse and validate the text of a study file; ``path`` anchors relative data paths."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise StudyFileError(f"{path}: not valid TOML: {error}.") from None
    for name in REQUIRED:
        if name not in document:
            raise StudyFileError(f"{path}: [{name}]: missing required table.", section=name)
    unknown = sorted(set(document) - set(TABLES))
    if unknown:
        raise StudyFileError(f"{path}: [{unknown[0]}]: unknown table.", section=unknown[0])
    sections: dict[str, Any] = {
        name: _read_table(path, name, document.get(name, {})) for name in TABLES
    }
    return StudyFile(path=path, config=SweepConfig(**sections))


def load_study_file(path: str | Path) -> StudyFile:
    """Read and validate a study file from disk."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is no syntax error
    except FileNotFoundError:
        raise StudyFileError(f"{path}: study file not found.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StudyFileError(f"{path}: cannot read study file: {error}.") from None
    return parse_study_file(text, path)


@contextmanager
def errors_in(path: Path) -> Iterator[None]:
    """Setting errors found later (against the data, when the factory is imported) are the
    study file's too: name the file in front of them."""
    try:
        yield
    except StudyFileError:
        raise
    except ConfigError as error:
        raise StudyFileError(f"{path}: {error}", key=error.key, section=error.section) from None
