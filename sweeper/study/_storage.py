"""Storage: Optuna's RDB storage on any SQLAlchemy URL, or its gRPC proxy, with reconnection.

``open_storage(url)`` accepts any SQLAlchemy URL (``sqlite:///...``, ``postgresql+psycopg://...``,
``mysql+pymysql://...``) or ``grpc://HOST:PORT`` for Optuna's gRPC storage proxy
(``sweeper proxy`` runs one in front of the database). It returns a :class:`ResilientStorage`:
every storage call that fails because the database (or proxy) is away is retried with exponential
backoff for up to ``reconnect_timeout`` seconds, then fails with one clear line. A worker thus
rides out a database restart; every trial it finished before or after is in the study.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Container, Iterable
from pathlib import Path
from typing import Any, cast

import optuna
import sqlalchemy
import sqlalchemy.event
import sqlalchemy.exc
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url

from sweeper.config import StudyConfig
from sweeper.errors import StorageError, StorageLostError
from sweeper.study._optuna import (
    count_trials,
    create_trials,
    engine_of,
    finish_trials,
    study_system_attrs_with_prefix,
    trials_with_system_attr,
)

__all__ = ["ResilientStorage", "is_sqlite", "open_storage", "redact"]

FIRST_BACKOFF_S = 0.5
TRANSIENT_STATES = {TrialState.WAITING, TrialState.RUNNING}
ASK_TOKEN_ATTR = "sweeper:ask"
MAX_BACKOFF_S = 10.0


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and reports."""
    if url.startswith("grpc://"):
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _is_connection_error(error: BaseException) -> bool:
    """Errors that mean "the database or proxy is away", as opposed to a bad request.

    Optuna re-raises some driver errors as ``StorageInternalError``, so the causes count too.
    """
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 8:
        if _is_connection_error_itself(current):
            return True
        current, seen = current.__cause__ or current.__context__, seen + 1
    return False


_PERMANENT_OPERATIONAL_ERRORS = ("readonly database", "no such table", "no such column")
"""SQLite reports these as operational errors too, but waiting does not mend them: a read-only
database file, a schema that lacks what a statement needs. They fail at once."""


def _is_connection_error_itself(error: BaseException) -> bool:
    if isinstance(error, sqlalchemy.exc.OperationalError):
        message = str(error.orig or error).lower()
        return not any(marker in message for marker in _PERMANENT_OPERATIONAL_ERRORS)
    if isinstance(error, sqlalchemy.exc.InterfaceError):
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return True
    try:
        import grpc
    except ImportError:  # pragma: no cover - grpc is installed with the proxy extra only
        return False
    if isinstance(error, grpc.RpcError):
        return error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return False


