"""A study's identity: the name derived from the data and the settings that pin the study.

``sweeper.sweep(X, y)`` without a study name runs the study named by a hash of the data's
fingerprint and the canonical form of the settings (:meth:`SweepConfig.canonical`): only the
settings that pin a study (data, model, search space, average), and of those only the ones
whose value is not the default. So the same call resumes the same study, another setting
starts another, and an option added by a later release, left at its default, changes nothing:
an upgrade resumes the studies of the release before.

Sweeper 0.1 hashed the ``repr`` of its config objects instead, which any new option changed.
:func:`legacy_study_name` recomputes that name (from the 0.1 options, frozen here) so that a
study it named is found and resumed after the upgrade.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sweeper.config._configs import DataConfig, SearchConfig, SweepConfig

__all__ = ["derived_study_name", "legacy_study_name"]

PREFIX = "sweep-"

_LEGACY_DATA_KEYS = (
    "source", "label_columns", "label_column", "feature_columns", "validation_fraction",
    "test_fraction", "seed", "folds", "standardize",
)
_LEGACY_MODEL_KEYS = (
    "hidden", "factory", "epochs", "batch_size", "learning_rate", "patience", "factory_code",
)
_LEGACY_SEARCH_KEYS = (
    "families", "exponent", "beta", "multipliers", "buckets", "multiplier", "normalisations",
    "thresholds", "threshold", "fbeta", "class_weighting", "cost_matrix", "logit_adjustment",
)
_LEGACY_KEYS = {
    "study": ("average",), "data": _LEGACY_DATA_KEYS, "model": _LEGACY_MODEL_KEYS,
    "search": _LEGACY_SEARCH_KEYS,
}


def derived_study_name(data_fingerprint: str, config: SweepConfig) -> str:
    """``sweep-`` and 12 hex digits of the hash of the data and the canonical settings."""
    canonical = json.dumps(config.canonical(), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{data_fingerprint}\n{canonical}".encode())
    return PREFIX + digest.hexdigest()[:12]


def legacy_study_name(data_fingerprint: str, config: SweepConfig) -> str | None:
    """The name sweeper 0.1 derived for the same call, or ``None`` when a setting 0.1 did not
    have is set (0.1 cannot have run that study)."""
    for section, section_settings in config.canonical().items():
        if not set(section_settings) <= set(_LEGACY_KEYS[section]):
            return None
    model = {key: value for key, value in config.model.settings().items()
             if key in _LEGACY_MODEL_KEYS}
    settings = [
        _legacy_repr(config.data, DataConfig, _LEGACY_DATA_KEYS),
        repr(model),
        _legacy_repr(config.search, SearchConfig, _LEGACY_SEARCH_KEYS),
        repr(config.study.average),
    ]
    digest = hashlib.sha256(data_fingerprint.encode())
    digest.update(f"[{', '.join(settings)}]".encode())
    return PREFIX + digest.hexdigest()[:12]


def _legacy_repr(config: Any, kind: type, keys: tuple[str, ...]) -> str:
    """The dataclass ``repr`` of a 0.1 config object (its fields only)."""
    assert isinstance(config, kind)
    fields = ", ".join(f"{key}={getattr(config, key)!r}" for key in keys)
    return f"{kind.__name__}({fields})"

