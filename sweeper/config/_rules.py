"""The export rules: how one operating point is chosen from a study, declared once.

Each rule is a keyword of :meth:`sweeper.SweepResult.export`, a flag of ``sweeper export``
(``--min-precision``), a form of ``[study] export`` (``"min_precision=0.9"``) and a branch of
:func:`sweeper.study.select_point`; this table drives all four: the names, what each value
accepts (the same constraints as every setting) and the help text. At most one rule is given;
none means the recommended point (the verdict's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sweeper.config._options import Constraint, Integer, Number, Text
from sweeper.errors import ExportError

__all__ = [
    "EXPORT_RULES",
    "RECOMMENDED",
    "ExportRule",
    "ExportRuleSpec",
    "check_export_rule",
    "parse_export_rule",
]

RECOMMENDED = "recommended"
"""The rule of an export that names none: the verdict's point."""


@dataclass(frozen=True)
class ExportRuleSpec:
    """One export rule: its keyword, what its value accepts, and what it selects."""

    name: str
    constraint: Constraint
    metavar: str
    help: str

    @property
    def flag(self) -> str:
        """The command line's spelling: ``--min-precision``."""
        return "--" + self.name.replace("_", "-")


EXPORT_RULES: tuple[ExportRuleSpec, ...] = (
    ExportRuleSpec("trial", Integer(0), "N", "this trial number, at its own decision rule"),
    ExportRuleSpec(
        "baseline", Text("a baseline's name"), "NAME",
        "a baseline by the name the report gives it (unweighted, neg_pos, sklearn_balanced, "
        "deferred_balanced, focal, ...) at its best validation F1",
    ),
    ExportRuleSpec(
        "min_precision", Number(0, 1), "P",
        "the best recall among operating points with validation precision >= P",
    ),
    ExportRuleSpec(
        "min_recall", Number(0, 1), "R",
        "the best precision among operating points with validation recall >= R",
    ),
    ExportRuleSpec(
        "best_fbeta", Number(0, math.inf, open_low=True, expected="a finite number > 0"),
        "BETA", "the best validation F-beta (BETA > 1 favours recall, < 1 precision)",
    ),
)
_BY_NAME = {rule.name: rule for rule in EXPORT_RULES}


def check_export_rule(**given: Any) -> dict[str, Any]:
    """The one rule given (``None`` values are not given), its value checked and normalised:
    ``{name: value}``, or ``{}`` for the recommended point. Raises :class:`ExportError`
    naming the rule: an unknown name, a bad value, or more than one rule."""
    chosen = {name: value for name, value in given.items() if value is not None}
    for name in chosen:
        if name not in _BY_NAME:
            known = ", ".join(_BY_NAME)
            raise ExportError(f"{name}: unknown export rule; expected one of {known}.", key=name)
    if len(chosen) > 1:
        raise ExportError(f"choose one export rule, not {' and '.join(chosen)}.",
                          key=list(chosen)[-1])
    for name, value in chosen.items():
        constraint = _BY_NAME[name].constraint
        try:
            chosen[name] = constraint.convert(value)
        except (TypeError, ValueError):
            raise ExportError(
                f"{name}: expected {constraint.expected}, got {value!r}.", key=name
            ) from None
    return chosen


def parse_export_rule(text: Any) -> dict[str, Any]:
    """``[study] export``'s text: ``"recommended"`` (``{}``) or ``"NAME=VALUE"``; raises
    ``ValueError`` / ``TypeError`` for anything else (the setting's constraint reports it)."""
    if not isinstance(text, str):
        raise TypeError
    if text == RECOMMENDED:
        return {}
    name, equals, value = text.partition("=")
    if not equals or name not in _BY_NAME:
        raise ValueError
    return {name: _BY_NAME[name].constraint.parse(value)}


class ExportRule(Constraint):
    """The setting ``[study] export``: :data:`RECOMMENDED`, or ``NAME=VALUE`` of one rule."""

    expected = f'"{RECOMMENDED}", or ' + ", ".join(
        f'"{rule.name}={rule.metavar}"' for rule in EXPORT_RULES
    )

    def convert(self, value: Any) -> str:
        parse_export_rule(value)
        return value
