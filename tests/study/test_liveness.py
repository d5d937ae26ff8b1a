from __future__ import annotations

import time

import optuna
from optuna.trial import TrialState

from sweeper.study import open_storage
from sweeper.study._liveness import WORKER_PREFIX, Liveness, WorkerHeartbeat, fail_stale_trials
from sweeper.study._optuna import storage_of, study_id_of, trial_id_of

FAST = Liveness(interval=0.2, grace=1.0, max_retries=1)


def new_study(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    return optuna.create_study(storage=storage, study_name="s", directions=["maximize"] * 2)


def claimed(study, key: str, trial_id: int) -> dict:
    """The study's records once worker ``key`` claims ``trial_id``: its heartbeat thread
    writes the claim by itself (the deadline only turns a hang into a failure)."""
    deadline = time.monotonic() + 600
    while True:
        records = storage_of(study).get_study_system_attrs(study_id_of(study))
        if trial_id in records.get(key, {}).get("trials", []):
            return records
        assert time.monotonic() < deadline, "the claim was never written"
        time.sleep(0.05)


def test_live_worker_keeps_its_trials_and_a_dead_one_loses_them(tmp_path):
    study = new_study(tmp_path)
    study.enqueue_trial({"x": 0.25})
    study.enqueue_trial({"x": 0.75})
    alive, dead = study.ask(), study.ask()
    for trial in (alive, dead):
        trial.suggest_float("x", 0, 1)
    dead_worker = WorkerHeartbeat(study, FAST)
    dead_worker.track([trial_id_of(dead)])  # beats once, then never again: SIGKILLed
    with WorkerHeartbeat(study, FAST) as live_worker:
        live_worker.track([trial_id_of(alive)])  # its thread writes the claim, later
        records = claimed(study, live_worker.key, trial_id_of(alive))
        dead_beat = records[dead_worker.key]["beat"]
        live_beat = records[live_worker.key]["beat"]
        assert live_beat > dead_beat
        # Judged at a moment when the dead beat is more than a grace period old and the live
        # one is not, read from the stored beats: the machine's pace does not enter.
        failed = fail_stale_trials(
            study, FAST, now=dead_beat + FAST.grace + (live_beat - dead_beat) / 2
        )
    assert failed == [dead.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[alive.number] == TrialState.RUNNING
    assert states[dead.number] == TrialState.FAIL
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.system_attrs["fixed_params"] == {"x": 0.75}
    assert retry.user_attrs == {"retry_of": dead.number, "retries": 1}
    record = storage_of(study).get_study_system_attrs(study_id_of(study))[dead_worker.key]
    assert record["trials"] == [] and "declared_dead_at" in record


def test_retries_stop_at_max_retries(tmp_path):
    study = new_study(tmp_path)
    study.enqueue_trial({"x": 0.5})
    for attempt in range(3):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        WorkerHeartbeat(study, FAST).track([trial_id_of(trial)])
        failed = fail_stale_trials(study, FAST, now=time.time() + 10)
        assert failed == [trial.number]
        waiting = study.get_trials(states=(TrialState.WAITING,))
        assert len(waiting) == (1 if attempt < FAST.max_retries else 0)
        if not waiting:
            break
    assert attempt == FAST.max_retries


def test_unclaimed_running_trial_fails_only_after_the_grace_period(tmp_path):
    study = new_study(tmp_path)
    orphan = study.ask()
    orphan.suggest_float("x", 0, 1)
    started = study.trials[orphan.number].datetime_start.timestamp()
    assert fail_stale_trials(study, FAST, now=started + FAST.grace / 2) == []
    assert fail_stale_trials(study, FAST, now=started + FAST.grace + 1) == [orphan.number]


def test_stopped_worker_leaves_a_record_with_no_trials(tmp_path):
    study = new_study(tmp_path)
    with WorkerHeartbeat(study, FAST) as worker:
        worker.track([trial_id_of(study.ask())])
    records = {
        k: v
        for k, v in storage_of(study).get_study_system_attrs(study_id_of(study)).items()
        if k.startswith(WORKER_PREFIX)
    }
    assert records[worker.key]["stopped"] is True
    assert records[worker.key]["trials"] == []
