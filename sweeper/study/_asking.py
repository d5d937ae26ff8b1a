"""Asking and telling a batch of trials in few storage writes.

Optuna's ``Study.ask``, ``Trial.suggest_*`` and ``Study.tell`` write each parameter, TPE's
constant-liar copy of them, the record and the completion in a commit of their own and read the
trial back three times: 13 ms per trial on SQLite before any sampler work, measured at 10,000
trials. Here a trial's parameters are drawn first, against a view of the study read once per
batch (:class:`~sweeper.study._optuna.SamplingView`), and the batch's trials are created with
them in one transaction; their records, constraints and values are stored with their
completion in one more.

The sampler sees the study as ``Study.ask`` would show it at the batch's start, with the
batch's own trials added as running ones (TPE's constant liar draws each apart from the
earlier); trials other workers create during the batch's asks, milliseconds, are seen from the
next batch on. Parameters are checked as ``Trial`` and the storage check them: against the
distribution the study stored for the same name, and a relative draw outside the asked range
is drawn again independently. Optuna's own path is kept where this one would behave
otherwise: when trials wait in the queue (parameters enqueued or requeued, which ``Study.ask``
takes first), for samplers other than TPE, GP and random (NSGA-II keeps per-trial state through
its storage hooks), and on a storage without transactions (the gRPC proxy).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from sweeper.errors import ConfigError
from sweeper.study._optuna import (
    PENDING_TRIAL_ID,
    SamplingView,
    WindowTrials,
    check_distribution_compatibility,
    constraint_key,
    distribution_contains,
    recent_trials,
    sampler_constraints_func,
    storage_of,
    stored_distributions,
    study_id_of,
    tables_engine,
    trial_id_of,
)
from sweeper.study._storage import ResilientStorage

__all__ = [
    "AskedTrial",
    "StoredDistributions",
    "ask_trials",
    "check_search_unchanged",
    "fail_trial",
    "sampler_window",
    "tell_trial",
    "tell_trials",
    "window_trials",
]

DRAWS_BEFORE_STORING = (
    optuna.samplers.TPESampler, optuna.samplers.GPSampler, optuna.samplers.RandomSampler,
)
"""Samplers whose hooks keep no state of their own in the storage, so that a trial's
parameters can be drawn before the trial exists."""


@dataclass(frozen=True)
class AskedTrial:
    """A trial asked for this batch, with what ``suggest`` made of its parameters."""

    trial_id: int
    number: int
    suggested: Any
    frozen: FrozenTrial
    """The trial as stored when it was asked (running), for the sampler's ``after_trial``."""
    trial: optuna.Trial | None = None
    """Optuna's trial object where Optuna's own path asked it."""


def _sampler_chain(sampler: Any) -> Iterator[Any]:
    """The sampler and those it wraps (a wrapper names the wrapped one ``inner``)."""
    while sampler is not None:
        yield sampler
        sampler = getattr(sampler, "inner", None)


def draws_before_storing(sampler: optuna.samplers.BaseSampler) -> bool:
    """A sampler whose draws need no stored trial: TPE, GP or random (wrapped or not), without
    a ``constraints_func`` (whose ``after_trial`` writes to the trial)."""
    innermost = list(_sampler_chain(sampler))[-1]
    return (isinstance(innermost, DRAWS_BEFORE_STORING)
            and sampler_constraints_func(innermost) is None)


def _has_transactions(storage: object) -> bool:
    return isinstance(storage, ResilientStorage) and tables_engine(storage.inner) is not None


def sampler_window(sampler: optuna.samplers.BaseSampler) -> int:
    """The window a (wrapped) sampler learns from; 0: every trial."""
    return max((getattr(s, "window", 0) for s in _sampler_chain(sampler)), default=0)


