"""Storage: Optuna's RDB storage on any SQLAlchemy URL, with clear errors and trial heartbeats.

Optuna records heartbeats only inside ``study.optimize``; the sweeper drives its studies with
ask/tell in batches, so it keeps the heartbeats of the trials it asked for itself
(:class:`Heartbeat`). A worker that dies stops beating, and any other worker (or the next run)
marks its trials failed once they are older than the grace period.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import optuna
import sqlalchemy.exc
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy.engine import make_url

from sweeper.errors import StorageError

__all__ = ["Heartbeat", "fail_stale_trials", "open_storage", "redact"]

HEARTBEAT_INTERVAL_S = 10
GRACE_PERIOD_S = 60
MAX_RETRY = 2


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and reports."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return url


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_storage(
    url: str,
    *,
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S,
    grace_period: int = GRACE_PERIOD_S,
    max_retry: int = MAX_RETRY,
) -> RDBStorage:
    """Open (and create the tables of) the study database at ``url``.

    The parameters of a trial whose worker died (stale heartbeat) are retried at most
    ``max_retry`` times. A SQLite file's folder is created if missing. A malformed URL, a
    missing driver or an unreachable server raises :class:`StorageError` naming the URL.
    """
    shown = redact(url)
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise StorageError(f"storage {url!r}: not a valid SQLAlchemy URL.") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs={"pool_pre_ping": True},
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
            )
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(
            f"storage {shown}: unknown database dialect or driver."
        ) from None
    except ModuleNotFoundError as error:
        raise StorageError(
            f"storage {shown}: database driver not installed ({error.name})."
        ) from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as error:
        raise StorageError(f"storage {shown}: cannot connect: {_first_line(error)}") from None


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark failed the running trials whose heartbeat is older than the grace period."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


class Heartbeat:
    """Beats for a set of trial ids from a daemon thread while the ``with`` block runs.

    The first beat is recorded on entry, so a trial is never without a heartbeat while it runs.
    """

    def __init__(self, storage: RDBStorage, trial_ids: Iterable[int]) -> None:
        self._storage = storage
        self._trial_ids = list(trial_ids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sweeper-heartbeat", daemon=True)
        interval = storage.get_heartbeat_interval()
        self._interval = float(interval if interval is not None else HEARTBEAT_INTERVAL_S)

    def _beat(self) -> None:
        for trial_id in self._trial_ids:
            self._storage.record_heartbeat(trial_id)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except sqlalchemy.exc.SQLAlchemyError:
                continue  # the database is away; the next beat tries again

    def __enter__(self) -> Heartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
