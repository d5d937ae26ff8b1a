"""The storage contract: the sweeper's storage (``ResilientStorage`` around Optuna's RDB storage
and its cache, as ``open_storage`` builds it) passes Optuna's own storage test cases
(``optuna.testing.pytest_storages.StorageTestCase``, shipped with the installed package), on
SQLite, on a real PostgreSQL server and on a real MariaDB (MySQL) server, each test on a fresh,
empty database."""

from __future__ import annotations

import pickle

import pytest
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.testing.pytest_storages import StorageTestCase

from sweeper.study import ResilientStorage, open_storage

SECOND_PRECISION = {
    "test_create_new_trial[mariadb]", "test_get_trial[mariadb]", "test_get_all_trials[mariadb]",
    "test_create_new_trial_with_template_trial[mariadb-start_time0-complete_time0]",
}
"""Optuna's cases that compare trial timestamps to the microsecond: MySQL's ``DATETIME``
columns, as Optuna creates them, keep whole seconds (Optuna's own behaviour on MySQL; the
sweeper needs no finer times). Expected to fail there, strictly: a change shows."""


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def storage(request, tmp_path) -> BaseStorage:
    if request.node.name in SECOND_PRECISION:
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="MySQL DATETIME keeps whole seconds (Optuna's schema)"))
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
    else:
        fixture = "postgres" if request.param == "postgresql" else request.param
        url = request.getfixturevalue(fixture).create_database()
    opened = open_storage(url, reconnect_timeout=5)
    assert isinstance(opened, ResilientStorage)
    yield opened
    opened.close()


class TestResilientStorage(StorageTestCase):
    """Every test of Optuna's storage contract, run on both backends through the wrapper."""

    def test_pickle_storage(self, storage: BaseStorage) -> None:
        """Optuna's pickling test, which also closes the copy's connections (theirs leaks
        them) and checks that the wrapper's settings survive."""
        study_id = storage.create_new_study(directions=[StudyDirection.MAXIMIZE], study_name="p")
        storage.set_study_system_attr(study_id, "key", "pickle")
        restored = pickle.loads(pickle.dumps(storage))
        try:
            assert isinstance(restored, ResilientStorage)
            assert (restored.url, restored.reconnect_timeout) == (
                storage.url, storage.reconnect_timeout
            )
            assert restored.get_study_system_attrs(study_id) == {"key": "pickle"}
        finally:
            restored.close()
