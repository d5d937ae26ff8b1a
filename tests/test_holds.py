"""The hold points tests use to park a process in a state (sweeper.holds,
tests/support/holds.py)."""

from __future__ import annotations

import threading

import pytest

from sweeper import holds as hold_points
from sweeper.holds import HOLDS_VARIABLE


def test_without_the_variable_a_point_is_passed_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(HOLDS_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    hold_points.reach("training")
    assert list(tmp_path.iterdir()) == []


def test_a_held_point_waits_until_released_and_marks_each_visit(holds, monkeypatch):
    monkeypatch.setenv(HOLDS_VARIABLE, str(holds.folder))
    holds.hold("training")
    passed = threading.Event()

    def visit_twice() -> None:
        hold_points.reach("training")
        hold_points.reach("training")
        passed.set()

    thread = threading.Thread(target=visit_twice, daemon=True)
    thread.start()
    (first,) = holds.wait("training")
    assert not passed.is_set() and thread.is_alive()  # held at the first visit
    holds.release(first)
    second = [visit for visit in holds.wait("training", 2) if visit.n == 2]
    assert len(second) == 1 and not passed.is_set()  # the point is still held
    holds.release_all("training")
    thread.join(timeout=600)  # released: it goes on at once (the timeout ends a hang only)
    assert passed.is_set()
    hold_points.reach("epoch")  # not held: marked and passed
    assert [visit.n for visit in holds.visits("epoch")] == [1]


def test_an_unknown_point_is_a_bug(holds, monkeypatch):
    monkeypatch.setenv(HOLDS_VARIABLE, str(holds.folder))
    with pytest.raises(ValueError, match="unknown hold point 'trianing'"):
        hold_points.reach("trianing")
