from __future__ import annotations

import time

import optuna
import pytest
from optuna.trial import TrialState

from sweeper.errors import StorageError
from sweeper.storage import Heartbeat, fail_stale_trials, open_storage, redact


def test_redact_hides_the_password():
    assert redact("postgresql+psycopg://me:secret@db/x") == "postgresql+psycopg://me:***@db/x"


def test_sqlite_folder_is_created(tmp_path):
    open_storage(f"sqlite:///{tmp_path / 'deep' / 'er' / 's.db'}")
    assert (tmp_path / "deep" / "er" / "s.db").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("::", "not a valid SQLAlchemy URL"),
        ("nosuch://a/b", "unknown database dialect or driver"),
        ("postgresql+psycopg://x:pw@127.0.0.1:9/db", r"storage postgresql\+psycopg://x:\*\*\*@"),
    ],
)
def test_bad_storage_urls(url, message):
    with pytest.raises(StorageError, match=message):
        open_storage(url)


def test_stale_trial_is_failed_and_its_parameters_retried(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(storage=storage, study_name="s", directions=["maximize"] * 2)
    with pytest.warns(UserWarning, match="Heartbeat of storage"):
        kept, dead = study.ask(), study.ask()
    kept.suggest_float("x", 0, 1)
    dead.suggest_float("x", 0, 1)
    Heartbeat(storage, [dead._trial_id]).__enter__().__exit__(None, None, None)  # one beat only
    with Heartbeat(storage, [kept._trial_id]):
        time.sleep(3.5)
        fail_stale_trials(study)
    states = {t.number: t.state for t in study.get_trials()}
    assert states[kept.number] == TrialState.RUNNING
    assert states[dead.number] == TrialState.FAIL
    retry = study.get_trials(states=(TrialState.WAITING,))
    assert len(retry) == 1
    assert retry[0].params == dead.params
