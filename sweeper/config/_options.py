"""Options: each setting's constraint, default and help, declared once.

A config class (:mod:`sweeper.config`) declares its settings as dataclass fields made by
:func:`option`, which carries the field's :class:`Constraint` and help text in the field's
metadata. That one declaration drives:

- the Python API: constructing a config validates and normalises every field
  (``ModelConfig(epochs=0)`` raises :class:`~sweeper.errors.ConfigError` naming ``epochs``);
- the study file: the TOML reader passes a table's keys to the constructor and rejects the rest;
- the command line: ``--trials`` parses its text with the same constraint
  (:func:`argument_type`).

Every violation reads the same way, from one template (:func:`invalid`):
``[model] epochs: expected an integer >= 1, got 0.``
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sweeper.errors import ConfigError

__all__ = [
    "AnyOf",
    "AutoCount",
    "Config",
    "Constraint",
    "CostMatrix",
    "Factory",
    "Flag",
    "Integer",
    "LabelValue",
    "LayerSizes",
    "Named",
    "NamedChoice",
    "Number",
    "OneOf",
    "Range",
    "Text",
    "Texts",
    "argument_type",
    "constraint_argument",
    "invalid",
    "json_value",
    "option",
]


MAX_LAYER_SIZE = 65_536
"""The widest hidden layer a study file may ask for (a typo of a few zeros would exhaust any
memory while the first batch trains)."""
MAX_SEED = 2**32 - 1
"""NumPy, Keras and Optuna seeds are 32-bit."""


def invalid(section: str | None, key: str, problem: str) -> ConfigError:
    """The one message template: ``[section] key: problem`` (``key: problem`` without one)."""
    where = f"[{section}] {key}" if section else key
    return ConfigError(f"{where}: {problem}", key=key, section=section)


class Constraint:
    """What a setting accepts: :meth:`convert` normalises a value or raises ``ValueError`` /
    ``TypeError``; :attr:`expected` says in words what is accepted."""

    expected: str = "a valid value"

    def convert(self, value: Any) -> Any:
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        """A command-line word: a number where a number is expected, else the text."""
        return self.convert(text)


class Integer(Constraint):
    """An integer ``>= minimum`` (and ``<= maximum`` when given: seeds must fit 32 bits)."""

    def __init__(
        self, minimum: int, expected: str | None = None, *, maximum: int | None = None
    ) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.expected = expected or (
            f"an integer >= {minimum}" if maximum is None
            else f"an integer from {minimum} to {maximum:,}"
        )

    def convert(self, value: Any) -> int:
        # numbers.Integral: NumPy's integers too; a bool is no count.
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError
        number = int(value)  # exact for any Integral; compared as int (typeshed's Integral is not)
        if number < self.minimum or (self.maximum is not None and number > self.maximum):
            raise ValueError
        return number

    def parse(self, text: str) -> int:
        return self.convert(int(text))


class Number(Constraint):
    """A finite number in an interval; ``open_low`` / ``open_high`` exclude the bounds."""

    def __init__(
        self,
        low: float,
        high: float,
        *,
        open_low: bool = False,
        open_high: bool = False,
        expected: str | None = None,
    ) -> None:
        self.low, self.high = low, high
        self.open_low, self.open_high = open_low, open_high
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        self.expected = expected or f"a number in {left}{low:g}, {high:g}{right}"

    def convert(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError
        value = float(value)
        if not math.isfinite(value):
            raise ValueError
        if value < self.low or (self.open_low and value == self.low):
            raise ValueError
        if value > self.high or (self.open_high and value == self.high):
            raise ValueError
        return value

    def parse(self, text: str) -> float:
        return self.convert(float(text))


class Flag(Constraint):
    """``true`` or ``false`` (a TOML boolean, a Python bool; ``true``/``false`` on a command
    line)."""

    expected = "true or false"

    def convert(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise TypeError
        return value

    def parse(self, text: str) -> bool:
        if text.lower() not in ("true", "false"):
            raise ValueError
        return text.lower() == "true"


class Text(Constraint):
    def __init__(self, expected: str = "a non-empty string", *, longest: int | None = None):
        self.expected = expected
        self.longest = longest

    def convert(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise TypeError
        if self.longest is not None and len(value) > self.longest:
            raise ValueError
        return value


class LabelValue(Constraint):
    """One of the values a label column holds, as the user writes it: a string, an integer or a
    boolean (``"fraud"``, ``1``, ``true``)."""

    expected = "a class value (a string, an integer or true/false)"

    def convert(self, value: Any) -> str | int | bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, str) and value.strip():
            return value
        raise TypeError

    def parse(self, text: str) -> str | int | bool:
        """A command-line word as text: it is matched against the values as text too."""
        return self.convert(text)


class Texts(Constraint):
    """A non-empty list of distinct strings, kept as a tuple."""

    expected = "a list of distinct column names"

    def convert(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
            raise TypeError
        items = tuple(Text().convert(item) for item in value)
        if len(set(items)) != len(items):
            raise ValueError
        return items


class OneOf(Constraint):
    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices
        self.expected = f"one of {choices}"

    def convert(self, value: Any) -> str:
        if value not in self.choices:
            raise ValueError
        return str(value)


class AnyOf(Constraint):
    """A non-empty list of distinct choices."""

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices
        self.expected = f"a list drawn from {choices}"

    def convert(self, value: Any) -> tuple[str, ...]:
        items = Texts().convert(value)
        if any(item not in self.choices for item in items):
            raise ValueError
        return items


class Range(Constraint):
    """``[low, high]`` with both ends inside the bounds of ``number`` and ``low <= high``."""

    def __init__(self, number: Number, expected: str) -> None:
        self.number = number
        self.expected = expected

    def convert(self, value: Any) -> tuple[float, float]:
        if isinstance(value, str) or not isinstance(value, (list, tuple)) or len(value) != 2:
            raise TypeError
        low, high = self.number.convert(value[0]), self.number.convert(value[1])
        if low > high:
            raise ValueError
        return low, high


class LayerSizes(Constraint):
    """Hidden layer sizes; ``[]`` is a linear model (logistic or softmax regression)."""

    expected = "a list of positive integers ([] for a linear model)"

    def convert(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise TypeError
        return tuple(Integer(1, maximum=MAX_LAYER_SIZE).convert(item) for item in value)


class CostMatrix(Constraint):
    expected = "a square matrix (a list of K lists of K numbers from 0 to 1e6, K >= 2)"

    def convert(self, value: Any) -> tuple[tuple[float, ...], ...]:
        if not isinstance(value, (list, tuple)) or len(value) < 2:
            raise TypeError
        entry = Number(0, 1e6)  # costs far beyond float32's range would overflow the loss
        rows = []
        for row in value:
            if not isinstance(row, (list, tuple)) or len(row) != len(value):
                raise ValueError
            rows.append(tuple(entry.convert(item) for item in row))
        return tuple(rows)


@dataclasses.dataclass(frozen=True)
class Named:
    """A choice with arguments, as a study file writes it: ``"adam"`` or
    ``{name = "sgd", momentum = 0.9}``; immutable (``arguments`` sorted by key)."""

    name: str
    arguments: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, **dict(self.arguments)}

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.arguments)


class NamedChoice(Constraint):
    """One of ``choices`` by name, alone or with arguments: a name, a mapping with ``name``
    and the arguments (numbers, booleans or strings), or a :class:`Named`. ``arguments``, when
    given, is each choice's accepted arguments with their constraints (others are refused);
    ``refused`` maps argument names to the setting that replaces them; ``withheld`` maps names a
    user may know but that are not offered to the reason why."""

    def __init__(
        self,
        choices: tuple[str, ...],
        *,
        arguments: dict[str, dict[str, Constraint]] | None = None,
        refused: dict[str, str] | None = None,
        withheld: dict[str, str] | None = None,
    ) -> None:
        self.choices = choices
        self.arguments = arguments
        self.refused = refused or {}
        self.withheld = withheld or {}
        self.expected = (f"a name from {choices}, or a table with `name` and its arguments")

    def convert(self, value: Any) -> Named:
        if isinstance(value, Named):
            value = value.to_json()
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            raise TypeError
        name = value["name"].lower()
        if name not in self.choices:
            raise ValueError
        arguments = {key: item for key, item in value.items() if key != "name"}
        for key, item in arguments.items():
            if key in self.refused:
                raise ValueError
            if isinstance(item, (bool, numbers.Real, str)):
                continue
            raise TypeError
        if self.arguments is not None:
            accepted = self.arguments.get(name, {})
            for key in arguments:
                if key not in accepted:
                    raise ValueError
                arguments[key] = accepted[key].convert(arguments[key])
        return Named(name, tuple(sorted(arguments.items())))

    def problem(self, value: Any) -> str | None:
        """A precise reason why ``value`` is refused (``None``: the generic message)."""
        if isinstance(value, Named):
            value = value.to_json()
        name = value if isinstance(value, str) else (
            value.get("name") if isinstance(value, dict) else None)
        if isinstance(name, str) and name.lower() in self.withheld:
            return f"{name.lower()!r} is not offered: {self.withheld[name.lower()]}"
        if isinstance(value, dict):
            for key in value:
                if key in self.refused:
                    return f"`{key}` is not set here: use {self.refused[key]}."
            name = str(value.get("name", "")).lower()
            if self.arguments is not None and name in self.arguments:
                unknown = sorted(set(value) - {"name"} - set(self.arguments[name]))
                if unknown:
                    known = ", ".join(self.arguments[name]) or "none"
                    return f"{name!r} takes no argument {unknown[0]!r} (it takes: {known})."
                for key, constraint in self.arguments[name].items():
                    if key in value:
                        try:
                            constraint.convert(value[key])
                        except (TypeError, ValueError):
                            return (f"{name!r} {key}: expected {constraint.expected}, got "
                                    f"{value[key]!r}.")
        return None


class AutoCount(Constraint):
    """A count the sweeper may choose: an integer >= 1, or ``"auto"`` (stored as ``None``)."""

    expected = 'an integer >= 1 or "auto"'

    def convert(self, value: Any) -> int | None:
        if value == "auto" or value is None:
            return None
        return Integer(1).convert(value)

    def parse(self, text: str) -> int | None:
        return self.convert(text if text == "auto" else int(text))


class Factory(Constraint):
    """A model factory: ``"package.module:function"`` (study files) or a callable (the API)."""

    expected = '"package.module:function" or a callable'

    def convert(self, value: Any) -> str | Callable[..., Any]:
        if callable(value):
            return value
        if not isinstance(value, str) or value.count(":") != 1 or not all(value.split(":")):
            raise ValueError
        return value


class SamplerChoice(Constraint):
    """An Optuna sampler: a name the sweeper builds (``choices``), ``"package.module:attribute"``
    (a study file: a sampler, or a function returning one, imported as a factory is), or a
    sampler object (the API). The config layer does not import Optuna: an object is taken for
    a sampler when it has a sampler's methods, and the study checks it is one."""

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices
        self.expected = (f"one of {choices}, \"package.module:attribute\" naming a sampler or a "
                         "function returning one, or an optuna sampler object")

    def convert(self, value: Any) -> Any:
        if isinstance(value, str):
            if value in self.choices:
                return value
            return Factory().convert(value)
        if all(callable(getattr(value, method, None))
               for method in ("infer_relative_search_space", "sample_relative",
                              "sample_independent")):
            return value
        raise TypeError


