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
- :class:`SamplingView` (``Study._get_trials``, ``Study._storage``): the study as the sampler
  sees it while the runner draws a batch's parameters before the trials are stored, so that a
  trial is created with its parameters in one write (``Trial`` would write each parameter, and
  TPE's constant-liar copy of them, in a commit of its own).
- :func:`create_trials` and :func:`finish_trials` (``optuna.storages._rdb.models``: the tables
  of Optuna's schema): a batch's trials with their parameters, and their records, constraints,
  values and completion, each in one transaction of a few plain statements. Optuna's ORM path
  costs a query per parameter and attribute on top of a commit each (about 13 ms per trial on
  SQLite).
- :func:`sampler_constraints_func` (``_constraints_func`` of TPE, GP and NSGA-II): a sampler
  with one writes constraints to the trial in ``after_trial``, so its trials must exist before
  they are drawn (Optuna's own ask); the samplers keep it private.
- :func:`distribution_contains` (``BaseDistribution._contains``): ``Trial`` keeps a relative
  draw only where the asked distribution holds it; the batched draw decides alike.
- :func:`check_distribution_compatibility` (``optuna.distributions``, undocumented): the
  storage's test of a parameter stored with another kind or other choices, applied before a
  trial is asked (a changed ``[search]``).
- :class:`WindowTrials` (``optuna.storages._rdb.models``): a windowed sampler's trials kept
  between batches and refreshed by what changed, without the records; Optuna's cache reads
  each told record back and sorts the whole study per batch.
- :func:`stored_distributions` (``optuna.storages._rdb.models``): the distributions a study's
  trials stored, one per name, in one query: the changed-search check when a worker opens a
  study, without reading every trial.
- :func:`constraint_key` (``optuna.study._constrained_optimization._CONSTRAINTS_KEY``): where
  ``Trial.set_constraint`` stores a constraint, for :func:`finish_trials` to store it alike.

If Optuna renames them, this module is the one to change, and Optuna's version is fenced
here: :func:`check_optuna_version` runs when the module is imported; on an Optuna outside the
tested range (:data:`OPTUNA_RANGE`) it warns once and turns the direct table access off
(:data:`FAST_PATH`), so that nothing misreads or miswrites a newer schema: every caller falls
back to Optuna's public ask, tell and storage calls, the path a gRPC storage takes.
``tests/study/test_asking.py`` holds the batched path to Optuna's own ask/tell on every sampler it
serves (TPE, GP, random): the same parameters for the same seed and history, the same stored
rows.
"""

from __future__ import annotations

import copy
import logging
import os
from datetime import datetime, timezone
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, check_distribution_compatibility
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState
from packaging.version import Version

__all__ = [
    "FAST_PATH",
    "OPTUNA_RANGE",
    "RecentTrials",
    "SamplingView",
    "WindowTrials",
    "check_distribution_compatibility",
    "constraint_key",
    "count_trials",
    "create_trials",
    "distribution_contains",
    "engine_of",
    "fast_path",
    "finish_trials",
    "sampler_constraints_func",
    "storage_of",
    "stored_distributions",
    "study_id_of",
    "study_system_attrs_with_prefix",
    "tables_engine",
    "trial_id_of",
    "trials_with_system_attr",
]

logger = logging.getLogger(__name__)

OPTUNA_RANGE = ("5.0", "5.1")
"""The Optuna releases the sweeper is tested with: ``>= 5.0, < 5.1`` (``pyproject.toml``)."""
ANY_OPTUNA_VARIABLE = "SWEEPER_ANY_OPTUNA"
"""Set to 1 to run on an Optuna outside :data:`OPTUNA_RANGE` anyway (to try a new release)."""


def check_optuna_version(version: str = optuna.__version__) -> bool:
    """Whether the fast path may run on this Optuna: inside :data:`OPTUNA_RANGE`, or outside it
    with ``$SWEEPER_ANY_OPTUNA=1`` (to try a new release's tables at the user's word). Outside
    it otherwise, one warning in the sweeper's log (a line, whether or not logging is set up
    yet) says so, and the public path runs."""
    low, high = OPTUNA_RANGE
    if Version(low) <= Version(version) < Version(high):
        return True
    if os.environ.get(ANY_OPTUNA_VARIABLE) == "1":
        return True
    logger.warning(
        f"Optuna {version} is outside the range this sweeper is tested with "
        f"(optuna>={low},<{high}): it asks, tells and counts trials through Optuna's public "
        f"API, as on a gRPC storage, which costs about 13 ms more per trial on SQLite than "
        f"writing each batch into Optuna's tables, and TPE and GP learn from every trial "
        f"(sampler_window is off). pip install 'optuna>={low},<{high}' for "
        f"that, or set {ANY_OPTUNA_VARIABLE}=1 to try it on this release."
    )
    return False


FAST_PATH = check_optuna_version()
"""Whether the sweeper reads and writes Optuna's tables directly (:func:`tables_engine`): only on
an Optuna it is tested with. Every function below that needs them has a public fallback (the
one a gRPC storage, which has no tables, takes), so an untested Optuna runs on it."""


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


def fast_path() -> bool:
    """:data:`FAST_PATH`, read when called (a test may turn it off to run the public path)."""
    return FAST_PATH


def tables_engine(storage: BaseStorage) -> Any | None:
    """The engine through which the sweeper reads and writes Optuna's tables directly: an RDB
    storage's, on an Optuna it is tested with (:data:`FAST_PATH`); else ``None``, and the
    caller takes Optuna's public API."""
    return engine_of(storage) if FAST_PATH else None


def count_trials(storage: BaseStorage, study_id: int) -> dict[TrialState, int] | None:
    """Trials per state of an RDB storage's study, counted by the database; ``None`` for a
    storage without an engine (gRPC), where ``get_n_trials`` is the way."""
    engine = tables_engine(storage)
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
    engine = tables_engine(storage)
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


def recent_trials(trials: list[FrozenTrial], window: int) -> list[FrozenTrial]:
    """``trials`` (in trial-number order) from the ``window``-th latest complete one on, and
    every running trial; all of them when there are fewer complete ones."""
    seen = 0
    for index in range(len(trials) - 1, -1, -1):
        if trials[index].state == TrialState.COMPLETE:
            seen += 1
            if seen == window:
                # Running trials stay, however old: TPE's constant liar reads them so that
                # trials in flight are not drawn again.
                running = [t for t in trials[:index] if t.state == TrialState.RUNNING]
                return running + trials[index:]
    return trials


class WindowTrials:
    """The trials a sampler learning from the latest ``window`` complete ones reads (those of
    :func:`recent_trials`), kept between batches for one study of an RDB storage, read from
    Optuna's tables without their user attributes (no sampler reads them; they hold the
    sweeper's records).

    The first :meth:`read` loads the window; each later one only the trials created since
    and those that were not finished (running or waiting: their state may have changed), in
    four small queries. Optuna's cache would serve the same trials, but per batch it reads
    back each told trial whole (its record too) and sorts every trial of the study: at 10,000
    trials, most of what a trial cost besides the sampler on PostgreSQL."""

    def __init__(self, storage: BaseStorage, study_id: int, window: int) -> None:
        self._backend = _rdb_backend(storage)
        self._study_id = study_id
        self._window = window
        self._trials: dict[int, FrozenTrial] = {}
        self._open: set[int] = set()
        self._last_id: int | None = None

    @property
    def usable(self) -> bool:
        """Whether the storage has tables to read (not the gRPC proxy)."""
        return self._backend is not None

    def read(self) -> list[FrozenTrial]:
        """The window's trials as they are now, in trial-number order."""
        import sqlalchemy as sa
        from optuna.storages._rdb import models

        assert self._backend is not None  # callers check usable
        trials = models.TrialModel.__table__
        mine = trials.c.study_id == self._study_id
        with self._backend.engine.connect() as connection:
            if self._last_id is None:
                first = connection.execute(
                    sa.select(trials.c.number)
                    .where(mine, trials.c.state == TrialState.COMPLETE)
                    .order_by(trials.c.number.desc()).offset(self._window - 1).limit(1)
                ).scalar()
                if first is not None:  # older trials matter only while they run or wait
                    mine = sa.and_(mine, sa.or_(
                        trials.c.number >= first,
                        trials.c.state.in_([TrialState.RUNNING, TrialState.WAITING]),
                    ))
            else:
                changed = trials.c.trial_id > self._last_id
                if self._open:
                    changed = sa.or_(changed, trials.c.trial_id.in_(sorted(self._open)))
                mine = sa.and_(mine, changed)
            for trial in _read_lean(connection, mine):
                self._trials[trial._trial_id] = trial
                if trial.state.is_finished():
                    self._open.discard(trial._trial_id)
                else:
                    self._open.add(trial._trial_id)
                self._last_id = max(self._last_id or 0, trial._trial_id)
        if self._last_id is None:
            self._last_id = 0
        kept = recent_trials(sorted(self._trials.values(), key=lambda t: t.number),
                             self._window)
        # Older trials fall out of the window for good, unless they are still open.
        self._trials = {t._trial_id: t for t in kept}  # an old waiting one is re-read: open
        return kept


class _LeanTrial(FrozenTrial):
    """A trial as a windowed sampler reads it, its constraints parsed once: multivariate TPE
    reads every trial's constraints at each ask (about a fifth of its cost at 1,000 trials),
    and a finished trial's never change (an open one is read again when it finishes). The
    parsed constraints sit in a slot, outside the ``__dict__`` that trials compare and print,
    and a constraint set on the trial drops them."""

    __slots__ = ("_parsed_constraints",)

    @property
    def constraints(self) -> dict[str, float]:
        try:
            return self._parsed_constraints
        except AttributeError:
            self._parsed_constraints: dict[str, float] = super().constraints
            return self._parsed_constraints

    def set_constraint(self, key: str, value: float) -> None:
        super().set_constraint(key, value)
        if hasattr(self, "_parsed_constraints"):
            del self._parsed_constraints


def _read_lean(connection: Any, where: Any) -> list[FrozenTrial]:
    """The trials ``where`` selects, with their parameters, values and system attributes."""
    import json

    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution
    from optuna.storages._rdb import models

    trials = models.TrialModel.__table__
    params = models.TrialParamModel.__table__
    values = models.TrialValueModel.__table__
    system = models.TrialSystemAttributeModel.__table__
    rows = connection.execute(
        sa.select(trials.c.trial_id, trials.c.number, trials.c.state, trials.c.datetime_start,
                  trials.c.datetime_complete).where(where).order_by(trials.c.number)
    ).all()
    ids = [row.trial_id for row in rows]
    found_params: dict[int, list[Any]] = {trial_id: [] for trial_id in ids}
    found_values: dict[int, dict[int, float]] = {trial_id: {} for trial_id in ids}
    found_system: dict[int, dict[str, Any]] = {trial_id: {} for trial_id in ids}
    if ids:
        for row in connection.execute(
            sa.select(params.c.trial_id, params.c.param_name, params.c.param_value,
                      params.c.distribution_json)
            .where(params.c.trial_id.in_(ids)).order_by(params.c.param_id)
        ):
            found_params[row.trial_id].append(row)
        for row in connection.execute(
            sa.select(values.c.trial_id, values.c.objective, values.c.value, values.c.value_type)
            .where(values.c.trial_id.in_(ids))
        ):
            found_values[row.trial_id][row.objective] = (
                models.TrialValueModel.stored_repr_to_value(row.value, row.value_type))
        for row in connection.execute(
            sa.select(system.c.trial_id, system.c.key, system.c.value_json)
            .where(system.c.trial_id.in_(ids))
        ):
            found_system[row.trial_id][row.key] = json.loads(row.value_json)
    read: list[FrozenTrial] = []
    for row in rows:
        distributions = {p.param_name: json_to_distribution(p.distribution_json)
                         for p in found_params[row.trial_id]}
        objectives = found_values[row.trial_id]
        read.append(_LeanTrial(
            number=row.number, state=row.state, value=None,
            values=[objectives[i] for i in sorted(objectives)] if objectives else None,
            datetime_start=row.datetime_start, datetime_complete=row.datetime_complete,
            params={p.param_name: distributions[p.param_name].to_external_repr(p.param_value)
                    for p in found_params[row.trial_id]},
            distributions=distributions, user_attrs={}, system_attrs=found_system[row.trial_id],
            intermediate_values={}, trial_id=row.trial_id,
        ))
    return read


class RecentTrials:
    """A study as a sampler sees it: its trials from the ``window``-th latest complete one on
    (trials come in trial-number order), and every running trial. Older trials of other states
    are left out; everything else is the study's own."""

    def __init__(self, study: optuna.Study, window: int) -> None:
        self._study = study
        self._window = window

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        return recent_trials(self._study._get_trials(deepcopy=deepcopy, states=states,
                                                     use_cache=use_cache), self._window)

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[FrozenTrial]:
        return recent_trials(self._study.get_trials(deepcopy=deepcopy, states=states),
                             self._window)


PENDING_TRIAL_ID = -1
"""The id a trial has while its parameters are drawn, before it is stored."""


class SamplingView:
    """A study as its sampler sees it while a batch's parameters are drawn before the trials
    are stored: the trials read once for the batch (``trials``), plus each trial of the batch
    stored since (:meth:`add`, as running, so that TPE's constant liar draws the next one
    apart). The sampler's writes for the trial being drawn (``PENDING_TRIAL_ID``; TPE shares
    its relative parameters so) are kept in :attr:`pending_system_attrs`, to be stored with the
    trial; every other attribute is the study's own."""

    def __init__(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        self._study = study
        self._trials = list(trials)
        self.pending_system_attrs: dict[str, Any] = {}
        self._storage = _PendingTrialStorage(study._storage, self.pending_system_attrs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def add(self, trial: FrozenTrial) -> None:
        self._trials.append(trial)

    def _get_trials(self, deepcopy: bool = True, states: Any = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        trials = self._trials if states is None else [t for t in self._trials
                                                      if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._get_trials()


class _PendingTrialStorage:
    """The study's storage, except that system attributes set on the pending trial are kept."""

    def __init__(self, storage: BaseStorage, kept: dict[str, Any]) -> None:
        self._storage = storage
        self._kept = kept

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if trial_id == PENDING_TRIAL_ID:
            self._kept[key] = value
        else:
            self._storage.set_trial_system_attr(trial_id, key, value)


def stored_distributions(storage: BaseStorage, study_id: int) -> dict[str, Any] | None:
    """Each parameter name the study's trials stored, with a distribution it was stored with
    (one query on an RDB storage: ``optuna.storages._rdb.models``; ``None`` for another).
    Optuna keeps every stored distribution of a name compatible with the others, so any one of
    them tells whether a new one is."""
    backend = _rdb_backend(storage)
    if backend is None:
        return None
    import sqlalchemy as sa
    from optuna.distributions import json_to_distribution
    from optuna.storages._rdb import models

    params = models.TrialParamModel.__table__
    trials = models.TrialModel.__table__
    query = (
        sa.select(params.c.param_name, params.c.distribution_json).distinct()
        .join(trials, trials.c.trial_id == params.c.trial_id)
        .where(trials.c.study_id == study_id)
    )
    with backend.engine.connect() as connection:
        rows = connection.execute(query).all()
    return {name: json_to_distribution(text) for name, text in rows}


def sampler_constraints_func(sampler: optuna.samplers.BaseSampler) -> Any | None:
    """The sampler's ``constraints_func`` (``None``: it has none)."""
    return getattr(sampler, "_constraints_func", None)


def distribution_contains(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``distribution`` holds ``value`` (its external representation)."""
    return bool(distribution._contains(distribution.to_internal_repr(value)))


def constraint_key(name: str) -> str:
    from optuna.study._constrained_optimization import _CONSTRAINTS_KEY

    return f"{_CONSTRAINTS_KEY}:{name}"


def _rdb_backend(storage: BaseStorage) -> optuna.storages.RDBStorage | None:
    if not FAST_PATH:
        return None
    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, optuna.storages.RDBStorage) else None


def _utc_now() -> datetime:
    """Optuna 5 stores trial datetimes as naive UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def create_trials(
    storage: BaseStorage, study_id: int, templates: list[FrozenTrial]
) -> list[tuple[int, int]] | None:
    """Store running trials with the ``templates``' parameters and system attributes, all in
    one transaction of an RDB storage (behind Optuna's cache or not), as ``create_new_trial``
    would with a template but in a few plain statements: their ids and numbers, in order.
    ``None`` for a storage without transactions (gRPC).

    Each number is what Optuna gives: the count of the study's trials created before it,
    counted while the study's row is locked (on SQLite, while the insert holds the database's
    write lock), so that two workers creating trials at once cannot count alike."""
    backend = _rdb_backend(storage)
    if backend is None:
        return None
    import sqlalchemy as sa
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models

    trials = models.TrialModel.__table__
    studies = models.StudyModel.__table__
    dialect = backend.engine.dialect
    study_row = sa.select(studies.c.study_id).where(studies.c.study_id == study_id)
    sqlite = dialect.name == "sqlite"
    created: list[tuple[int, int]] = []
    with backend.engine.begin() as connection:
        # SQLite: the first insert below takes the database's write lock, the lock that counts.
        if not sqlite and connection.execute(study_row.with_for_update()).first() is None:
            raise KeyError(f"No study with study_id {study_id} exists.")
        if (not sqlite and dialect.insert_returning
                and dialect.insert_executemany_returning_sort_by_parameter_order):
            created = _insert_trials_together(connection, trials, study_id, len(templates))
        else:
            for _ in templates:
                created.append(_insert_trial(connection, trials, study_id,
                                             dialect.insert_returning))
        if sqlite and connection.execute(study_row).first() is None:
            raise KeyError(f"No study with study_id {study_id} exists.")
        params = [
            {"trial_id": trial_id, "param_name": name,
             "param_value": template.distributions[name].to_internal_repr(value),
             "distribution_json": distribution_to_json(template.distributions[name])}
            for (trial_id, _), template in zip(created, templates, strict=True)
            for name, value in template.params.items()
        ]
        if params:
            connection.execute(sa.insert(models.TrialParamModel.__table__), params)
        _insert_attrs(connection, models.TrialSystemAttributeModel.__table__,
                      {trial_id: t.system_attrs
                       for (trial_id, _), t in zip(created, templates, strict=True)})
    return created


def _insert_trials_together(
    connection: Any, trials: Any, study_id: int, count: int
) -> list[tuple[int, int]]:
    """``count`` running trials in one statement, numbered after the study's trials counted
    once: the study's row is locked (``FOR UPDATE``, as Optuna's own trial creation locks
    it), so nobody creates a trial between the count and the insert."""
    import sqlalchemy as sa

    before = connection.execute(
        sa.select(sa.func.count()).select_from(trials).where(trials.c.study_id == study_id)
    ).scalar_one()
    now = _utc_now()
    rows = [{"study_id": study_id, "number": before + index, "state": TrialState.RUNNING,
             "datetime_start": now} for index in range(count)]
    result = connection.execute(
        sa.insert(trials).returning(trials.c.trial_id, trials.c.number,
                                    sort_by_parameter_order=True),
        rows,
    )
    return [(trial_id, number) for trial_id, number in result.all()]


def _insert_trial(connection: Any, trials: Any, study_id: int,
                  returning: bool) -> tuple[int, int]:
    """One running trial, numbered by the count of the study's trials before it."""
    import sqlalchemy as sa

    if returning:
        # One statement: the count runs under the lock the insert holds.
        count = sa.select(
            sa.literal(study_id, trials.c.study_id.type), sa.func.count(),
            sa.literal(TrialState.RUNNING, trials.c.state.type),
            sa.literal(_utc_now(), trials.c.datetime_start.type),
        ).where(trials.c.study_id == study_id)
        trial_id, number = connection.execute(
            sa.insert(trials)
            .from_select(["study_id", "number", "state", "datetime_start"], count)
            .returning(trials.c.trial_id, trials.c.number)
        ).one()
        return trial_id, number
    # MySQL: no RETURNING
    trial_id = connection.execute(sa.insert(trials).values(
        study_id=study_id, number=None, state=TrialState.RUNNING, datetime_start=_utc_now(),
    )).inserted_primary_key[0]
    number = connection.execute(
        sa.select(sa.func.count()).select_from(trials)
        .where(trials.c.study_id == study_id, trials.c.trial_id < trial_id)
    ).scalar_one()
    connection.execute(sa.update(trials).where(trials.c.trial_id == trial_id)
                       .values(number=number))
    return trial_id, number


def trials_with_system_attr(
    storage: BaseStorage, study_id: int, key: str, values: list[Any]
) -> dict[Any, tuple[int, int]] | None:
    """The id and number of the study's trials whose system attribute ``key`` is one of
    ``values``, by value (an RDB storage; ``None`` for another)."""
    backend = _rdb_backend(storage)
    if backend is None:
        return None
    import json

    import sqlalchemy as sa
    from optuna.storages._rdb import models

    trials = models.TrialModel.__table__
    attrs = models.TrialSystemAttributeModel.__table__
    query = (
        sa.select(attrs.c.value_json, trials.c.trial_id, trials.c.number)
        .join(attrs, attrs.c.trial_id == trials.c.trial_id)
        .where(trials.c.study_id == study_id, attrs.c.key == key,
               attrs.c.value_json.in_([json.dumps(value) for value in values]))
    )
    with backend.engine.connect() as connection:
        rows = connection.execute(query).all()
    return {json.loads(value): (trial_id, number) for value, trial_id, number in rows}


def finish_trials(
    storage: BaseStorage,
    finished: list[tuple[int, list[float], dict[str, Any], dict[str, Any]]],
) -> list[bool] | None:
    """Complete running trials, each ``(trial_id, values, user_attrs, system_attrs)``, all in
    one transaction of an RDB storage (behind Optuna's cache or not): per trial ``True``, or
    ``False`` for one finished already (another worker failed it as stale), which is left as
    it is. ``None`` for a storage without transactions (gRPC)."""
    backend = _rdb_backend(storage)
    if backend is None:
        return None
    import sqlalchemy as sa
    from optuna.storages._rdb import models

    trials = models.TrialModel.__table__
    value_model = models.TrialValueModel
    completed: list[bool] = []
    with backend.engine.begin() as connection:
        ids = [trial_id for trial_id, *_ in finished]
        if backend.engine.dialect.update_returning:
            # The state test and the update are one statement for the whole batch.
            updated = {row.trial_id for row in connection.execute(
                sa.update(trials)
                .where(trials.c.trial_id.in_(ids), trials.c.state == TrialState.RUNNING)
                .values(state=TrialState.COMPLETE, datetime_complete=_utc_now())
                .returning(trials.c.trial_id)
            )}
            completed = [trial_id in updated for trial_id in ids]
        for trial_id in [] if backend.engine.dialect.update_returning else ids:
            completed.append(connection.execute(
                sa.update(trials)
                .where(trials.c.trial_id == trial_id, trials.c.state == TrialState.RUNNING)
                .values(state=TrialState.COMPLETE, datetime_complete=_utc_now())
            ).rowcount == 1)
        done = [item for item, ok in zip(finished, completed, strict=True) if ok]
        values = []
        for trial_id, trial_values, _, _ in done:
            for objective, value in enumerate(trial_values):
                stored, value_type = value_model.value_to_stored_repr(value)
                values.append({"trial_id": trial_id, "objective": objective, "value": stored,
                               "value_type": value_type})
        if values:
            connection.execute(sa.insert(value_model.__table__), values)
        _insert_attrs(connection, models.TrialUserAttributeModel.__table__,
                      {trial_id: user for trial_id, _, user, _ in done})
        _insert_attrs(connection, models.TrialSystemAttributeModel.__table__,
                      {trial_id: system for trial_id, _, _, system in done})
    return completed


def _insert_attrs(connection: Any, table: Any, attrs: dict[int, dict[str, Any]]) -> None:
    """Add attributes (``key`` -> JSON) per trial id that the trials do not have yet: new
    trials', or what running trials get when they complete (records, constraints). A key a
    trial has already breaks the table's unique constraint and rolls the transaction back."""
    import json

    import sqlalchemy as sa

    rows = [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            for trial_id, trial_attrs in attrs.items() for key, value in trial_attrs.items()]
    if rows:
        connection.execute(sa.insert(table), rows)
