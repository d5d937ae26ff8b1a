"""The tiers plugin (tests/support/tiers.py) on a suite of its own, run by pytest in another
process: plain ``pytest`` leaves the slow tests out, naming a file runs all of it, ``--tier
backend`` keeps the backend tests, and the guard fails a test that builds a Keras layer without
the ``backend`` mark (an optimizer alone is no layer)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import pytest

@pytest.mark.slow
def test_slow():
    pass

@pytest.mark.backend
def test_backend():
    import keras
    keras.layers.Dense(2)

def test_quick():
    pass

def test_builds_a_layer_unmarked():
    import keras
    keras.layers.Dense(2)

def test_builds_an_optimizer_only():
    import keras
    keras.optimizers.Adam()
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    pytester.makeconftest('pytest_plugins = ["tests.support.tiers"]')
    pytester.makeini("[pytest]\ntestpaths = tests_here\n")
    (pytester.mkdir("tests_here") / "test_suite.py").write_text(SUITE)
    return pytester


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """Each test's outcome as ``-rA`` lists it (an error in its teardown is its failure)."""
    found: dict[str, str] = {}
    for line in result.outlines:
        match = re.match(r"(PASSED|FAILED|ERROR) tests_here/test_suite.py::(\w+)", line)
        if match:
            outcome = "passed" if match[1] == "PASSED" else "failed"
            if found.get(match[2]) != "failed":
                found[match[2]] = outcome
    return found


def test_plain_pytest_runs_the_fast_tier_and_the_guard_names_the_missing_mark(suite):
    result = suite.runpytest_subprocess("-rA", "-p", "no:cacheprovider")
    assert outcomes(result) == {
        "test_backend": "passed", "test_quick": "passed",
        "test_builds_a_layer_unmarked": "failed", "test_builds_an_optimizer_only": "passed",
    }
    result.stdout.fnmatch_lines([
        "tier: fast (tests marked slow left out; `--tier all` runs them)",
        "*test_builds_a_layer_unmarked builds Keras layers: mark it @pytest.mark.backend*",
        "*1 deselected*",
    ])


def test_naming_a_file_runs_all_of_it_and_backend_keeps_the_backend_tests(suite):
    named = suite.runpytest_subprocess("-rA", "-p", "no:cacheprovider",
                                       "tests_here/test_suite.py", "-k", "not unmarked")
    assert set(outcomes(named)) == {"test_slow", "test_backend", "test_quick",
                                    "test_builds_an_optimizer_only"}
    backend = suite.runpytest_subprocess("-rA", "-p", "no:cacheprovider", "--tier", "backend")
    assert outcomes(backend) == {"test_backend": "passed"}