def window_trials(study: optuna.Study) -> WindowTrials | None:
    """What keeps a windowed sampler's trials between batches (:class:`WindowTrials`), or
    ``None`` where the sampler learns from every trial or the storage has no tables."""
    window, storage = sampler_window(study.sampler), storage_of(study)
    if not window or not _has_transactions(storage):
        return None
    assert isinstance(storage, ResilientStorage)  # _has_transactions
    return WindowTrials(storage.inner, study_id_of(study), window)


def ask_trials(
    study: optuna.Study, size: int, suggest: Callable[[Any], Any], *, waiting: int | None = None,
    window: WindowTrials | None = None,
) -> Iterator[AskedTrial]:
    """Ask ``size`` trials, ``suggest(trial)`` drawing each one's parameters through the
    ``suggest_*`` methods; the trials are stored before they are yielded (on a database, all
    of the batch in one transaction). ``waiting``: the study's waiting trials as the caller
    just counted them (``None``: look). ``window``: a windowed sampler's trials kept between
    batches (:func:`window_trials`), read instead of the whole study."""
    storage, study_id = storage_of(study), study_id_of(study)
    if waiting is None:
        waiting = len(storage.get_all_trials(study_id, deepcopy=False,
                                             states=(TrialState.WAITING,)))
    if waiting or not draws_before_storing(study.sampler) or not _has_transactions(storage):
        for _ in range(size):
            trial = study.ask()
            suggested = suggest(trial)
            yield AskedTrial(trial_id_of(trial), trial.number, suggested,
                             storage.get_trial(trial_id_of(trial)), trial)
        return
    assert isinstance(storage, ResilientStorage)  # _has_transactions(storage) above
    if window is not None:
        trials = storage.call(window.read)
    else:
        trials = storage.get_all_trials(study_id, deepcopy=False)
        size_of_window = sampler_window(study.sampler)
        trials = recent_trials(trials, size_of_window) if size_of_window else trials
    view = SamplingView(study, trials)
    stored = StoredDistributions(study.study_name, trials)
    drawn: list[tuple[Any, FrozenTrial]] = []
    for member in range(size):
        drawing = DrawingTrial(study.sampler, view, stored)
        suggested = suggest(drawing)
        template = drawing.template()
        drawn.append((suggested, template))
        # The next member is drawn seeing this one running (ids and numbers below -1 stand
        # for the batch's trials until they are stored).
        placeholder = PENDING_TRIAL_ID - 1 - member
        view.add(_frozen(placeholder, placeholder, template.datetime_start, template.params,
                         template.distributions, template.system_attrs))
    created = storage.create_trials(study_id, [template for _, template in drawn])
    assert created is not None  # None only without transactions (gRPC), ruled out above
    for (suggested, template), (trial_id, number) in zip(drawn, created, strict=True):
        frozen = _frozen(number, trial_id, template.datetime_start, template.params,
                         template.distributions, template.system_attrs)
        yield AskedTrial(trial_id, number, suggested, frozen)


Told = tuple[AskedTrial, Sequence[float], dict[str, Any], dict[str, float]]
"""A trial to tell: the trial, its values, its user attributes, its constraints."""


def tell_trials(study: optuna.Study, told: Sequence[Told]) -> None:
    """Store each trial's user attributes and constraints and complete it with its values;
    on a database all in one transaction. A trial already failed as stale (its worker looked
    dead during a long database outage) keeps that state, and its requeued copy runs again."""
    storage = storage_of(study)
    transactions = _has_transactions(storage)
    fast, slow = [], []
    for asked, values, user_attrs, constraints in told:
        values = [float(v) for v in values]
        system_attrs = {constraint_key(name): float(v) for name, v in constraints.items()}
        item = (asked, values, user_attrs, system_attrs)
        if transactions and not any(map(math.isnan, values)):
            fast.append(item)
        else:
            slow.append(item)
    if fast:
        assert isinstance(storage, ResilientStorage)  # fast only where _has_transactions
        for asked, values, _, _ in fast:
            # As Study.tell: the sampler hears of a trial before it is stored complete.
            study.sampler.after_trial(study, asked.frozen, TrialState.COMPLETE, values)
        storage.finish_trials([(asked.trial_id, values, user_attrs, system_attrs)
                               for asked, values, user_attrs, system_attrs in fast])
    for asked, values, user_attrs, system_attrs in slow:
        # A storage without transactions (gRPC), or NaN values, for which Optuna fails the
        # trial (with a warning saying why).
        try:
            for key, value in user_attrs.items():
                storage.set_trial_user_attr(asked.trial_id, key, value)
            for key, value in system_attrs.items():
                storage.set_trial_system_attr(asked.trial_id, key, value)
            study.tell(asked.trial or asked.number, values)
        except UpdateFinishedTrialError:
            continue