class ResilientStorage(BaseStorage):
    """A storage whose calls survive a database or proxy restart.

    Every method of :class:`optuna.storages.BaseStorage` is forwarded to ``inner``; a call that
    fails with a connection error is retried with backoff (0.5 s doubling to 10 s) until
    ``reconnect_timeout`` seconds have passed, then raises :class:`StorageError`.
    :attr:`recovered_at` is the monotonic time of the last recovery from an outage, so callers
    can hold back judgements (such as "that worker is dead") that an outage would falsify.
    """

    def __init__(self, inner: BaseStorage, url: str, reconnect_timeout: float) -> None:
        self.inner = inner
        self.url = url
        self.reconnect_timeout = reconnect_timeout
        self.recovered_at = float("-inf")
        self._lock = threading.Lock()

    def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        deadline = None
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                result = method(*args, **kwargs)
            except Exception as error:
                if not _is_connection_error(error):
                    raise
                now = time.monotonic()
                deadline = deadline or now + self.reconnect_timeout
                if now >= deadline:
                    # Optuna wraps the driver's error in a misleading "invalid data" one.
                    cause = error.__cause__ or error.__context__ or error
                    raise StorageLostError(
                        f"storage {redact(self.url)}: unreachable for "
                        f"{self.reconnect_timeout:g} s: {_first_line(cause)}"
                    ) from None
                time.sleep(min(backoff, max(deadline - now, 0.0)))
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if deadline is not None:
                with self._lock:
                    self.recovered_at = time.monotonic()
            return result

    def remove_session(self) -> None:
        self.inner.remove_session()

    def count_trials(self, study_id: int) -> dict[TrialState, int]:
        """Trials per state, counted by the database where it can (one query), retried while
        the database is away."""
        counts = self.call(count_trials, self.inner, study_id)
        if counts is None:
            counts = {state: self.call(self.inner.get_n_trials, study_id, state=(state,))
                      for state in (TrialState.COMPLETE, TrialState.RUNNING,
                                    TrialState.WAITING)}
        return counts

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """The study's trials, retried while the database is away. Asked for waiting or
        running trials only (``Study.ask`` looks for waiting ones, the stale-trial check for
        running ones, each time), Optuna's cache would scan every trial of the study; when the
        database counts none in those states, the answer is the empty list at the cost of one
        ``GROUP BY``."""
        # Optuna declares a Container but passes a tuple or list of states.
        listed = cast("Iterable[TrialState] | None", states)
        if listed is not None and set(listed) <= TRANSIENT_STATES:
            counts = self.call(count_trials, self.inner, study_id)
            if counts is not None and not any(counts.get(state) for state in listed):
                return []
        return self.call(self.inner.get_all_trials, study_id, deepcopy=deepcopy, states=states)

    def study_system_attrs_with_prefix(self, study_id: int, prefix: str) -> dict[str, Any]:
        """The study system attributes whose key starts with ``prefix`` (one filtered query
        on a database), retried while the database is away."""
        found = self.call(study_system_attrs_with_prefix, self.inner, study_id, prefix)
        if found is None:
            found = {key: value for key, value in
                     self.call(self.inner.get_study_system_attrs, study_id).items()
                     if key.startswith(prefix)}
        return found

    def create_trials(
        self, study_id: int, templates: list[FrozenTrial]
    ) -> list[tuple[int, int]] | None:
        """Running trials with the ``templates``' parameters, in one transaction: their ids and
        numbers (``None`` where the storage has no transactions: gRPC), retried while the
        database is away. Each trial carries a token (system attribute ``sweeper:ask``): a
        retry first looks for them, so a commit whose answer the outage lost is found instead
        of made twice (the transaction stored all of them or none)."""
        tokens = [uuid.uuid4().hex for _ in templates]
        for template, token in zip(templates, tokens, strict=True):
            template.system_attrs[ASK_TOKEN_ATTR] = token
        attempted = False

        def attempt() -> list[tuple[int, int]] | None:
            nonlocal attempted
            if attempted:
                found = trials_with_system_attr(self.inner, study_id, ASK_TOKEN_ATTR, tokens)
                if found:
                    return [found[token] for token in tokens]
            attempted = True
            return create_trials(self.inner, study_id, templates)

        return self.call(attempt)

    def finish_trials(
        self, finished: list[tuple[int, list[float], dict[str, Any], dict[str, Any]]]
    ) -> list[bool] | None:
        """Trials' attributes, values and completion in one transaction (per trial ``False``
        if it was finished already; ``None`` where the storage has no transactions: gRPC),
        retried while the database is away. A commit whose answer was lost makes the retry
        find every trial finished, as it is."""
        return self.call(finish_trials, self.inner, finished)

    def close(self) -> None:
        """Return the database connections this storage holds (its pool); it stays usable."""
        engine = engine_of(self.inner)
        if engine is not None:
            engine.dispose()

    def __getstate__(self) -> dict[str, Any]:
        # A lock cannot be pickled (Optuna pickles storages for its process-based workers).
        return {key: value for key, value in self.__dict__.items() if key != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _forward(name: str) -> Callable[..., Any]:
    def method(self: ResilientStorage, *args: Any, **kwargs: Any) -> Any:
        return self.call(getattr(self.inner, name), *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of the wrapped storage, retried while the database is away."
    return method


for _name in [
    *sorted(BaseStorage.__abstractmethods__ - {"get_all_trials"}),
    "get_n_trials", "get_trial_id_from_study_id_trial_number", "get_trial_number_from_id",
    "get_trial_param", "get_trial_params", "get_trial_system_attrs", "get_trial_user_attrs",
    "get_best_trial", "check_trial_is_updatable",
]:
    setattr(ResilientStorage, _name, _forward(_name))
ResilientStorage.__abstractmethods__ = frozenset()


def _open_grpc(url: str) -> BaseStorage:
    address = url.removeprefix("grpc://").rstrip("/")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise StorageError(f"storage {url!r}: expected grpc://HOST:PORT.", key="storage")
    try:
        from optuna.storages import GrpcStorageProxy
    except ImportError:  # pragma: no cover
        raise StorageError(f"storage {url}: gRPC support is not installed.") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            proxy = GrpcStorageProxy(host=host, port=int(port))
            proxy.wait_server_ready(timeout=10)
    except ImportError as error:
        raise StorageError(
            f"storage {url}: gRPC support is not installed ({error.name}); "
            'install "classweight-sweeper[grpc]".'
        ) from None
    except Exception as error:  # grpc raises its own future and timeout types
        raise StorageError(f"storage {url}: no gRPC storage proxy answers: {error}") from None
    return proxy


def open_storage(
    url: str,
    *,
    reconnect_timeout: float = StudyConfig.default("reconnect_timeout"),
    read_only: bool = False,
) -> ResilientStorage:
    """Open (and create the tables of) the study storage at ``url``.

    A SQLite file's folder is created if missing. A malformed URL, a missing driver or an
    unreachable server raises :class:`StorageError` naming the URL (password hidden).
    ``read_only`` (report, export, dashboard) creates nothing: a SQLite file that does not exist,
    or a database without Optuna's tables, is an error instead of an empty study storage left
    behind.
    """
    if url.startswith("grpc://"):
        # mypy: the abstract methods are set after the class (_forward), out of its sight.
        return ResilientStorage(_open_grpc(url), url, reconnect_timeout)  # type: ignore[abstract]
    shown = redact(url)
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise StorageError(f"storage {url!r}: not a valid SQLAlchemy URL.") from None
    database = parsed.database or ""  # the SQLite file's path ("" where the URL names none)
    sqlite_file = parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if sqlite_file and read_only and not Path(database).is_file():
        raise StorageError(f"storage {shown}: no such SQLite file; give the storage the sweep "
                           "used.")
    if sqlite_file and not read_only and Path(database).is_file() and not os.access(
        database, os.W_OK
    ):
        raise StorageError(f"storage {shown}: the SQLite file is read-only; a run writes to it.")
    if sqlite_file:
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(
                f"storage {shown}: cannot create the folder of the SQLite file: "
                f"{error.strerror}."
            ) from None
    try:
        if read_only:
            _require_optuna_tables(url, shown)
        rdb = RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(f"storage {shown}: unknown database dialect or driver.") from None
    except ImportError as error:  # Optuna wraps the driver's ModuleNotFoundError in one
        missing = getattr(error.__cause__, "name", None) or error.name or "its module"
        raise StorageError(
            f"storage {shown}: database driver not installed ({missing})."
        ) from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as error:
        raise StorageError(f"storage {shown}: cannot connect: {_first_line(error)}") from None
    if parsed.get_backend_name() == "sqlite":
        _use_write_ahead_log(rdb.engine)
    # Optuna's cache of finished trials in front of the database, as create_study would add.
    # mypy: the abstract methods are set after the class (_forward), out of its sight.
    return ResilientStorage(  # type: ignore[abstract]
        optuna.storages.get_storage(rdb), url, reconnect_timeout
    )


def _require_optuna_tables(url: str, shown: str) -> None:
    """Raise :class:`StorageError` unless the database holds Optuna's ``studies`` table."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            found = sqlalchemy.inspect(connection).has_table("studies")
    finally:
        engine.dispose()
    if not found:
        raise StorageError(f"storage {shown}: holds no Optuna study (no sweep has run there).")


def _use_write_ahead_log(engine: sqlalchemy.engine.Engine) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: a commit no longer waits for the disk,
    readers (report, dashboard) no longer block the writer, and a crashed process still loses
    no committed trial."""

    def configure(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(engine, "connect", configure)
    engine.dispose()  # connections opened while creating the tables predate the listener
