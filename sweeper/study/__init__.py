"""The study: storage, records, scoring, baselines, liveness, the batched trial loop, workers,
and the front of operating points that report and export read.

Nothing here imports Keras at import time: :func:`run_study` imports the trainer when a run
starts, so report and export never load TensorFlow.
"""

from __future__ import annotations

from sweeper.study._asking import check_search_unchanged
from sweeper.study._baselines import (
    BASELINES_ATTR,
    WEIGHT_BASELINE_TITLES,
    baseline_candidates,
    baseline_titles,
    compute_baselines,
    load_baselines,
    missing_baselines,
    store_baselines,
)
from sweeper.study._front import (
    GAIN_MARGIN,
    SETTLE_MIN_TRIALS,
    OperatingPoint,
    Recommendation,
    Settlement,
    front_hypervolume,
    noise_margin,
    operating_points,
    paired_comparison,
    recommend,
    risk_text,
    select_point,
    settle_risk,
    settlement,
    validation_front,
)
from sweeper.study._liveness import Liveness, WorkerHeartbeat, fail_stale_trials, requeue
from sweeper.study._records import (
    RECORD_ATTR,
    STUDY_ATTR,
    StudyInfo,
    TrialRecord,
    trials_cut_short,
)
from sweeper.study._runner import SETTLED_ATTR, RunSummary, run_study
from sweeper.study._scoring import record_member
from sweeper.study._storage import ResilientStorage, is_sqlite, open_storage, redact
from sweeper.study._study import (
    DIRECTIONS,
    METRIC_NAMES,
    create_or_resume,
    finished_records,
    load_study,
    make_sampler,
    resolve_average,
    resolve_sampler,
    splits_fingerprint,
    stored_constraints,
    stored_model_settings,
    study_info,
)
from sweeper.study._workers import (
    check_worker_storage,
    gpu_environment,
    run_local_workers,
    worker_environments,
)

__all__ = [
    "BASELINES_ATTR",
    "DIRECTIONS",
    "GAIN_MARGIN",
    "METRIC_NAMES",
    "RECORD_ATTR",
    "SETTLED_ATTR",
    "SETTLE_MIN_TRIALS",
    "STUDY_ATTR",
    "WEIGHT_BASELINE_TITLES",
    "Liveness",
    "OperatingPoint",
    "Recommendation",
    "ResilientStorage",
    "RunSummary",
    "Settlement",
    "StudyInfo",
    "TrialRecord",
    "WorkerHeartbeat",
    "baseline_candidates",
    "baseline_titles",
    "check_search_unchanged",
    "check_worker_storage",
    "compute_baselines",
    "create_or_resume",
    "fail_stale_trials",
    "finished_records",
    "front_hypervolume",
    "gpu_environment",
    "is_sqlite",
    "load_baselines",
    "load_study",
    "make_sampler",
    "missing_baselines",
    "noise_margin",
    "open_storage",
    "operating_points",
    "paired_comparison",
    "recommend",
    "record_member",
    "redact",
    "requeue",
    "resolve_average",
    "resolve_sampler",
    "risk_text",
    "run_local_workers",
    "run_study",
    "select_point",
    "settle_risk",
    "settlement",
    "splits_fingerprint",
    "store_baselines",
    "stored_constraints",
    "stored_model_settings",
    "study_info",
    "trials_cut_short",
    "validation_front",
    "worker_environments",
]
