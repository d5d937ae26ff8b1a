"""The study file: a TOML document that says what to sweep, on which data, stored where.

The file is parsed once, at the boundary, into frozen dataclasses; every later module trusts them.
Unknown keys, wrong types and impossible values are errors that name the key
(``[model] epochs: expected an integer >= 1, got 0.``), raised before any data is read or any
training starts, so a typo never costs a sweep.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper.errors import StudyFileError
from sweeper.weights import CLASS_WEIGHTINGS, FAMILIES, MULTIPLIER_MODES, NORMALISATIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

__all__ = [
    "AVERAGES",
    "SAMPLERS",
    "THRESHOLD_RULES",
    "DataSection",
    "ModelSection",
    "SearchSection",
    "StudySection",
    "StudySpec",
    "default_storage_url",
    "load_study_file",
    "parse_study_file",
]

AVERAGES = ("auto", "micro", "macro")
SAMPLERS = ("tpe", "nsga2", "gp")
THRESHOLD_RULES = ("global", "per_label")
MULTILABEL_KEYS = ("thresholds", "threshold", "fbeta")
"""``[search]`` keys that only a multi-label task uses."""
MULTICLASS_KEYS = ("class_weighting", "cost_matrix", "logit_adjustment")
"""``[search]`` keys that only a multi-class task uses."""
_REQUIRED = object()


def default_storage_url(study_name: str) -> str:
    """SQLite next to where the user runs the sweeper: the embedded, zero-setup default."""
    return f"sqlite:///.sweeper/{study_name}.db"


@dataclass(frozen=True)
class StudySection:
    name: str
    storage: str
    trials: int
    average: str = "auto"
    sampler_seed: int = 0
    heartbeat_interval: float = 10.0
    """Seconds between a worker's heartbeats."""
    grace_period: float = 60.0
    """Seconds without a heartbeat after which a worker's trials are failed and retried."""
    max_retries: int = 2
    """How often the parameters of a trial whose worker died are tried again."""
    reconnect_timeout: float = 300.0
    """Seconds a worker keeps retrying a database (or proxy) that is away before it gives up."""
    artifacts: str = ".sweeper/artifacts"
    """Folder of the study's artifacts (HTML reports), shared with the dashboard."""
    sampler: str = "tpe"
    """Optuna sampler: ``tpe`` (multivariate TPE), ``nsga2``, or ``gp`` (needs PyTorch)."""
    min_precision: float | None = None
    """Trials below this validation precision are infeasible (an Optuna constraint)."""
    min_recall: float | None = None
    """Trials below this validation recall are infeasible (an Optuna constraint)."""


@dataclass(frozen=True)
class DataSection:
    source: str
    label_columns: tuple[str, ...] | None = None
    label_column: str | None = None
    feature_columns: tuple[str, ...] | None = None
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class ModelSection:
    hidden: tuple[int, ...] = (100, 100)
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    factory: str | None = None
    pack: int | None = None
    """Trials trained together in one pass; ``None`` lets the sweeper choose."""


@dataclass(frozen=True)
class SearchSection:
    """What the sampler searches. Ranges are ``(low, high)``; lists are the choices offered."""

    families: tuple[str, ...] = ("inverse_frequency",)
    exponent: tuple[float, float] = (0.0, 1.5)
    beta: tuple[float, float] = (0.9, 0.9999)
    multipliers: str = "none"
    """``none``, ``buckets`` (one multiplier per frequency bucket) or ``per_label``."""
    buckets: int = 3
    """Frequency buckets (tail to head) when ``multipliers = "buckets"``."""
    multiplier: tuple[float, float] = (0.25, 4.0)
    """Range of each multiplier, searched on a log scale."""
    normalisations: tuple[str, ...] = NORMALISATIONS
    thresholds: tuple[str, ...] = ("global",)
    """Multi-label decision rules: ``global`` (one searched threshold) and/or ``per_label``
    (each label's F-beta-optimal threshold on validation, beta searched)."""
    threshold: tuple[float, float] = (0.01, 0.99)
    fbeta: tuple[float, float] = (0.25, 4.0)
    class_weighting: tuple[str, ...] = ("true_class",)
    """Multi-class: weight a row by its true class, its predicted class, or a cost matrix."""
    cost_matrix: tuple[tuple[float, ...], ...] | None = None
    """``cost_matrix[y][k]``: the cost of predicting class ``k`` when the truth is ``y``."""
    logit_adjustment: tuple[float, float] = (0.0, 2.0)
    """Multi-class: range of tau in ``argmax(log p - tau log prior)``, applied after training."""
    given: frozenset[str] = frozenset()
    """The keys the file set (the others are defaults): task-specific keys are checked with it."""


