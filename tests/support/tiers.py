"""The suite's tiers, as a pytest plugin (``tests/conftest.py`` loads it).

Two marks sort the tests by what they exercise, not by how long they happened to take:

- ``slow``: a test that starts servers or processes, trains a real Keras model on more than a
  toy case, or runs on a database server. Plain ``pytest`` leaves these out (the *fast* tier: a
  developer's check in under two minutes on 2 cores); ``pytest --tier all`` runs everything
  (what CI runs on the default backend).
- ``backend``: a test whose outcome depends on the Keras backend, because it builds, trains or
  scores through a Keras model or computes a loss with Keras's ops. ``pytest --tier backend``
  runs only these (what CI runs again on the second backend, JAX).

The rules below give most marks (by module, by fixture, by parameter); a test outside them
carries the mark itself. A guard keeps ``backend`` honest: a test that builds a Keras layer
in this process without the mark fails, naming the mark it lacks. (It sees layers, hence every
model built or loaded; a test computing Keras ops alone is marked by its module.) A test that
trains only to compare two runs on the same backend (data read two ways, say), whose outcome
holds on any backend, says so with ``@pytest.mark.any_backend("why")`` instead.

Naming test files or folders on the command line runs all their tests, whatever the tier:
``pytest tests/study/test_workers.py`` runs the workers' tests.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

TIERS = ("fast", "all", "backend")

SLOW_FIXTURES = {"postgres", "own_postgres", "mariadb", "processes", "browser", "trained_study",
                 "array_sweep", "binary_sweep"}
"""A test that uses one of these starts servers or processes, or trains a real study."""
SLOW_MODULES = {
    "test_workers", "test_backend", "test_browser", "test_packed", "test_resume",
    "test_logs", "test_optimizers", "test_docs", "test_fit", "test_deferred",
    "test_remedy_study", "test_tiers",
}
"""Modules whose tests (nearly all) train real models or start processes."""
SLOW_PARAMETERS = {"postgresql", "mariadb", "mariadb-no-returning", "gp"}
"""A parametrised case on a database server (or PyTorch's GP) is slow where its SQLite one is
not."""

BACKEND_FIXTURES: set[str] = set()
"""Fixtures whose values a test checks as Keras computed them on the current backend (none: a
test reading a shared trained study checks the report, the export or the command line)."""
BACKEND_MODULES = {
    "test_packed", "test_losses", "test_models", "test_optimizers", "test_deferred",
    "test_deferral_length", "test_inputs", "test_remedy_losses", "test_remedy_study",
    "test_weight_decay",
}
"""Modules about training, losses and models: their tests compute through the backend. Tests
that run the sweeper in other processes check what the processes do (exit codes, messages, the
study they leave), which does not depend on the backend; a test that reads a study trained by a
shared fixture checks the report or the export, not the training."""


def trains(test: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a test that trains real Keras models: ``slow``, and ``backend``."""
    return pytest.mark.backend(pytest.mark.slow(test))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--tier", choices=TIERS, default=None,
        help="fast: leave out tests marked slow (the default when no path is named); all: "
             "every test (the default when paths are named); backend: only the tests marked "
             "backend (what CI runs on the second Keras backend).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: starts servers or processes, or trains real models (left out of the "
                   "fast tier, plain `pytest`)")
    config.addinivalue_line(
        "markers", "backend: its outcome depends on the Keras backend (builds, trains or "
                   "scores through Keras); `--tier backend` runs only these")
    config.addinivalue_line(
        "markers", "any_backend(reason): trains, but compares two runs on one backend, so its "
                   "outcome holds on any (the backend guard lets it be)")


def tier_of(config: pytest.Config) -> str:
    """The tier asked for: ``--tier``, else ``fast`` for a plain ``pytest`` and ``all`` when the
    command line names files or folders."""
    chosen = config.getoption("tier")
    if chosen is not None:
        return chosen
    return "fast" if config.args_source is not pytest.Config.ArgsSource.ARGS else "all"


def _module_name(item: pytest.Item) -> str:
    return item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by the rules above, then keep the tier's tests."""
    for item in items:
        module = _module_name(item)
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        parameters = {str(v) for v in callspec.params.values()} if callspec else set()
        if module in SLOW_MODULES or SLOW_FIXTURES & fixtures or SLOW_PARAMETERS & parameters:
            item.add_marker(pytest.mark.slow)
        if module in BACKEND_MODULES or BACKEND_FIXTURES & fixtures:
            item.add_marker(pytest.mark.backend)

    tier = tier_of(config)
    if tier == "all":
        return
    wanted = "slow" if tier == "fast" else "backend"
    keep = [i for i in items if (i.get_closest_marker(wanted) is None) == (tier == "fast")]
    kept = set(keep)
    dropped = [i for i in items if i not in kept]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str:
    tier = tier_of(config)
    more = {"fast": " (tests marked slow left out; `--tier all` runs them)",
            "backend": " (only tests marked backend)", "all": ""}[tier]
    return f"tier: {tier}{more}"


def _keras_layers_built() -> int:
    """How many Keras layers this process has named so far (each layer takes a name when it is
    built; an optimizer does too, but building one to check the settings computes nothing),
    read without importing Keras."""
    state = sys.modules.get("keras.src.backend.common.global_state")
    if state is None:
        return 0
    uids = state.get_global_attribute("object_name_uids") or {}
    return sum(count for name, count in uids.items() if name not in _optimizer_names())


@functools.cache
def _optimizer_names() -> frozenset[str]:
    import keras
    from keras.src.utils.naming import to_snake_case

    return frozenset(
        to_snake_case(value.__name__) for value in vars(keras.optimizers).values()
        if isinstance(value, type) and issubclass(value, keras.optimizers.Optimizer)
    )


@pytest.fixture(autouse=True)
def _backend_mark_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that builds Keras layers without the ``backend`` mark: on the second
    backend it would be left out although its outcome depends on the backend."""
    before = _keras_layers_built()
    yield
    node = request.node
    if (node.get_closest_marker("backend") is None and node.get_closest_marker("any_backend")
            is None and _keras_layers_built() != before):
        pytest.fail(f"{request.node.nodeid} builds Keras layers: mark it "
                    "@pytest.mark.backend (or add its module to tests/support/tiers.py's "
                    "BACKEND_MODULES)", pytrace=False)
