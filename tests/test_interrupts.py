"""Interrupts that land where Python cannot raise them stay quiet and still stop the run."""

from __future__ import annotations

import gc
import sys

import pytest

from sweeper import interrupts


class _RaisesInFinaliser:
    def __del__(self) -> None:
        raise KeyboardInterrupt


def _finalise_one() -> None:
    _RaisesInFinaliser()
    gc.collect()


@pytest.fixture(autouse=True)
def _no_request_left_over():
    interrupts.clear()
    yield
    interrupts.clear()


@pytest.fixture
def reported(monkeypatch):
    """The unraisable exceptions that reach the hook before ours (Python's prints them)."""
    seen: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: seen.append(unraisable.exc_value))
    return seen


def test_a_requested_interrupt_swallowed_by_a_finaliser_is_not_reported_and_check_raises(reported):
    interrupts._requested.set()  # what the signal handler records
    with interrupts.quiet_unraisable():
        _finalise_one()
    assert reported == []
    with pytest.raises(KeyboardInterrupt):
        interrupts.check()


def test_an_interrupt_nobody_requested_is_still_reported(reported):
    with interrupts.quiet_unraisable():
        _finalise_one()
    assert len(reported) == 1 and isinstance(reported[0], KeyboardInterrupt)
    interrupts.check()  # nothing was requested: no exception


def test_the_previous_hook_is_back_after_the_block():
    before = sys.unraisablehook
    with interrupts.quiet_unraisable():
        assert sys.unraisablehook is not before
    assert sys.unraisablehook is before