@dataclass(frozen=True)
class StudySpec:
    """Everything a study file says, validated."""

    path: Path
    study: StudySection
    data: DataSection
    model: ModelSection = field(default_factory=ModelSection)
    search: SearchSection = field(default_factory=SearchSection)

    def with_overrides(self, *, storage: str | None = None, trials: int | None = None) -> StudySpec:
        """The spec with command-line overrides applied (``--storage``, ``--trials``)."""
        from dataclasses import replace

        study = self.study
        if storage is not None:
            study = replace(study, storage=storage)
        if trials is not None:
            if trials < 1:
                raise StudyFileError(f"--trials: expected an integer >= 1, got {trials}.")
            study = replace(study, trials=trials)
        return replace(self, study=study)


class _Section:
    """One table of the study file: takes keys one by one, then rejects whatever is left."""

    def __init__(self, path: Path, name: str, table: Any) -> None:
        if not isinstance(table, dict):
            raise StudyFileError(f"{path}: [{name}] must be a table, got {type(table).__name__}.")
        self.path = path
        self.name = name
        self.table = dict(table)

    def fail(self, key: str, message: str) -> StudyFileError:
        return StudyFileError(f"{self.path}: [{self.name}] {key}: {message}")

    def take(
        self,
        key: str,
        convert: Callable[[Any], Any],
        expected: str,
        default: Any = _REQUIRED,
    ) -> Any:
        if key not in self.table:
            if default is _REQUIRED:
                raise self.fail(key, "missing required key.")
            return default
        value = self.table.pop(key)
        try:
            return convert(value)
        except (TypeError, ValueError):
            raise self.fail(key, f"expected {expected}, got {value!r}.") from None

    def finish(self) -> None:
        if self.table:
            unknown = sorted(self.table)[0]
            raise self.fail(unknown, "unknown key.")