def tell_trial(
    study: optuna.Study,
    asked: AskedTrial,
    values: Sequence[float],
    user_attrs: dict[str, Any],
    constraints: dict[str, float],
) -> None:
    """:func:`tell_trials` for one trial."""
    tell_trials(study, [(asked, values, user_attrs, constraints)])


def fail_trial(study: optuna.Study, asked: AskedTrial, reason: str) -> FrozenTrial | None:
    """Fail the trial, naming why (``failed_because``); the trial as stored, or ``None`` when
    it was finished already (another worker judged it stale meanwhile, and requeued it)."""
    storage = storage_of(study)
    try:
        storage.set_trial_user_attr(asked.trial_id, "failed_because", reason)
        study.sampler.after_trial(study, asked.frozen, TrialState.FAIL, None)
        if not storage.set_trial_state_values(asked.trial_id, state=TrialState.FAIL):
            return None
    except UpdateFinishedTrialError:
        return None
    return storage.get_trial(asked.trial_id)


def _frozen(number: int, trial_id: int, start: datetime | None, params: dict[str, Any],
            distributions: dict[str, BaseDistribution],
            system_attrs: dict[str, Any]) -> FrozenTrial:
    return FrozenTrial(
        number=number, state=TrialState.RUNNING, value=None, datetime_start=start,
        datetime_complete=None, params=params, distributions=distributions, user_attrs={},
        system_attrs=system_attrs, intermediate_values={}, trial_id=trial_id,
    )


class DrawingTrial:
    """A trial whose parameters are drawn before it is stored: ``optuna.Trial``'s ``suggest_*``
    methods, answered as ``Trial`` answers them (the sampler's relative draw where its search
    space covers the parameter, its independent draw otherwise), with nothing written."""

    def __init__(self, sampler: optuna.samplers.BaseSampler, view: SamplingView,
                 stored: StoredDistributions) -> None:
        self._sampler = sampler
        self._view = view
        self._stored = stored
        view.pending_system_attrs.clear()
        self._frozen = _frozen(PENDING_TRIAL_ID, PENDING_TRIAL_ID, datetime.now(), {}, {}, {})
        # Optuna types a sampler's study as Study; the view stands in for one (duck-typed),
        # hence the type: ignore[arg-type] where it is passed.
        sampler.before_trial(view, self._frozen)  # type: ignore[arg-type]
        self._relative_space: dict[str, BaseDistribution] | None = None
        self._relative_params: dict[str, Any] = {}

    def template(self) -> FrozenTrial:
        """The trial to store: running, with its parameters and the sampler's attributes."""
        return _frozen(PENDING_TRIAL_ID, PENDING_TRIAL_ID, self._frozen.datetime_start,
                       dict(self._frozen.params), dict(self._frozen.distributions),
                       dict(self._view.pending_system_attrs))

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return self._suggest(name, FloatDistribution(low, high, log=log, step=step))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        return int(self._suggest(name, IntDistribution(low, high, log=log, step=step)))

    def suggest_categorical(self, name: str,
                            choices: Sequence[CategoricalChoiceType]) -> CategoricalChoiceType:
        return self._suggest(name, CategoricalDistribution(choices))

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        frozen = self._frozen
        if name in frozen.distributions:
            check_distribution_compatibility(frozen.distributions[name], distribution)
            return frozen.params[name]
        self._stored.check(name, distribution)
        if distribution.single():
            value = _single_value(distribution)
        elif self._is_relative(name, distribution):
            value = self._relative_params[name]
        else:
            value = self._sampler.sample_independent(  # the view: a Study stand-in
                self._view, frozen, name, distribution)  # type: ignore[arg-type]
        distribution.to_internal_repr(value)  # refuses an invalid value (NaN), as Trial does
        frozen.params[name] = value
        frozen.distributions[name] = distribution
        return value

    def _is_relative(self, name: str, distribution: BaseDistribution) -> bool:
        """As ``Trial._is_relative_param``: the relative draw answers a parameter of its
        search space when the asked distribution is compatible and holds the drawn value."""
        if name not in self._relative():
            return False
        assert self._relative_space is not None  # set by self._relative()
        if name not in self._relative_space:
            raise ValueError(f"The parameter {name} was sampled by `sample_relative` method "
                             "but it is not contained in the relative search space.")
        check_distribution_compatibility(self._relative_space[name], distribution)
        return distribution_contains(distribution, self._relative_params[name])

    def _relative(self) -> dict[str, Any]:
        """The sampler's relative draw, made once at the first suggestion (as ``Trial`` does:
        the search space is as late as it can be)."""
        if self._relative_space is None:
            self._relative_space = self._sampler.infer_relative_search_space(
                self._view, self._frozen)  # type: ignore[arg-type]  # a Study stand-in
            self._relative_params = self._sampler.sample_relative(
                self._view, self._frozen, self._relative_space)  # type: ignore[arg-type]
        return self._relative_params


