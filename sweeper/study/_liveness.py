"""Liveness of workers and their trials, on any Optuna storage.

Optuna's own heartbeat covers ``study.optimize`` on an RDB storage only; the sweeper asks and tells
in batches and may talk to the database through Optuna's gRPC proxy, which has no heartbeat at
all. So the sweeper keeps its own, with one study-level system attribute per worker::

    "sweeper:worker:<id>" = {"beat": <unix time>, "trials": [<trial ids in flight>], ...}

A :class:`WorkerHeartbeat` rewrites its record every ``interval`` seconds from a daemon thread: one
write per worker per beat, however many trials it trains at once. :func:`fail_stale_trials`, run
by every worker before each batch, fails the running trials of workers whose beat is older than
``grace`` seconds (and running trials no worker claims that started more than ``grace`` ago),
and queues their parameters again, at most ``max_retries`` times per original trial.

Beat times are the writers' clocks, read by other machines: clocks must agree to well within the
grace period (60 s by default), which any NTP-synchronised fleet does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from sweeper.config import StudyConfig
from sweeper.health import mark_alive
from sweeper.study._optuna import storage_of, study_id_of, trial_id_of
from sweeper.study._storage import ResilientStorage

logger = logging.getLogger(__name__)

__all__ = [
    "Liveness",
    "WorkerHeartbeat",
    "fail_stale_trials",
    "requeue",
]

WORKER_PREFIX = "sweeper:worker:"


@dataclass(frozen=True)
class Liveness:
    """How often workers beat, when they count as dead, how often a trial is retried."""

    interval: float
    grace: float
    max_retries: int

    @classmethod
    def of(cls, study: StudyConfig) -> Liveness:
        """The study's settings (``heartbeat_interval``, ``grace_period``, ``max_retries``)."""
        return cls(study.heartbeat_interval, study.grace_period, study.max_retries)


def requeue(study: optuna.Study, trial: FrozenTrial, *, max_retries: int, reason: str) -> bool:
    """Queue ``trial``'s parameters again unless they were already retried ``max_retries`` times.

    The new trial's user attributes name the original trial (``retry_of``) and count retries
    (``retries``); an interrupted batch (Ctrl-C, SIGTERM) is requeued without counting.
    """
    retries = int(trial.user_attrs.get("retries", 0))
    counted = reason != "interrupted"
    if counted and retries >= max_retries:
        return False
    if not trial.params:
        return False  # failed before it drew any parameter: nothing to retry
    study.enqueue_trial(
        trial.params,
        user_attrs={
            "retry_of": int(trial.user_attrs.get("retry_of", trial.number)),
            "retries": retries + int(counted),
        },
    )
    return True


class WorkerHeartbeat:
    """Beats for this worker's trials in flight from a daemon thread, while the ``with`` runs."""

    def __init__(self, study: optuna.Study, liveness: Liveness) -> None:
        self.study = study
        self.liveness = liveness
        self.key = f"{WORKER_PREFIX}{uuid.uuid4().hex[:12]}"
        self._trials: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sweeper-heartbeat", daemon=True)

    def _record(self, *, stopped: bool = False) -> dict[str, Any]:
        with self._lock:
            trials = sorted(self._trials)
        return {
            "beat": time.time(),
            "trials": [] if stopped else trials,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "stopped": stopped,
        }

    def beat(self, *, stopped: bool = False) -> None:
        """Write this worker's record; once it reached the storage, touch the health file of
        a fleet's health check (:func:`sweeper.health.mark_alive`)."""
        storage_of(self.study).set_study_system_attr(
            study_id_of(self.study), self.key, self._record(stopped=stopped)
        )
        if not stopped:
            mark_alive()

    def track(self, trial_ids: Iterable[int]) -> None:
        """Claim trials (right after asking for them): the beating thread writes the claim at
        once, while the batch goes on (outside a ``with``, this thread writes it).

        Nothing waits for that write: a running trial no worker claims is failed only after a
        grace period from its start, and the grace period is more than two intervals, so a
        claim that lands late still lands in time. The loop saves a write per batch."""
        with self._lock:
            self._trials.update(trial_ids)
        if self._thread.is_alive():
            self._wake.set()
        else:
            self.beat()

    def release(self, trial_ids: Iterable[int]) -> None:
        with self._lock:
            self._trials.difference_update(trial_ids)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.liveness.interval)  # a claim wakes it before the interval
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.beat()
            except Exception:  # the database is away; the next beat tries again
                continue

    def __enter__(self) -> WorkerHeartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()
        with contextlib.suppress(Exception):  # leaving anyway; the beat will go stale
            self.beat(stopped=True)


def fail_stale_trials(
    study: optuna.Study, liveness: Liveness, *, now: float | None = None
) -> list[int]:
    """Fail and requeue the running trials of dead workers; return the failed trial numbers."""
    now = time.time() if now is None else now
    storage, study_id = storage_of(study), study_id_of(study)
    # Filtered by the database where it can: the study's system attributes also hold the
    # dashboard's figures, megabytes of them, and this runs before every batch.
    if isinstance(storage, ResilientStorage):
        records = storage.study_system_attrs_with_prefix(study_id, WORKER_PREFIX)
    else:
        records = {key: value for key, value in storage.get_study_system_attrs(study_id).items()
                   if key.startswith(WORKER_PREFIX)}
    claimed: set[int] = set()
    dead: set[int] = set()
    for key, record in records.items():
        trials = set(record.get("trials", []))
        if now - float(record.get("beat", 0.0)) > liveness.grace:
            dead |= trials
            if trials:
                storage.set_study_system_attr(
                    study_id, key, {**record, "trials": [], "declared_dead_at": now}
                )
        else:
            claimed |= trials
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = trial_id_of(trial)
        if trial_id in claimed:
            continue
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        if trial_id not in dead and now - started <= liveness.grace:
            continue  # just asked by a live worker that has not claimed it yet
        try:
            storage.set_trial_user_attr(trial_id, "failed_because", "stale")
            if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:
            continue  # another worker failed it, or its own worker told it just now
        queued = requeue(study, trial, max_retries=liveness.max_retries, reason="stale")
        logger.warning(
            "trial %d: its worker stopped beating (no heartbeat for over %g s); failed, %s",
            trial.number, liveness.grace,
            "its parameters queued again" if queued else
            f"not queued again (retried {liveness.max_retries} times already)",
        )
        failed.append(trial.number)
    return failed
