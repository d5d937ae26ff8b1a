"""A study's identity: the name derived from the data and the settings that pin the study.

``sweeper.sweep(X, y)`` without a study name runs the study named by a hash of the data's
fingerprint and the canonical form of the settings (:meth:`SweepConfig.canonical`): only the
settings that pin a study (data, model, search space, average), and of those only the ones
whose value is not the default. So the same call resumes the same study, another setting
starts another, and an option added by a later release, left at its default, changes nothing:
an upgrade resumes the studies of the release before.
"""

from __future__ import annotations

import hashlib
import json

from sweeper.config._configs import SweepConfig

__all__ = ["derived_study_name"]

PREFIX = "sweep-"

def derived_study_name(data_fingerprint: str, config: SweepConfig) -> str:
    """``sweep-`` and 12 hex digits of the hash of the data and the canonical settings."""
    canonical = json.dumps(config.canonical(), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{data_fingerprint}\n{canonical}".encode())
    return PREFIX + digest.hexdigest()[:12]
