"""The sweeper's log at each level, and files written with the modes the umask gives."""

from __future__ import annotations

import os
import re
import stat

import pytest

from sweeper import logs
from sweeper.cli import main
from tests.support.tiers import trains

TIMESTAMPED = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|DEBUG|ERROR)\] ")


@pytest.fixture(autouse=True)
def restore_level():
    yield
    logs.set_level("info")


def export(capsys, finished_study, tmp_path, *extra: str) -> list[str]:
    code = main(["export", str(finished_study), "-o", str(tmp_path / "w.json"), *extra])
    assert code == 0
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize(("level", "shown"), [("debug", True), ("info", True),
                                              ("warning", False), ("error", False)])
def test_each_level_shows_what_it_should(level, shown, capsys, finished_study, tmp_path,
                                         monkeypatch):
    monkeypatch.delenv(logs.LEVEL_VARIABLE, raising=False)
    lines = export(capsys, finished_study, tmp_path, "--log-level", level)
    assert bool(lines) == shown
    if shown:  # "no rule given: ..." and "wrote ...", each one timestamped line
        assert len(lines) == 2 and all(TIMESTAMPED.match(line) for line in lines)
        assert "wrote" in lines[-1] and "INFO" in lines[-1]


def test_the_environment_sets_the_level_and_the_flag_overrides_it(
    capsys, finished_study, tmp_path, monkeypatch
):
    monkeypatch.setenv(logs.LEVEL_VARIABLE, "WARNING")
    assert export(capsys, finished_study, tmp_path) == []
    assert len(export(capsys, finished_study, tmp_path, "--log-level", "info")) == 2


@trains
def test_a_run_logs_a_line_per_batch(tmp_path, capsys, write_study, multilabel_npz):
    path = write_study(trials=4, pack=2)
    assert main(["run", str(path), "--quiet"]) == 0
    err = capsys.readouterr().err
    batches = [line for line in err.splitlines() if "batch of 2 trials in" in line]
    assert len(batches) == 2 and all(TIMESTAMPED.match(line) for line in batches)
    assert "4 of 4 complete; best validation F1 so far" in batches[-1]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(umask, mode, finished_study, tmp_path, capsys):
    previous = os.umask(umask)
    try:
        assert main(["export", str(finished_study), "-o", str(tmp_path / "w.json")]) == 0
        assert main(["report", str(finished_study), "--json", str(tmp_path / "r.json")]) == 0
    finally:
        os.umask(previous)
    for name in ("w.json", "r.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_an_export_through_a_symlink_replaces_the_file_it_names(finished_study, tmp_path):
    target = tmp_path / "real.json"
    target.write_text("{}")
    (tmp_path / "link.json").symlink_to(target)
    assert main(["export", str(finished_study), "-o", str(tmp_path / "link.json")]) == 0
    assert (tmp_path / "link.json").is_symlink()
    assert '"schema_version"' in target.read_text()
