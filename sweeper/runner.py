"""The trial loop: ask Optuna for a batch of trials, train them together, tell their results.

A lone trial is a batch of one. The budget is global: before each batch the runner counts the
study's complete trials and the running ones (its own and other workers'), and asks only for what
is left, so several workers sharing one database finish the study's number of trials together.
Each asked trial keeps a heartbeat while it trains; stale trials of dead workers are failed and
their parameters enqueued again, so a crash loses no finished trial and skips no candidate.

An interrupt (Ctrl-C, SIGTERM) fails the batch in flight, enqueues its parameters for the next run
and re-raises; every trial told before it stays in the study.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from tqdm.auto import tqdm

from sweeper.baselines import (
    BASELINES_ATTR,
    baseline_candidates,
    compute_baselines,
    store_baselines,
)
from sweeper.data import Splits
from sweeper.liveness import Liveness, WorkerHeartbeat, fail_stale_trials, requeue
from sweeper.models import ModelFactory
from sweeper.packing import available_memory_bytes, choose_pack, member_bytes
from sweeper.records import StudyInfo, TrialRecord
from sweeper.scoring import record_member
from sweeper.space import suggest_candidate
from sweeper.storage import ResilientStorage
from sweeper.studyfile import StudySpec
from sweeper.train import PackedTrainer

__all__ = ["RunSummary", "pack_size", "run_study"]

WAIT_FOR_OTHERS_S = 2.0


@dataclass(frozen=True)
class RunSummary:
    complete: int
    """Complete trials in the study when the run ended."""
    told: int
    """Trials this run finished."""


def pack_size(spec: StudySpec, info: StudyInfo, factory: ModelFactory | None) -> int:
    """Members per training pass: the study file's ``[model] pack``, else chosen from the
    model's size, the memory at hand and the budget (:mod:`sweeper.packing`)."""
    if spec.model.pack is not None:
        return spec.model.pack
    n_features, n_outputs = info.n_features, len(info.labels)
    if factory is None:
        hidden = spec.model.hidden
    else:
        # A user's model: size it as an MLP of one hidden layer with as many parameters.
        parameters = factory(n_features, n_outputs).count_params()
        hidden = (max(1, parameters // (n_features + n_outputs + 2)),)
    per_member = member_bytes(
        n_features=n_features, n_outputs=n_outputs, hidden=hidden,
        batch_size=spec.model.batch_size,
    )
    memory, on_gpu = available_memory_bytes()
    return choose_pack(
        per_member_bytes=per_member, budget=spec.study.trials, memory_bytes=memory, on_gpu=on_gpu
    )


def _may_judge(storage: object, liveness: Liveness) -> bool:
    """No "that worker is dead" verdicts until a grace period after this worker's own last
    outage: during an outage nobody could beat, so every beat looks stale right after it."""
    if not isinstance(storage, ResilientStorage):
        return True
    return time.monotonic() - storage.recovered_at > liveness.grace


def _count(study: optuna.Study) -> tuple[int, int]:
    """Complete and running trials, counted by the database rather than loaded."""
    storage, study_id = study._storage, study._study_id
    return (
        storage.get_n_trials(study_id, state=TrialState.COMPLETE),
        storage.get_n_trials(study_id, state=TrialState.RUNNING),
    )


def _fail_and_requeue(
    study: optuna.Study, trials: list[optuna.Trial], reason: str, liveness: Liveness
) -> None:
    for trial in trials:
        try:
            trial.set_user_attr("failed_because", reason)
            study.tell(trial, state=TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # another worker judged it stale meanwhile, and requeued it
        frozen = study._storage.get_trial(trial._trial_id)
        requeue(study, frozen, max_retries=liveness.max_retries, reason=reason)


def _tell(
    study: optuna.Study, trial: optuna.Trial, record: TrialRecord, spec: StudySpec
) -> None:
    """Store a member's record, constraints and values; a trial already failed as stale (its
    worker looked dead during a long database outage) keeps that state, and its requeued copy
    runs again."""
    try:
        for key, value in record.user_attrs().items():
            trial.set_user_attr(key, value)
        # Feasible when <= 0 (Optuna's convention): the floor minus the validation figure.
        if spec.study.min_precision is not None:
            trial.set_constraint(
                "min_precision", spec.study.min_precision - record.validation.precision
            )
        if spec.study.min_recall is not None:
            trial.set_constraint("min_recall", spec.study.min_recall - record.validation.recall)
        study.tell(trial, [record.validation.recall, record.validation.precision])
    except UpdateFinishedTrialError:
        pass


def _run_batch(
    study: optuna.Study,
    heartbeat: WorkerHeartbeat,
    spec: StudySpec,
    info: StudyInfo,
    splits: Splits,
    trainer: PackedTrainer,
) -> int:
    size = trainer.members
    trials: list[optuna.Trial] = []
    try:
        for _ in range(size):
            trials.append(study.ask())
        heartbeat.track(t._trial_id for t in trials)
    except BaseException:
        _fail_and_requeue(study, trials, "interrupted", heartbeat.liveness)
        heartbeat.release(t._trial_id for t in trials)
        raise
    pending = list(trials)
    try:
        candidates = [
            suggest_candidate(t, spec.search, info.task, info.labels) for t in trials
        ]
        counts = np.asarray(info.train_counts)
        cost_matrix = spec.search.cost_matrix
        weights = [c.weights(counts, info.n_train, info.task) for c in candidates]
        scores = trainer.train_and_score(np.stack([
            c.loss_weights(counts, info.n_train, info.task, cost_matrix) for c in candidates
        ]))
        for member, (trial, candidate) in enumerate(zip(trials, candidates, strict=True)):
            record = record_member(
                info=info, splits=splits, scores=scores, member=member,
                number=trial.number, candidate=candidate, weights=weights[member],
                cost_matrix=cost_matrix,
            )
            _tell(study, trial, record, spec)
            pending.remove(trial)
    except (KeyboardInterrupt, SystemExit):
        _fail_and_requeue(study, pending, "interrupted", heartbeat.liveness)
        raise
    except BaseException:
        _fail_and_requeue(study, pending, "error", heartbeat.liveness)
        raise
    finally:
        heartbeat.release(t._trial_id for t in trials)
    return size


def run_study(
    spec: StudySpec,
    info: StudyInfo,
    splits: Splits,
    study: optuna.Study,
    *,
    factory: ModelFactory | None = None,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    make_trainer: Callable[[int], PackedTrainer] | None = None,
) -> RunSummary:
    """Run batches until the study holds ``spec.study.trials`` complete trials.

    A study without baselines gets them first (:mod:`sweeper.baselines`): one packed pass.

    ``make_trainer(members)`` builds the trainer of a pack size (default: a
    :class:`~sweeper.train.PackedTrainer` on ``splits``); the storage benchmark passes one that
    returns scores at once, to measure what the loop costs besides training.
    """
    if make_trainer is None:

        def make_trainer(members: int) -> PackedTrainer:
            return PackedTrainer(splits, spec.model, members=members, seed=info.seed,
                                 factory=factory)

    budget = spec.study.trials
    liveness = Liveness(
        interval=spec.study.heartbeat_interval,
        grace=spec.study.grace_period,
        max_retries=spec.study.max_retries,
    )
    storage = study._storage
    pack = pack_size(spec, info, factory)
    told = 0
    trainers: dict[int, PackedTrainer] = {}  # one compiled trainer per pack size, reused
    if BASELINES_ATTR not in study.user_attrs:
        # Once per study (workers that start together may each compute them: same results).
        members = len(baseline_candidates(info.task))
        trainers[members] = make_trainer(members)
        store_baselines(study, compute_baselines(info, splits, trainers[members]))
    complete, _ = _count(study)
    with tqdm(
        total=budget, initial=min(complete, budget), unit="trial", disable=not progress,
        file=sys.stderr, dynamic_ncols=True, desc=spec.study.name,
    ) as bar, WorkerHeartbeat(study, liveness) as heartbeat:
        while True:
            if _may_judge(storage, liveness):
                fail_stale_trials(study, liveness)
            complete, running = _count(study)
            bar.n = min(complete, budget)
            bar.refresh()
            remaining = budget - complete - running
            if remaining <= 0:
                if running == 0:
                    break
                sleep(WAIT_FOR_OTHERS_S)
                continue
            size = min(pack, remaining)
            if size not in trainers:
                trainers[size] = make_trainer(size)
            told += _run_batch(study, heartbeat, spec, info, splits, trainers[size])
    return RunSummary(complete=_count(study)[0], told=told)
