"""Trials asked before they are stored and told in one transaction read back as Optuna's own.

The runner draws a trial's parameters against a view of the study, creates the trial with them
in one write and stores its record, constraints and values with its completion in one more
(``sweeper.study._asking``). These tests hold that path to what Optuna's ``ask``/``tell`` store,
on SQLite and on the PostgreSQL server.
"""

import math
import threading
import time
import warnings
from datetime import datetime, timedelta, timezone

import optuna
import pytest
from optuna.trial import TrialState

from sweeper.study import _storage, open_storage
from sweeper.study._asking import ask_trials, fail_trial, tell_trial, tell_trials
from sweeper.study._optuna import study_id_of
from sweeper.study._runner import _count
from sweeper.study._study import WindowedSampler
from tests.support import free_port

OPENED = []


NO_RETURNING: list[bool] = []
"""Set by the ``mariadb-no-returning`` backend: storages opened here take the branch of
trial creation for a database without ``INSERT ... RETURNING`` (MySQL), on a real MariaDB."""


def storage_at(url: str):
    """A storage closed when the test ends (its pooled connections returned)."""
    OPENED.append(open_storage(url))
    if NO_RETURNING:
        from sweeper.study._optuna import _rdb_backend

        _rdb_backend(OPENED[-1].inner).engine.dialect.insert_returning = False
    return OPENED[-1]


@pytest.fixture(autouse=True)
def close_storages():
    yield
    while OPENED:
        OPENED.pop().close()
    NO_RETURNING.clear()


NAMES = ("x", "rate", "n", "kind", "fixed")


def suggest(trial):
    return (
        trial.suggest_float("x", 0.0, 1.0),
        trial.suggest_float("rate", 1e-3, 1.0, log=True),
        trial.suggest_int("n", 1, 9),
        trial.suggest_categorical("kind", ["a", "b", "c"]),
        trial.suggest_float("fixed", 0.5, 0.5),
    )


def tpe() -> optuna.samplers.TPESampler:
    return optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True,
                                      n_startup_trials=4)


BACKENDS = ["sqlite", "postgresql", "mariadb", "mariadb-no-returning"]


def url_of(backend, tmp_path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'asking.db'}"
    if backend == "mariadb-no-returning":
        NO_RETURNING.append(True)
    fixture = "postgres" if backend == "postgresql" else "mariadb"
    return request.getfixturevalue(fixture).create_database()


def started_study(url: str, complete: int = 6) -> optuna.Study:
    """A study whose TPE has left its start-up trials: asks draw relative parameters."""
    study = optuna.create_study(storage=storage_at(url), directions=["maximize"] * 2,
                                sampler=tpe(), study_name="asking")
    for _ in range(complete):
        trial = study.ask()
        x, rate, n, _, _ = suggest(trial)
        study.tell(trial, [x, rate * n])
    return study


def comparable(trial: optuna.trial.FrozenTrial) -> dict:
    return {
        "state": trial.state, "values": trial.values, "params": trial.params,
        "distributions": trial.distributions, "user_attrs": trial.user_attrs,
        "constraints": trial.constraints,
        "system_attr_keys": sorted(trial.system_attrs),
    }