def check_search_unchanged(
    study: optuna.Study, distributions: dict[str, BaseDistribution]
) -> None:
    """Refuse, in one line naming both, a resumed study whose ``[search]`` now asks for a
    parameter in a form its trials did not store it in (another kind, other choices).

    Optuna itself refuses it only when a trial draws the parameter, with a traceback, the
    trial left RUNNING. Checked once when the study opens, against ``distributions`` (every
    parameter the space may draw: :func:`sweeper.search.space_distributions`), before any
    trial is asked: the same refusal whichever path would ask (the batched path, Optuna's ask
    for queued trials or nsga2, the gRPC proxy)."""
    storage = storage_of(study)
    found = None
    if _has_transactions(storage):  # one query; else every trial read
        assert isinstance(storage, ResilientStorage)
        found = storage.call(stored_distributions, storage.inner, study_id_of(study))
    stored = StoredDistributions(study.study_name,
                                 study.get_trials(deepcopy=False) if found is None else [],
                                 found)
    for name, distribution in distributions.items():
        stored.check(name, distribution)


class StoredDistributions:
    """The distribution the study stored for each parameter name, looked up in the batch's
    trials (latest first, once per name), so that a parameter is checked as the storage checks
    it before it is drawn: a name stored with another kind or other choices (a resumed study
    whose ``[search]`` changed) is refused in one line naming both."""

    def __init__(self, study_name: str, trials: list[FrozenTrial],
                 found: dict[str, BaseDistribution] | None = None) -> None:
        self._study_name = study_name
        self._trials = trials
        self._found: dict[str, BaseDistribution] = dict(found or {})

    def check(self, name: str, distribution: BaseDistribution) -> None:
        if name not in self._found:
            found = next((t.distributions[name] for t in reversed(self._trials)
                          if name in t.distributions), None)
            self._found[name] = distribution if found is None else found
        try:
            check_distribution_compatibility(self._found[name], distribution)
        except ValueError:
            raise ConfigError(
                f"study {self._study_name!r} searched {name!r} as {self._found[name]}, but "
                f"[search] now asks for {distribution}; restore [search] or use a new study "
                "name.", key=name, section="search",
            ) from None


def _single_value(distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[0]
    assert isinstance(distribution, (FloatDistribution, IntDistribution))  # what suggest_* make
    return distribution.low
