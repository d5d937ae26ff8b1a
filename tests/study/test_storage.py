from __future__ import annotations

import pytest

from sweeper.errors import StorageError
from sweeper.study import open_storage, redact


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


def test_storage_calls_wait_out_a_database_outage(tmp_path):
    """A call that meets a connection error is retried until the database answers."""
    import sqlalchemy.exc

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", reconnect_timeout=30)
    outages = [sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed"))] * 2

    def flaky() -> str:
        if outages:
            raise outages.pop()
        return "answered"

    assert storage.call(flaky) == "answered"
    assert storage.recovered_at > float("-inf")


def test_storage_gives_up_after_the_reconnect_timeout(tmp_path):
    import sqlalchemy.exc

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", reconnect_timeout=1)

    def down() -> None:
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    with pytest.raises(StorageError, match=r"unreachable for 1 s: .*connection refused"):
        storage.call(down)


@pytest.mark.slow  # waits out the gRPC client's connection attempts
def test_grpc_url_without_a_proxy(tmp_path):
    with pytest.raises(StorageError, match=r"no gRPC storage proxy answers|gRPC support"):
        open_storage("grpc://127.0.0.1:9")
    with pytest.raises(StorageError, match="expected grpc://HOST:PORT"):
        open_storage("grpc://nohostport")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_trials_counted_by_the_database_match_optunas_count(tmp_path, backend, request):
    import optuna
    from optuna.trial import TrialState

    from sweeper.study import open_storage
    from sweeper.study._optuna import study_id_of

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'count.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    storage = open_storage(url)
    study = optuna.create_study(storage=storage, study_name="count")
    for value in range(5):
        study.tell(study.ask(), value)
    study.tell(study.ask(), state=TrialState.FAIL)
    study.ask()
    study.ask()
    study_id = study_id_of(study)
    counts = storage.count_trials(study_id)
    for state in TrialState:
        assert counts.get(state, 0) == storage.get_n_trials(study_id, state=(state,))
    assert (counts[TrialState.COMPLETE], counts[TrialState.RUNNING]) == (5, 2)
    storage.close()


def test_asking_skips_the_scan_for_waiting_trials_only_when_none_wait(tmp_path):
    """`Study.ask` looks for waiting trials first; with none counted by the database the
    storage answers at once, and an enqueued (or requeued) trial is still found."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState

    from sweeper.study import open_storage
    from sweeper.study._optuna import study_id_of

    storage = open_storage(f"sqlite:///{tmp_path / 'w.db'}")
    study = optuna.create_study(storage=storage, directions=["maximize", "maximize"])
    space = {"x": FloatDistribution(0, 1)}
    first = study.ask(space)
    study_id = study_id_of(study)
    assert storage.get_all_trials(study_id, states=(TrialState.WAITING,)) == []
    study.enqueue_trial({"x": 0.25})
    (waiting,) = storage.get_all_trials(study_id, states=(TrialState.WAITING,))
    assert waiting.system_attrs["fixed_params"] == {"x": 0.25}
    second = study.ask(space)
    assert second.params == {"x": 0.25} and first.number != second.number
    states = [t.state for t in storage.get_all_trials(study_id)]
    assert states == [TrialState.RUNNING, TrialState.RUNNING]


def test_system_attributes_by_prefix_come_from_one_filtered_query(tmp_path):
    """The workers' heartbeat records without the dashboard's figures; LIKE's wildcards in
    the prefix are taken literally."""
    import optuna

    from sweeper.study import open_storage
    from sweeper.study._optuna import study_id_of

    storage = open_storage(f"sqlite:///{tmp_path / 'p.db'}")
    study = optuna.create_study(storage=storage, directions=["maximize", "maximize"])
    study_id = study_id_of(study)
    storage.set_study_system_attr(study_id, "sweeper:worker:a", {"beat": 1.0})
    storage.set_study_system_attr(study_id, "sweeper:workerXb", {"beat": 2.0})
    storage.set_study_system_attr(study_id, "dashboard:plot_data:x:0", "{...}")
    assert storage.study_system_attrs_with_prefix(study_id, "sweeper:worker:") == {
        "sweeper:worker:a": {"beat": 1.0}
    }
    storage.set_study_system_attr(study_id, "a_b", 1)
    storage.set_study_system_attr(study_id, "aXb", 2)
    assert storage.study_system_attrs_with_prefix(study_id, "a_") == {"a_b": 1}