@pytest.fixture
def five_hours_west(monkeypatch):
    """Local time five hours behind UTC, so that a UTC / local mix-up shows."""
    monkeypatch.setenv("TZ", "XST+5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_trial_asked_and_told_in_one_write_each_reads_back_as_optunas_own(
    tmp_path, backend, request, five_hours_west
):
    assert abs(datetime.now() - datetime.now(timezone.utc).replace(tzinfo=None)) > timedelta(
        hours=4)
    url = url_of(backend, tmp_path, request)
    study = started_study(url)
    # Optuna's own path, for comparison.
    own = study.ask()
    suggest(own)
    own.set_user_attr("record", {"recall": 0.5, "curve": [0.1, 0.2]})
    own.set_constraint("min_precision", 0.25)
    study.tell(own, [0.5, 0.75])

    asked = list(ask_trials(study, 3, suggest))
    fresh = storage_at(url)  # nothing from this process's cache
    study_id = study_id_of(study)
    assert [a.number for a in asked] == [7, 8, 9]
    for a in asked:
        stored = fresh.get_trial(a.trial_id)
        assert stored.number == a.number and stored.state == TrialState.RUNNING
        assert tuple(stored.params[name] for name in NAMES) == a.suggested
        assert stored.distributions == study.trials[own.number].distributions
        assert abs(stored.datetime_start - datetime.now()) < timedelta(minutes=1)  # local time
        assert any(key.startswith("tpe:relative_params") for key in stored.system_attrs)
        tell_trial(study, a, [0.5, 0.75], {"record": {"recall": 0.5, "curve": [0.1, 0.2]}},
                   {"min_precision": 0.25})
    for a in asked:
        told = fresh.get_trial(a.trial_id)
        expected = comparable(fresh.get_trial(fresh.get_trial_id_from_study_id_trial_number(
            study_id, own.number)))
        expected["params"] = dict(zip(NAMES, a.suggested, strict=True))
        # The sweeper's own token (``sweeper:ask``: a retried creation finds its trial).
        expected["system_attr_keys"] = sorted([*expected["system_attr_keys"], "sweeper:ask"])
        assert comparable(told) == expected
        assert told.datetime_complete >= told.datetime_start
    # Optuna's own trial and the sweeper's store the same instants (naive UTC in the column).
    import sqlalchemy
    from optuna.storages._rdb.models import TrialModel

    table = TrialModel.__table__
    with fresh.inner._backend.engine.connect() as connection:
        raw = dict(connection.execute(
            sqlalchemy.select(table.c.number, table.c.datetime_start)).all())
    utc_now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert all(abs(raw[n] - utc_now) < timedelta(minutes=1) for n in (own.number, 7, 8, 9))
    # Optuna's cache in this process sees the told trials complete too.
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 10


def test_telling_a_trial_another_worker_failed_leaves_it_failed(tmp_path):
    study = started_study(f"sqlite:///{tmp_path / 'failed.db'}")
    (asked,) = ask_trials(study, 1, suggest)
    storage = study._storage
    storage.set_trial_state_values(asked.trial_id, TrialState.FAIL)
    tell_trial(study, asked, [0.5, 0.5], {"record": {}}, {"min_precision": 0.1})
    stored = storage_at(f"sqlite:///{tmp_path / 'failed.db'}").get_trial(asked.trial_id)
    assert stored.state == TrialState.FAIL
    assert stored.values is None and "record" not in stored.user_attrs
    assert stored.constraints == {}


def test_each_member_of_a_batch_is_drawn_seeing_the_earlier_ones_running(tmp_path):
    """TPE's constant liar needs the batch's earlier trials in the study it samples from."""
    seen = []

    class Watching(optuna.samplers.TPESampler):
        def sample_relative(self, study, trial, search_space):
            running = study.get_trials(states=(TrialState.RUNNING,))
            seen.append(sorted(t.params["x"] for t in running))
            return super().sample_relative(study, trial, search_space)

    study = started_study(f"sqlite:///{tmp_path / 'liar.db'}")
    study.sampler = Watching(seed=0, multivariate=True, constant_liar=True, n_startup_trials=4)
    asked = list(ask_trials(study, 4, suggest))
    drawn_x = [a.suggested[0] for a in asked]
    assert seen == [sorted(drawn_x[:k]) for k in range(4)]
    assert all(a.trial is None for a in asked)  # drawn before stored, not Optuna's own ask
    assert [a.number for a in asked] == [6, 7, 8, 9]


def test_a_batch_told_at_once_leaves_a_member_failed_elsewhere_as_it_is(tmp_path):
    url = f"sqlite:///{tmp_path / 'batch.db'}"
    study = started_study(url)
    first, second, third = ask_trials(study, 3, suggest)
    study._storage.set_trial_state_values(second.trial_id, TrialState.FAIL)
    tell_trials(study, [(a, [0.5, 0.25], {"record": {"n": a.number}}, {"min_recall": 0.0})
                        for a in (first, second, third)])
    fresh = storage_at(url)
    states = [fresh.get_trial(a.trial_id) for a in (first, second, third)]
    assert [t.state for t in states] == [TrialState.COMPLETE, TrialState.FAIL,
                                         TrialState.COMPLETE]
    assert states[0].user_attrs["record"] == {"n": first.number}
    assert states[2].values == [0.5, 0.25] and states[2].constraints == {"min_recall": 0.0}
    assert states[1].values is None and states[1].user_attrs == {}