def _integer(minimum: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError
        return value

    return convert


def _number(low: float, high: float, *, open_low: bool = False, open_high: bool = False):
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        value = float(value)
        if not math.isfinite(value):
            raise ValueError
        if value < low or (open_low and value == low):
            raise ValueError
        if value > high or (open_high and value == high):
            raise ValueError
        return value

    return convert


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise TypeError
    items = tuple(_string(item) for item in value)
    if len(set(items)) != len(items):
        raise ValueError
    return items


def _layer_sizes(value: Any) -> tuple[int, ...]:
    """Hidden layer sizes; ``[]`` is a linear model (logistic or softmax regression)."""
    if not isinstance(value, list):
        raise TypeError
    return tuple(_integer(1)(item) for item in value)


def _range(
    low: float, high: float, *, open_low: bool = False, open_high: bool = False
) -> Callable[[Any], tuple[float, float]]:
    bound = _number(low, high, open_low=open_low, open_high=open_high)

    def convert(value: Any) -> tuple[float, float]:
        if not isinstance(value, list) or len(value) != 2:
            raise TypeError
        first, second = bound(value[0]), bound(value[1])
        if first > second:
            raise ValueError
        return first, second

    return convert


def _cost_matrix(value: Any) -> tuple[tuple[float, ...], ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise TypeError
    entry = _number(0, math.inf)
    rows = []
    for row in value:
        if not isinstance(row, list) or len(row) != len(value):
            raise ValueError
        rows.append(tuple(entry(item) for item in row))
    return tuple(rows)


def _choices(allowed: tuple[str, ...]) -> Callable[[Any], tuple[str, ...]]:
    def convert(value: Any) -> tuple[str, ...]:
        items = _strings(value)
        if any(item not in allowed for item in items):
            raise ValueError
        return items

    return convert


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in allowed:
            raise ValueError
        return value

    return convert


def _pack(value: Any) -> int | None:
    if value == "auto":
        return None
    return _integer(1)(value)


def _read_study(path: Path, document: dict[str, Any]) -> StudySection:
    section = _Section(path, "study", document.pop("study"))
    name = section.take("name", _string, "a non-empty string")
    study = StudySection(
        name=name,
        storage=section.take("storage", _string, "an SQLAlchemy URL", default_storage_url(name)),
        trials=section.take("trials", _integer(1), "an integer >= 1"),
        average=section.take("average", _one_of(AVERAGES), f"one of {AVERAGES}", "auto"),
        sampler_seed=section.take("sampler_seed", _integer(0), "an integer >= 0", 0),
        heartbeat_interval=section.take(
            "heartbeat_interval", _number(0, 3600, open_low=True), "seconds in (0, 3600]", 10.0
        ),
        grace_period=section.take(
            "grace_period", _number(0, 86400, open_low=True), "seconds in (0, 86400]", 60.0
        ),
        max_retries=section.take("max_retries", _integer(0), "an integer >= 0", 2),
        reconnect_timeout=section.take(
            "reconnect_timeout", _number(0, 86400), "seconds in [0, 86400]", 300.0
        ),
        artifacts=section.take("artifacts", _string, "a folder path", ".sweeper/artifacts"),
        sampler=section.take("sampler", _one_of(SAMPLERS), f"one of {SAMPLERS}", "tpe"),
        min_precision=section.take("min_precision", _number(0, 1), "a number in [0, 1]", None),
        min_recall=section.take("min_recall", _number(0, 1), "a number in [0, 1]", None),
    )
    section.finish()
    if study.grace_period <= 2 * study.heartbeat_interval:
        raise section.fail(
            "grace_period",
            "`grace_period > 2 * heartbeat_interval` must hold, but got "
            f"({study.grace_period=}, {study.heartbeat_interval=}).".replace("study.", ""),
        )
    return study


def _read_data(path: Path, document: dict[str, Any]) -> DataSection:
    section = _Section(path, "data", document.pop("data"))
    data = DataSection(
        source=section.take("source", _string, 'a path or "builtin:NAME"'),
        label_columns=section.take(
            "label_columns", _strings, "a list of distinct column names", None
        ),
        label_column=section.take("label_column", _string, "a column name", None),
        feature_columns=section.take(
            "feature_columns", _strings, "a list of distinct column names", None
        ),
        validation_fraction=section.take(
            "validation_fraction", _number(0, 1, open_low=True, open_high=True),
            "a number in (0, 1)", 0.2,
        ),
        test_fraction=section.take(
            "test_fraction", _number(0, 1, open_low=True, open_high=True),
            "a number in (0, 1)", 0.2,
        ),
        seed=section.take("seed", _integer(0), "an integer >= 0", 0),
    )
    section.finish()
    if data.label_columns is not None and data.label_column is not None:
        raise section.fail(
            "label_column",
            "`label_columns` (multi-label) and `label_column` (multi-class) cannot both be set.",
        )
    if data.validation_fraction + data.test_fraction >= 1:
        raise section.fail(
            "test_fraction",
            "`validation_fraction + test_fraction < 1` must hold, but got "
            f"{data.validation_fraction} + {data.test_fraction}.",
        )
    return data


def _read_model(path: Path, document: dict[str, Any]) -> ModelSection:
    section = _Section(path, "model", document.pop("model", {}))
    hidden = section.take(
        "hidden", _layer_sizes, "a list of positive integers ([] for a linear model)", None
    )
    factory = section.take("factory", _string, '"package.module:function"', None)
    if factory is not None and hidden is not None:
        raise section.fail("factory", "`factory` and `hidden` cannot both be set.")
    if factory is not None and factory.count(":") != 1:
        raise section.fail("factory", f'expected "package.module:function", got {factory!r}.')
    model = ModelSection(
        hidden=hidden if hidden is not None else ModelSection.hidden,
        epochs=section.take("epochs", _integer(1), "an integer >= 1", ModelSection.epochs),
        batch_size=section.take(
            "batch_size", _integer(1), "an integer >= 1", ModelSection.batch_size
        ),
        learning_rate=section.take(
            "learning_rate", _number(0, 10, open_low=True), "a number in (0, 10]",
            ModelSection.learning_rate,
        ),
        factory=factory,
        pack=section.take("pack", _pack, 'an integer >= 1 or "auto"', None),
    )
    section.finish()
    return model


def _read_search(path: Path, document: dict[str, Any]) -> SearchSection:
    section = _Section(path, "search", document.pop("search", {}))
    given = frozenset(section.table)
    default = SearchSection
    search = SearchSection(
        families=section.take(
            "families", _choices(FAMILIES), f"a list drawn from {FAMILIES}", default.families,
        ),
        beta=section.take(
            "beta", _range(0, 1, open_low=True, open_high=True),
            "[low, high] with 0 < low <= high < 1", default.beta
        ),
        exponent=section.take(
            "exponent", _range(0, 10), "[low, high] with 0 <= low <= high <= 10",
            default.exponent,
        ),
        multipliers=section.take(
            "multipliers", _one_of(MULTIPLIER_MODES), f"one of {MULTIPLIER_MODES}",
            default.multipliers,
        ),
        buckets=section.take("buckets", _integer(1), "an integer >= 1", default.buckets),
        multiplier=section.take(
            "multiplier", _range(0, 1000, open_low=True),
            "[low, high] with 0 < low <= high <= 1000", default.multiplier,
        ),
        normalisations=section.take(
            "normalisations", _choices(NORMALISATIONS), f"a list drawn from {NORMALISATIONS}",
            default.normalisations,
        ),
        thresholds=section.take(
            "thresholds", _choices(THRESHOLD_RULES), f"a list drawn from {THRESHOLD_RULES}",
            default.thresholds,
        ),
        threshold=section.take(
            "threshold", _range(0.0001, 0.9999), "[low, high] within (0, 1)", default.threshold,
        ),
        fbeta=section.take(
            "fbeta", _range(0.01, 100), "[low, high] with 0.01 <= low <= high <= 100",
            default.fbeta,
        ),
        class_weighting=section.take(
            "class_weighting", _choices(CLASS_WEIGHTINGS),
            f"a list drawn from {CLASS_WEIGHTINGS}", default.class_weighting,
        ),
        cost_matrix=section.take(
            "cost_matrix", _cost_matrix,
            "a square matrix (a list of K lists of K numbers >= 0, K >= 2)", None,
        ),
        logit_adjustment=section.take(
            "logit_adjustment", _range(0, 10), "[low, high] with 0 <= low <= high <= 10",
            default.logit_adjustment,
        ),
        given=given,
    )
    section.finish()
    if "buckets" in given and search.multipliers != "buckets":
        raise section.fail(
            "buckets", f'`buckets` applies to `multipliers = "buckets"`, not to '
            f"{search.multipliers!r}.",
        )
    wants_matrix = "cost_matrix" in search.class_weighting
    if wants_matrix and search.cost_matrix is None:
        raise section.fail(
            "cost_matrix", "missing: `class_weighting` lists 'cost_matrix', which needs it."
        )
    if search.cost_matrix is not None and not wants_matrix:
        raise section.fail(
            "cost_matrix", "`cost_matrix` is set but `class_weighting` does not list "
            "'cost_matrix'.",
        )
    return search


def parse_study_file(text: str, path: Path) -> StudySpec:
    """Parse and validate the text of a study file; ``path`` anchors relative data paths."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise StudyFileError(f"{path}: not valid TOML: {error}.") from None
    for table in ("study", "data"):
        if table not in document:
            raise StudyFileError(f"{path}: [{table}]: missing required table.")
    spec = StudySpec(
        path=path,
        study=_read_study(path, document),
        data=_read_data(path, document),
        model=_read_model(path, document),
        search=_read_search(path, document),
    )
    if document:
        raise StudyFileError(f"{path}: [{sorted(document)[0]}]: unknown table.")
    return spec


def load_study_file(path: str | Path) -> StudySpec:
    """Read and validate a study file from disk."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyFileError(f"{path}: study file not found.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StudyFileError(f"{path}: cannot read study file: {error}.") from None
    return parse_study_file(text, path)