_REQUIRED = dataclasses.MISSING

_C = TypeVar("_C", bound="Config")


def option(
    constraint: Constraint,
    default: Any = _REQUIRED,
    help: str = "",
    *,
    pins: bool = True,
) -> Any:
    """A config field: its constraint, its default (none: required) and its help text.

    A default of ``None`` means "not set" and is always accepted; tuples stay immutable.
    ``pins``: whether the setting is part of what a study's trials mean (the data, the model,
    the search space), so that another value is another study (:meth:`Config.canonical`);
    where and how a study runs (its storage, budget, sampler, pack size) does not pin it.
    """
    metadata = {"constraint": constraint, "help": help, "pins": pins}
    if default is _REQUIRED:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class Config:
    """Base of the config dataclasses: validates every field on construction.

    Subclasses are frozen dataclasses whose fields come from :func:`option`; ``section`` names
    them in messages (``[model]``). :meth:`check` holds rules that tie several fields together.
    """

    section: ClassVar[str]
    if TYPE_CHECKING:
        # Every subclass is a dataclass: this tells type checkers so (dataclasses.fields(cls)).
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            constraint = field.metadata.get("constraint")
            value = getattr(self, field.name)
            if constraint is None or value is None:
                continue
            try:
                converted = constraint.convert(value)
            except (TypeError, ValueError):
                problem = getattr(constraint, "problem", lambda value: None)(value)
                raise invalid(
                    self.section, field.name,
                    problem or f"expected {constraint.expected}, got {value!r}.",
                ) from None
            object.__setattr__(self, field.name, converted)
        self.check()

    def check(self) -> None:
        """Rules across fields; raise :meth:`fail` naming the key."""

    @classmethod
    def fail(cls, key: str, problem: str) -> ConfigError:
        return invalid(cls.section, key, problem)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The settings (the fields declared with :func:`option`)."""
        return tuple(
            field.name for field in dataclasses.fields(cls) if "constraint" in field.metadata
        )

    @classmethod
    def default(cls, key: str) -> Any:
        """A field's declared default (for callers that need it without an instance)."""
        for field in dataclasses.fields(cls):
            if field.name == key:
                return field.default
        raise KeyError(key)

    @classmethod
    def help(cls, key: str) -> str:
        for field in dataclasses.fields(cls):
            if field.name == key:
                return field.metadata.get("help", "")
        raise KeyError(key)

    @classmethod
    def pinning_keys(cls) -> tuple[str, ...]:
        """The settings declared with ``pins=True`` (see :func:`option`)."""
        return tuple(
            field.name for field in dataclasses.fields(cls)
            if "constraint" in field.metadata and field.metadata["pins"]
        )

    def settings(self) -> dict[str, Any]:
        """The pinning settings as JSON values (tuples as lists), in declaration order."""
        return {key: json_value(getattr(self, key)) for key in self.pinning_keys()}

    def canonical(self) -> dict[str, Any]:
        """The pinning settings whose value is not the default's: the part of a study's
        identity this config gives. A setting added in a later release, left at its default,
        does not appear, so names derived from it and checks against it do not change."""
        defaults = type(self)().settings()
        return {
            key: value for key, value in self.settings().items()
            if key not in defaults or value != defaults[key]
        }

    @classmethod
    def from_mapping(cls: type[_C], values: dict[str, Any]) -> _C:
        """Build from a mapping (a TOML table, keyword arguments); an unknown key is an error."""
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            raise cls.fail(unknown[0], "unknown key.")
        return cls(**values)


def json_value(value: Any) -> Any:
    """A setting as JSON holds it: tuples as lists, all the way down; a :class:`Named` as its
    table."""
    if isinstance(value, Named):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [json_value(item) for item in value]
    return value


def argument_type(config: type[Config], key: str, flag: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses a command-line word with ``config``'s constraint for
    ``key``; its error message is the same template's, naming ``flag``."""
    field = next(f for f in dataclasses.fields(config) if f.name == key)
    return constraint_argument(field.metadata["constraint"], flag)


def constraint_argument(constraint: Constraint, flag: str) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses a command-line word with ``constraint``."""

    def parse(text: str) -> Any:
        try:
            return constraint.parse(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"expected {constraint.expected}, got {text!r}"
            ) from None

    parse.__name__ = flag
    return parse