def test_waiting_trials_and_other_samplers_take_optunas_own_ask(tmp_path):
    study = started_study(f"sqlite:///{tmp_path / 'queue.db'}")
    study.enqueue_trial({"x": 0.25, "rate": 0.1, "n": 3, "kind": "b", "fixed": 0.5})
    first, second = ask_trials(study, 2, suggest)
    assert first.trial is not None and first.suggested == (0.25, 0.1, 3, "b", 0.5)
    assert second.trial is not None  # the whole batch: Optuna pops waiting trials first
    study.sampler = optuna.samplers.NSGAIISampler(seed=0)
    (third,) = ask_trials(study, 1, suggest)
    assert third.trial is not None


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_creating_trials_at_once_get_distinct_consecutive_numbers(
    tmp_path, backend, request
):
    url = url_of(backend, tmp_path, request)
    started_study(url, complete=0)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            study = optuna.load_study(study_name="asking", storage=storage_at(url),
                                      sampler=optuna.samplers.RandomSampler())
            numbers.extend(a.number for a in ask_trials(study, 15, suggest))
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(60))
    stored = optuna.load_study(study_name="asking", storage=storage_at(url)).trials
    assert sorted(t.number for t in stored) == list(range(60))


def test_a_nan_value_fails_the_trial_as_optuna_does_and_keeps_its_record(tmp_path):
    study = started_study(f"sqlite:///{tmp_path / 'nan.db'}")
    (asked,) = ask_trials(study, 1, suggest)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's own warning names the NaN
        tell_trial(study, asked, [math.nan, 0.5], {"record": {"diverged": True}}, {})
    stored = storage_at(f"sqlite:///{tmp_path / 'nan.db'}").get_trial(asked.trial_id)
    assert stored.state == TrialState.FAIL and stored.user_attrs["record"] == {"diverged": True}


def test_a_failed_trial_from_the_fast_path_can_be_requeued(tmp_path):
    study = started_study(f"sqlite:///{tmp_path / 'fail.db'}")
    (asked,) = ask_trials(study, 1, suggest)
    frozen = fail_trial(study, asked, "interrupted")
    assert frozen.state == TrialState.FAIL and frozen.user_attrs["failed_because"] == "interrupted"
    assert frozen.params == dict(zip(NAMES, asked.suggested, strict=True))
    assert fail_trial(study, asked, "error") is None  # already finished: left as it is


def test_a_window_caps_the_trials_the_sampler_learns_from(tmp_path):
    complete_seen = []

    class Watching(optuna.samplers.TPESampler):
        def sample_relative(self, study, trial, search_space):
            complete_seen.append(len(study.get_trials(states=(TrialState.COMPLETE,))))
            return super().sample_relative(study, trial, search_space)

    study = started_study(f"sqlite:///{tmp_path / 'window.db'}", complete=12)
    study.sampler = WindowedSampler(
        Watching(seed=0, multivariate=True, constant_liar=True, n_startup_trials=4), window=5)
    asked = list(ask_trials(study, 3, suggest))
    assert complete_seen == [5, 5, 5] and all(a.trial is None for a in asked)


def test_a_commit_whose_answer_was_lost_is_found_not_made_twice(tmp_path, monkeypatch):
    """The database committed the new trial, then the connection dropped before the answer:
    the retry finds the trial by its token instead of creating a second one."""
    import sqlalchemy.exc

    study = started_study(f"sqlite:///{tmp_path / 'lost.db'}")
    real = _storage.create_trials
    lost = []

    def commit_then_drop(*args):
        created = real(*args)
        if not lost:
            lost.append(created)
            raise sqlalchemy.exc.OperationalError("COMMIT", {}, Exception("connection lost"))
        return created

    monkeypatch.setattr(_storage, "create_trials", commit_then_drop)
    monkeypatch.setattr(_storage, "FIRST_BACKOFF_S", 0.01)
    asked = list(ask_trials(study, 3, suggest))
    assert lost and [(a.trial_id, a.number) for a in asked] == lost[0]
    assert len(storage_at(f"sqlite:///{tmp_path / 'lost.db'}").get_all_trials(
        study_id_of(study))) == 9


