"""The trial loop: ask Optuna for a batch of trials, train them together, tell their results.

A lone trial is a batch of one. The budget is global: before each batch the runner counts the
study's complete trials and the running ones (its own and other workers'), and asks only for what
is left, so several workers sharing one database finish the study's number of trials together.
Each asked trial keeps a heartbeat while it trains; stale trials of dead workers are failed and
their parameters enqueued again, so a crash loses no finished trial and skips no candidate.
Trials are asked and told through :mod:`sweeper.study._asking`: on a database, one transaction
creates a batch's trials with their parameters, one stores their records and completes them.

An interrupt (Ctrl-C, SIGTERM) fails the batch in flight, enqueues its parameters for the next run
and re-raises; every trial told before it stays in the study.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import TrialState
from tqdm.auto import tqdm

from sweeper import holds, interrupts
from sweeper.config import SweepConfig
from sweeper.data import Splits
from sweeper.evaluation import Constraints
from sweeper.logs import draws_progress
from sweeper.search import batch_loss_parameters, suggest_candidate
from sweeper.study._asking import (
    AskedTrial,
    ask_trials,
    fail_trial,
    tell_trials,
    window_trials,
)
from sweeper.study._baselines import (
    BASELINES_ATTR,
    compute_baselines,
    load_baselines,
    missing_baselines,
    store_baselines,
)
from sweeper.study._front import Settlement, risk_text, settlement
from sweeper.study._liveness import Liveness, WorkerHeartbeat, fail_stale_trials, requeue
from sweeper.study._optuna import WindowTrials, storage_of, study_id_of
from sweeper.study._records import RECORD_ATTR, StudyInfo, TrialRecord, trials_cut_short
from sweeper.study._scoring import record_member
from sweeper.study._storage import ResilientStorage

if TYPE_CHECKING:  # training imports Keras; it is imported when a run starts
    from sweeper.training import Trainer

__all__ = ["SETTLED_ATTR", "RunSummary", "run_study"]

SETTLED_ATTR = "sweeper:settled"
"""The study attribute holding its :class:`~sweeper.study.Settlement` (``stop = "settled"``)
once a run ended it early; a run that goes on (a larger budget) removes it."""

logger = logging.getLogger(__name__)

WAIT_FOR_OTHERS_S = 2.0
PROGRESS_FIRST_LOG_S = 5.0
"""A batch that trains longer than this logs its progress (then every
:data:`PROGRESS_LOG_EVERY_S`); shorter batches log only their one line when told."""
PROGRESS_LOG_EVERY_S = 15.0


class BatchProgress:
    """A batch's progress while it trains (:class:`~sweeper.training.TrainingProgress`): on
    the progress bar after every epoch, and in the log once the batch has trained for
    :data:`PROGRESS_FIRST_LOG_S` seconds, then every :data:`PROGRESS_LOG_EVERY_S`, so a long
    batch (a conv net, cross-validation) is never silent. The log paces itself by the clock;
    nothing else depends on it."""

    def __init__(self, bar: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.bar = bar
        self.clock = clock
        self.what = "batch"
        self.started = self.next_log = clock()

    def start(self, what: str) -> None:
        """A new batch (``what`` names it in the log) starts training now."""
        self.what = what
        self.started = self.clock()
        self.next_log = self.started + PROGRESS_FIRST_LOG_S

    def __call__(self, progress: Any) -> None:
        text = progress.describe()
        self.bar.set_postfix_str(text, refresh=True)
        now = self.clock()
        if now >= self.next_log:
            self.next_log = now + PROGRESS_LOG_EVERY_S
            logger.info("%s: %s (%.0f s)", self.what, text, now - self.started)


@dataclass(frozen=True)
class RunSummary:
    complete: int
    """Complete trials in the study when the run ended."""
    told: int
    """Trials this run finished."""
    diverged: int = 0
    """Of those, trials whose training produced non-finite scores."""
    settled: Settlement | None = None
    """Why the run ended before the budget (``stop = "settled"``); ``None``: it did not."""


def _may_judge(storage: object, liveness: Liveness) -> bool:
    """No "that worker is dead" verdicts until a grace period after this worker's own last
    outage: during an outage nobody could beat, so every beat looks stale right after it."""
    if not isinstance(storage, ResilientStorage):
        return True
    return time.monotonic() - storage.recovered_at > liveness.grace


def _count(study: optuna.Study) -> dict[TrialState, int]:
    """Trials per state, counted by the database rather than loaded (one ``GROUP BY``)."""
    storage, study_id = storage_of(study), study_id_of(study)
    if isinstance(storage, ResilientStorage):
        return storage.count_trials(study_id)
    return {state: storage.get_n_trials(study_id, state=state) for state in TrialState}


def _fail_and_requeue(
    study: optuna.Study, trials: list[AskedTrial], reason: str, liveness: Liveness
) -> None:
    for asked in trials:
        frozen = fail_trial(study, asked, reason)
        if frozen is not None:
            requeue(study, frozen, max_retries=liveness.max_retries, reason=reason)


def _run_batch(
    study: optuna.Study,
    heartbeat: WorkerHeartbeat,
    config: SweepConfig,
    info: StudyInfo,
    splits: Splits,
    trainer: Trainer,
    *,
    waiting: int | None = None,
    window: WindowTrials | None = None,
) -> list[TrialRecord]:
    """Ask, train and tell one batch; the records told. ``waiting``: the study's waiting
    trials as just counted (``None``: not counted); ``window``: a windowed sampler's trials,
    kept between batches."""
    told: list[TrialRecord] = []
    trials: list[AskedTrial] = []
    try:
        for asked in ask_trials(
            study, trainer.members,
            lambda trial: suggest_candidate(trial, config.search, info.task, info.labels),
            waiting=waiting, window=window,
        ):
            trials.append(asked)
        heartbeat.track(t.trial_id for t in trials)
    except BaseException:
        _fail_and_requeue(study, trials, "interrupted", heartbeat.liveness)
        heartbeat.release(t.trial_id for t in trials)
        raise
    pending = list(trials)
    try:
        candidates = [t.suggested for t in trials]
        counts = np.asarray(info.train_counts)
        cost_matrix = config.search.cost_matrix
        constraints = Constraints(config.study.min_precision, config.study.min_recall)
        weights = [c.weights(counts, info.n_train, info.task) for c in candidates]
        holds.reach("training")
        parameters = batch_loss_parameters(
            candidates, counts, info.n_train, info.task, cost_matrix,
            epochs=info.deferral_epochs, remedies=config.search.remedies,
        )
        scores = trainer.train_and_score(parameters)
        records = [
            record_member(
                info=info, splits=splits, scores=scores, member=member,
                number=asked.number, candidate=candidate, weights=weights[member],
                cost_matrix=cost_matrix,
            )
            for member, (asked, candidate) in enumerate(zip(trials, candidates, strict=True))
        ]
        # One write for the batch: each record, its constraints (only with floors), its values.
        tell_trials(study, [
            (asked, [record.validation.recall, record.validation.precision],
             {RECORD_ATTR: record.to_dict()},
             constraints.violations(record.validation.recall, record.validation.precision))
            for asked, record in zip(trials, records, strict=True)
        ])
        pending.clear()
        told.extend(records)
    except (KeyboardInterrupt, SystemExit):
        _fail_and_requeue(study, pending, "interrupted", heartbeat.liveness)
        raise
    except BaseException:
        # An interrupt landing in native code can surface as another error: still an interrupt.
        reason = "interrupted" if interrupts.requested() else "error"
        _fail_and_requeue(study, pending, reason, heartbeat.liveness)
        raise
    finally:
        heartbeat.release(t.trial_id for t in trials)
    return told


def _log_batch(records: list[TrialRecord], seconds: float, complete: int, budget: int,
               best: TrialRecord | None) -> TrialRecord | None:
    """One line per batch (the fleet's logs show each worker's pace and best); the best
    trial of this worker so far is returned."""
    finite = [r for r in records if not r.diverged]
    for record in finite:
        if best is None or record.validation.f1 > best.validation.f1:
            best = record
    diverged = len(records) - len(finite)
    logger.info(
        "batch of %d trials in %.1f s; %d of %d complete%s%s", len(records), seconds,
        min(complete, budget), budget,
        "" if best is None else
        f"; best validation F1 so far {best.validation.f1:.3f} (trial {best.number})",
        f"; {diverged} diverged (non-finite scores)" if diverged else "",
    )
    return best


def run_study(
    study: optuna.Study,
    *,
    config: SweepConfig,
    info: StudyInfo,
    splits: Splits,
    factory: Callable[..., Any] | None = None,
    fit: Callable[..., Any] | None = None,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    make_trainer: Callable[[int], Trainer] | None = None,
) -> RunSummary:
    """Run batches until the study holds ``config.study.trials`` complete trials.

    A study without baselines gets them first (:mod:`sweeper.study._baselines`): one batch.
    ``make_trainer(members)`` builds the :class:`~sweeper.training.Trainer` of a batch size
    (default: a :class:`~sweeper.training.PackedTrainer` on ``splits``, or with ``fit``, the
    user's training step, a :class:`~sweeper.training.FitTrainer`); the storage benchmark
    passes one that returns scores at once, to measure what the loop costs besides training.
    """
    from sweeper.training import FitTrainer, PackedTrainer, pack_size

    holds.reach("prepared")
    if make_trainer is None:

        def make_trainer(members: int) -> Trainer:
            if fit is not None:
                return FitTrainer(splits, config.model, members=members, seed=info.seed,
                                  fit=fit, factory=factory)
            return PackedTrainer(splits, config.model, members=members, seed=info.seed,
                                 factory=factory)

    budget = config.study.trials
    liveness = Liveness.of(config.study)
    storage = storage_of(study)
    sized = functools.partial(
        pack_size, n_features=info.n_features, n_outputs=len(info.labels), factory=factory,
        folds=info.folds, input_shape=info.sample_shape,
        scored_rows=splits.validation.X.shape[0] + splits.test.X.shape[0],
        input_bytes=sum(split.X.nbytes + split.y.nbytes  # under folds, validation is train
                        for split in {id(s): s for s in (splits.train, splits.validation,
                                                         splits.test)}.values()))
    pack = sized(config.model, budget=budget)
    # The baselines' passes: no sampler waits on them, and a user's pack is for trials; the
    # memory and host-scores limits hold for them too (packed or alone, a member trains the
    # same). A user's own step trains one model at a time anyway.
    baseline_pack = 2**31 if fit is not None else sized(
        dataclasses.replace(config.model, pack=None), budget=None)
    told = diverged = cut_short = 0
    best: TrialRecord | None = None
    window = window_trials(study)
    trainers: dict[int, Trainer] = {}  # one (compiled) trainer per batch size, reused
    complete = _count(study).get(TrialState.COMPLETE, 0)
    bar = tqdm(total=budget, initial=min(complete, budget), unit="trial",
               disable=not draws_progress(progress), file=sys.stderr, dynamic_ncols=True,
               desc=study.study_name)
    batch_progress = BatchProgress(bar)

    def trainer_of(members: int) -> Trainer:
        if members not in trainers:
            trainers[members] = make_trainer(members)
            trainers[members].on_progress = batch_progress
        return trainers[members]

    with bar:
        missing = missing_baselines(study, info.task)
        if missing:
            # Once per study (workers that start together may each compute them alike); a
            # study stored before the remedies' baselines gets those alone, beside its own.
            if BASELINES_ATTR in study.user_attrs:
                logger.info("computing the baselines this study lacks: %s", ", ".join(missing))
            batch_progress.start("baselines")
            for start in range(0, len(missing), baseline_pack):
                group = missing[start:start + baseline_pack]
                store_baselines(study, compute_baselines(
                    info, splits, trainer_of(len(group)), names=group))
        settling = _Settling(study, budget) if config.study.stop == "settled" else None
        settled: Settlement | None = None
        with WorkerHeartbeat(study, liveness) as heartbeat:
            while True:
                # One count per batch: the budget, and whether any trial runs (that another
                # worker may have left stale) or waits (requeued, to be asked first).
                counts = _count(study)
                if (counts.get(TrialState.RUNNING) and _may_judge(storage, liveness)
                        and fail_stale_trials(study, liveness)):
                    counts = _count(study)
                complete = counts.get(TrialState.COMPLETE, 0)
                running = counts.get(TrialState.RUNNING, 0)
                bar.n = min(complete, budget)
                bar.refresh()
                remaining = budget - complete - running
                if remaining <= 0:
                    if running == 0:
                        break
                    sleep(WAIT_FOR_OTHERS_S)
                    continue
                if settling is not None:
                    settled = settling.check(remaining)
                    if settled is not None:
                        break
                size = min(pack, remaining)
                trainer = trainer_of(size)
                interrupts.check()  # one the training swallowed: stop between batches
                started = time.perf_counter()
                batch_progress.start(f"batch of {size} trials")
                records = _run_batch(study, heartbeat, config, info, splits, trainer,
                                     waiting=counts.get(TrialState.WAITING, 0), window=window)
                if settling is not None:
                    settling.add(records)
                told += len(records)
                diverged += sum(r.diverged for r in records)
                cut_short += len(trials_cut_short(records, info))
                # Other workers' trials told meanwhile show in the next batch's count.
                best = _log_batch(records, time.perf_counter() - started,
                                  complete + len(records), budget, best)
    if told and diverged > told / 2:
        logger.warning(
            "%d of the %d trials this run trained diverged (non-finite scores; they are kept "
            "off the front): lower [model] learning_rate, or check the features' scale.",
            diverged, told,
        )
    if cut_short:
        logger.warning(
            "%d of the %d trials this run trained kept their last epoch ([model] epochs = %s): "
            "their validation loss was still falling when training stopped, so the budget, "
            "not the data, decided how far they trained; raise [model] epochs.",
            cut_short, told, info.model.get("epochs"),
        )
    complete = _count(study).get(TrialState.COMPLETE, 0)
    if settled is not None:
        logger.info(
            "settled after %d of %d trials: the paired comparison recommends a baseline, and "
            "the remaining %d trials could change that with a chance of %s (stop = "
            "\"budget\" runs them all)", complete, budget, settled.remaining,
            risk_text(settled.risk),
        )
        study.set_user_attr(SETTLED_ATTR, {**settled.to_dict(), "budget": budget})
    elif told and SETTLED_ATTR in study.user_attrs:
        study.set_user_attr(SETTLED_ATTR, None)  # resumed past its settlement
    return RunSummary(complete=complete, told=told, diverged=diverged, settled=settled)


class _Settling:
    """What ``stop = "settled"`` judges before each batch: the study's finished records (read
    once, then this run's added as it tells them; other workers' trials count from the next
    run) and its baselines. A study that settled at a smaller budget runs one batch first."""

    def __init__(self, study: optuna.Study, budget: int) -> None:
        self.study = study
        before = study.user_attrs.get(SETTLED_ATTR)
        # A settled study resumed with a larger budget goes on: one batch before it is judged.
        self.wait = isinstance(before, dict) and before.get("budget", budget) < budget
        self.records = [TrialRecord.from_trial(t) for t in study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE,)) if TrialRecord.stored_in(t)]
        self.baselines: list[TrialRecord] | None = None

    def add(self, records: list[TrialRecord]) -> None:
        self.records.extend(records)

    def check(self, remaining: int) -> Settlement | None:
        if self.wait:
            self.wait = False
            return None
        if self.baselines is None:
            self.baselines = list(load_baselines(self.study).values())
        return settlement(self.records, self.baselines, remaining=remaining)
