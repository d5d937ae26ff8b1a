"""Settings: the config objects, their constraints and defaults (each declared once), the shared
vocabulary (task, splits, choices), and the study file that is one way to build them."""

from __future__ import annotations

from sweeper.config._configs import (
    AUTO_FOLDS,
    CLIP_KEYS,
    MIN_VALIDATION_POSITIVES,
    MULTICLASS_KEYS,
    MULTILABEL_KEYS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    STOPS,
    DataConfig,
    ModelConfig,
    SearchConfig,
    StudyConfig,
    SweepConfig,
    default_storage_url,
)
from sweeper.config._identity import derived_study_name
from sweeper.config._options import (
    Config,
    Named,
    argument_type,
    constraint_argument,
    invalid,
)
from sweeper.config._rules import EXPORT_RULES, RECOMMENDED, ExportRuleSpec, check_export_rule
from sweeper.config._studyfile import StudyFile, load_study_file, parse_study_file
from sweeper.config._vocabulary import (
    AVERAGES,
    CLASS_WEIGHTINGS,
    FAMILIES,
    MULTIPLIER_MODES,
    NORMALISATIONS,
    SAMPLERS,
    TASK_SETTINGS,
    THRESHOLD_RULES,
    Split,
    Task,
)

__all__ = [
    "AUTO_FOLDS",
    "AVERAGES",
    "CLASS_WEIGHTINGS",
    "CLIP_KEYS",
    "EXPORT_RULES",
    "FAMILIES",
    "MIN_VALIDATION_POSITIVES",
    "MULTICLASS_KEYS",
    "MULTILABEL_KEYS",
    "MULTIPLIER_MODES",
    "NORMALISATIONS",
    "OPTIMIZERS",
    "PRECISIONS",
    "RECOMMENDED",
    "SAMPLERS",
    "SCHEDULES",
    "STOPS",
    "TASK_SETTINGS",
    "THRESHOLD_RULES",
    "Config",
    "DataConfig",
    "ExportRuleSpec",
    "ModelConfig",
    "Named",
    "SearchConfig",
    "Split",
    "StudyConfig",
    "StudyFile",
    "SweepConfig",
    "Task",
    "argument_type",
    "check_export_rule",
    "constraint_argument",
    "default_storage_url",
    "derived_study_name",
    "invalid",
    "load_study_file",
    "parse_study_file",
]