def test_through_the_grpc_proxy_queued_trials_are_asked_first(tmp_path):
    """A storage without transactions counts waiting trials too, and asks through Optuna."""
    pytest.importorskip("grpc")
    from optuna.storages._grpc.server import make_server

    port = free_port()
    server = make_server(storage_at(f"sqlite:///{tmp_path / 'proxied.db'}"), "127.0.0.1", port)
    server.start()
    try:
        study = started_study(f"grpc://127.0.0.1:{port}")
        params = {"x": 0.25, "rate": 0.1, "n": 3, "kind": "b", "fixed": 0.5}
        study.enqueue_trial(params)
        assert _count(study).get(TrialState.WAITING) == 1
        first, _ = ask_trials(study, 2, suggest)
        assert first.suggested == tuple(params.values()) and first.trial is not None
        tell_trial(study, first, [0.5, 0.5], {"record": {"a": 1}}, {"min_precision": 0.2})
        told = study.trials[first.number]
        assert told.state == TrialState.COMPLETE and told.constraints == {"min_precision": 0.2}
        assert told.user_attrs["record"] == {"a": 1}
    finally:
        server.stop(0)


def test_a_resumed_study_whose_search_changed_is_refused_naming_the_parameter(tmp_path):
    from sweeper.errors import ConfigError

    study = started_study(f"sqlite:///{tmp_path / 'changed.db'}")

    def narrower(trial):
        return trial.suggest_categorical("kind", ["a", "b"])

    with pytest.raises(ConfigError, match=r"searched 'kind' as .*'c'.*now asks for .*'b'\)") \
            as raised:
        list(ask_trials(study, 2, narrower))
    assert raised.value.section == "search" and raised.value.key == "kind"
    assert len(study.trials) == 6  # nothing stored


@pytest.mark.parametrize("version", ["4.6.0", "5.1.0", "6.0.0"])
def test_an_optuna_outside_the_tested_range_warns_once_and_takes_the_public_path(
    version, monkeypatch, caplog
):
    from sweeper.study._optuna import ANY_OPTUNA_VARIABLE, check_optuna_version

    monkeypatch.delenv(ANY_OPTUNA_VARIABLE, raising=False)
    with caplog.at_level("WARNING", logger="sweeper"):
        assert check_optuna_version(version) is False
    assert len(caplog.records) == 1 and caplog.records[0].levelname == "WARNING"
    message = caplog.records[0].getMessage()
    assert "\n" not in message
    assert message.startswith(f"Optuna {version} is outside the range this sweeper is tested "
                              "with (optuna>=5.0,<5.1): it asks, tells and counts trials "
                              "through Optuna's public API")
    assert "13 ms more per trial" in message
    monkeypatch.setenv(ANY_OPTUNA_VARIABLE, "1")
    caplog.clear()
    assert check_optuna_version(version) is True  # the fast path, at the user's word
    assert not caplog.records


def test_the_installed_optuna_is_in_the_range_pyproject_admits():
    from pathlib import Path

    from packaging.requirements import Requirement

    from sweeper.study._optuna import FAST_PATH, OPTUNA_RANGE, check_optuna_version

    assert check_optuna_version("5.0.0") and check_optuna_version(optuna.__version__)
    assert FAST_PATH
    project = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    declared = next(Requirement(line.strip().strip(",").strip('"'))
                    for line in project.splitlines() if line.strip().startswith('"optuna>='))
    low, high = OPTUNA_RANGE
    assert low in declared.specifier and f"{high}.0" in declared.specifier  # admits newer


def test_the_public_path_stores_what_the_fast_path_stores(tmp_path, monkeypatch):
    """With the table access off (as on an untested Optuna) a study asks through Optuna's own
    ask, tells through its tell and counts through its storage, and stores the same trials,
    parameters and records as the fast path for the same seed; no window wraps TPE."""
    import sweeper
    from sweeper.study import RECORD_ATTR, _optuna, make_sampler
    from sweeper.study._study import WindowedSampler
    from tests.support import make_multilabel_arrays
    from tests.support.fake_trainer import run_fake_study

    def run(name: str) -> list:
        X, y = make_multilabel_arrays(600)
        prepared = sweeper.prepare(
            X, y, trials=8, data={"folds": 1}, model={"hidden": [4], "epochs": 2, "pack": 4},
            storage=f"sqlite:///{tmp_path / name}.db", study_name="paths",
        )
        run_fake_study(prepared)
        trials = prepared.study.get_trials()
        return [(t.state, t.params, t.values, t.user_attrs[RECORD_ATTR]) for t in trials]

    fast = run("fast")
    monkeypatch.setattr(_optuna, "FAST_PATH", False)
    calls: list[str] = []
    real_ask = optuna.Study.ask

    def counted_ask(self, *args, **kwargs):
        calls.append("ask")
        return real_ask(self, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "ask", counted_ask)
    public = run("public")
    assert len(calls) == 8  # every trial asked by Optuna (the baselines are no trials)
    study = optuna.load_study(study_name="paths", storage=f"sqlite:///{tmp_path / 'public'}.db")
    storage, study_id = _optuna.storage_of(study), _optuna.study_id_of(study)
    assert _optuna.count_trials(storage, study_id) is None  # Optuna counts, not the tables
    assert _optuna.study_system_attrs_with_prefix(storage, study_id, "worker") is None
    assert _optuna.stored_distributions(storage, study_id) is None
    assert len(public) == len(fast) == 8
    assert public == fast
    from sweeper.config import StudyConfig

    assert not isinstance(make_sampler(StudyConfig()), WindowedSampler)


