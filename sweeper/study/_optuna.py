"""The only place that touches Optuna's private members, and why each is needed.

The sweeper asks and tells in batches and keeps its own liveness records, so it talks to the
storage directly in a few places where Optuna's public API has no equivalent:

- :func:`storage_of` (``Study._storage``): counting trials by state in the database
  (``get_n_trials``) instead of loading them all, and writing the study system attributes that
  hold worker heartbeats. The storage the study was opened with is the same object, but a study
  reopened by name (``optuna.load_study``) gives no other handle to it.
- :func:`study_id_of` (``Study._study_id``): every storage call names the study by id; the public
  way (``storage.get_study_id_from_name``) costs one more query per call.
- :func:`trial_id_of` (``Trial._trial_id`` / ``FrozenTrial._trial_id``): storage calls and
  heartbeats name a trial by id, not by number; the public way
  (``get_trial_id_from_study_id_trial_number``) costs one query per trial.
- :func:`engine_of` (``_CachedStorage._backend``): the SQLAlchemy engine behind Optuna's cache
  in front of an RDB storage, so that closing a storage returns its pooled connections.
- :func:`count_trials` (``optuna.storages._rdb.models.TrialModel``): trials per state in one
  ``GROUP BY`` query. ``BaseStorage.get_n_trials`` loads every trial to count them (40 ms at
  1,000 trials, growing with the study), and the runner counts before every batch.

- :func:`study_system_attrs_with_prefix` (``optuna.storages._rdb.models``): the workers'
  heartbeat records out of the study's system attributes in one filtered query; reading them
  all would also read the dashboard's figures (megabytes in 2 KB chunks) before every batch.
- :class:`RecentTrials` (``Study._get_trials``): TPE reads the trials it learns from through this
  method (with its cache); a view of the study that answers it with the latest N complete trials
  caps what each ask costs in a large study (``[study] sampler_window``).

If Optuna renames them, this module is the one to change.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "RecentTrials",
    "count_trials",
    "engine_of",
    "storage_of",
    "study_id_of",
    "study_system_attrs_with_prefix",
    "trial_id_of",
]


def storage_of(study: optuna.Study) -> BaseStorage:
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    return study._study_id


def trial_id_of(trial: optuna.Trial | FrozenTrial) -> int:
    return trial._trial_id


def engine_of(storage: BaseStorage) -> Any | None:
    """The SQLAlchemy engine of an RDB storage (behind Optuna's cache or not), else ``None``."""
    backend = getattr(storage, "_backend", storage)
    return getattr(backend, "engine", None)


def count_trials(storage: BaseStorage, study_id: int) -> dict[TrialState, int] | None:
    """Trials per state of an RDB storage's study, counted by the database; ``None`` for a
    storage without an engine (gRPC), where ``get_n_trials`` is the way."""
    engine = engine_of(storage)
    if engine is None:
        return None
    import sqlalchemy
    from optuna.storages._rdb.models import TrialModel

    query = (
        sqlalchemy.select(TrialModel.state, sqlalchemy.func.count())
        .where(TrialModel.study_id == study_id)
        .group_by(TrialModel.state)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {TrialState[state.name] if hasattr(state, "name") else TrialState(state): count
            for state, count in rows}


def study_system_attrs_with_prefix(
    storage: BaseStorage, study_id: int, prefix: str
) -> dict[str, Any] | None:
    """The study system attributes whose key starts with ``prefix``, filtered by the database;
    ``None`` for a storage without an engine (gRPC), where the caller filters them all."""
    engine = engine_of(storage)
    if engine is None:
        return None
    import json

    import sqlalchemy
    from optuna.storages._rdb.models import StudySystemAttributeModel as Attribute

    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = sqlalchemy.select(Attribute.key, Attribute.value_json).where(
        Attribute.study_id == study_id, Attribute.key.like(escaped + "%", escape="\\")
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {key: json.loads(value) for key, value in rows}


class RecentTrials:
    """A study as a sampler sees it: its trials from the ``window``-th latest complete one on
    (trials come in trial-number order), and every running trial. Older trials of other states
    are left out; everything else is the study's own."""

    def __init__(self, study: optuna.Study, window: int) -> None:
        self._study = study
        self._window = window

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _recent(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        seen = 0
        for index in range(len(trials) - 1, -1, -1):
            if trials[index].state == TrialState.COMPLETE:
                seen += 1
                if seen == self._window:
                    # Running trials stay, however old: TPE's constant liar reads them so that
                    # trials in flight are not drawn again.
                    running = [t for t in trials[:index] if t.state == TrialState.RUNNING]
                    return running + trials[index:]
        return trials

    def _get_trials(self, deepcopy: bool = True, states: Any = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        return self._recent(self._study._get_trials(deepcopy=deepcopy, states=states,
                                                    use_cache=use_cache))

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[FrozenTrial]:
        return self._recent(self._study.get_trials(deepcopy=deepcopy, states=states))