def sampler_of(name: str) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return tpe()
    if name == "random":
        return optuna.samplers.RandomSampler(seed=0)
    pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.GPSampler(seed=0, n_startup_trials=4)


@pytest.mark.parametrize("name", ["tpe", "gp", "random"])
def test_a_batch_draws_what_optunas_own_asks_draw(tmp_path, name):
    """Two studies with the same sampler seed and the same history: a batch of three drawn
    by the batched path holds the parameters three of Optuna's own asks draw (each seeing the
    ones before it running, as the batch's members do)."""

    def study_with_history(path: str) -> optuna.Study:
        study = optuna.create_study(storage=storage_at(f"sqlite:///{tmp_path / path}"),
                                    directions=["maximize"] * 2, sampler=sampler_of(name),
                                    study_name="drawn")
        for _ in range(6):
            trial = study.ask()
            x, rate, n, _, _ = suggest(trial)
            study.tell(trial, [x, rate * n])
        return study

    own, batched = study_with_history("own.db"), study_with_history("batched.db")
    expected = []
    for _ in range(3):
        expected.append(suggest(own.ask()))
    drawn = [asked.suggested for asked in ask_trials(batched, 3, suggest)]
    assert drawn == expected
    assert [t.params for t in batched.trials[6:]] == [t.params for t in own.trials[6:]]


@pytest.mark.parametrize("backend", BACKENDS[:3])
@pytest.mark.parametrize("window", [1, 4, 50])
def test_a_windowed_samplers_trials_kept_between_batches_are_what_the_study_holds(
    tmp_path, backend, window, request
):
    """``WindowTrials`` reads the window once, then only what changed; after each change of
    the study (trials told, failed, queued, a queued one asked, a running one finished) it
    holds the trials and fields Optuna's own storage gives (``recent_trials`` of
    ``get_all_trials``): number, id, state, values (infinite ones too), parameters,
    distributions, system attributes (TPE's, constraints) and the constraints read from them;
    only the records are left out."""
    from sweeper.study._optuna import WindowTrials, recent_trials

    url = url_of(backend, tmp_path, request)
    study = started_study(url, complete=6)
    storage = storage_at(url)
    study_id = study_id_of(study)
    kept = WindowTrials(storage.inner, study_id, window)

    def sampled(trial):
        return (trial.number, trial._trial_id, trial.state, trial.values, trial.params,
                trial.distributions, trial.system_attrs, trial.datetime_start,
                trial.constraints)

    def check() -> None:
        lean = kept.read()  # their constraints, parsed once, follow a trial that finishes
        full = recent_trials(storage.get_all_trials(study_id), window)
        assert [sampled(t) for t in lean] == [sampled(t) for t in full]
        assert all(t.user_attrs == {} for t in lean)

    check()
    running = study.ask()
    suggest(running)
    failed = study.ask()
    suggest(failed)
    study.tell(failed, state=TrialState.FAIL)
    study.enqueue_trial({"x": 0.5})
    check()
    told = study.ask()  # the queued one
    suggest(told)
    told.set_user_attr("record", {"big": list(range(100))})
    told.set_constraint("min_precision", 0.25)
    study.tell(told, [math.inf, -1.0])
    check()
    study.tell(running, [0.1, 0.2])  # an old running trial finishes
    for _ in range(3):
        trial = study.ask()
        x, rate, n, _, _ = suggest(trial)
        study.tell(trial, [x, rate * n])
    check()
