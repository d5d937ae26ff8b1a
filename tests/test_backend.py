"""TensorFlow only where it trains: without it, a study trains on JAX and report, export and
the dashboard's study loading never need it; without any backend, one line names the extras.

Each case runs the command line in a fresh interpreter whose import system refuses
``tensorflow`` (and ``jax`` where said), as an environment without them would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.support import STUDY_TEMPLATE, make_multilabel_arrays, running_dashboard

BLOCKING_MAIN = textwrap.dedent("""\
    import importlib.abc
    import sys

    BLOCKED = tuple(sys.argv[1].split(","))


    class Missing(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, Missing())
    from sweeper.cli import main

    code = main(sys.argv[2:])
    loaded = [name for name in BLOCKED if name in sys.modules]
    assert not loaded, loaded
    sys.exit(code)
""")


def without(blocked: str, folder: Path, *argv: str) -> subprocess.CompletedProcess:
    script = folder / "blocking_main.py"
    script.write_text(BLOCKING_MAIN)
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    return subprocess.run(
        [sys.executable, str(script), blocked, *argv], capture_output=True, text=True,
        cwd=folder, env=environment, timeout=600,
    )


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    X, y = make_multilabel_arrays()
    np.savez(tmp_path / "small.npz", X=X, y=y)
    path = tmp_path / "study.toml"
    path.write_text(STUDY_TEMPLATE.format(
        name="lean", storage=f"sqlite:///{tmp_path / 'lean.db'}", trials=4, source="small.npz",
        data_extra="folds = 1", epochs=4, pack=2, artifacts=str(tmp_path / "artifacts"),
    ))
    return path


def test_without_tensorflow_a_study_trains_on_jax_and_reports_and_exports(tmp_path, study_file):
    pytest.importorskip("jax")
    run = without("tensorflow", tmp_path, "run", str(study_file), "--quiet")
    assert run.returncode == 0, run.stderr
    assert "training on Keras's JAX backend" in run.stderr
    assert "points on the validation front" in run.stdout
    report = without("tensorflow", tmp_path, "report", str(study_file), "--json", "r.json")
    assert report.returncode == 0, report.stderr
    export = without("tensorflow", tmp_path, "export", str(study_file), "-o", "w.json")
    assert export.returncode == 0, export.stderr
    assert (tmp_path / "r.json").is_file() and (tmp_path / "w.json").is_file()


def test_report_and_export_need_no_backend_at_all(tmp_path, finished_study):
    for argv in (["report", str(finished_study)],
                 ["export", str(finished_study), "-o", str(tmp_path / "w.json")]):
        done = without("tensorflow,jax", tmp_path, *argv)
        assert done.returncode == 0, done.stderr


def test_no_backend_is_one_line_naming_the_extras(tmp_path, study_file):
    done = without("tensorflow,jax", tmp_path, "run", str(study_file), "--quiet")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == ["sweeper: error: no Keras backend is installed: pip install "
                     "'classweight-sweeper[tensorflow]' (or [jax])."]
    assert not (tmp_path / "lean.db").exists()


def test_the_dashboard_and_the_fleet_commands_need_no_backend_at_all(tmp_path, finished_study):
    """The slim image's jobs: the dashboard serves (and is stopped by SIGTERM), the fleet
    configurations are written, with neither TensorFlow nor JAX importable."""
    for argv in (["fleet", "compose", "--gpus", "0,1"],
                 ["fleet", "kubernetes", str(finished_study), "--workers", "2"]):
        done = without("tensorflow,jax", tmp_path, *argv)
        assert done.returncode == 0, done.stderr
    environment = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    launcher = (sys.executable, str(tmp_path / "blocking_main.py"), "tensorflow,jax")
    # Stopped by SIGTERM with code 130; 1 (the script's AssertionError) if a backend was imported.
    with running_dashboard(finished_study, launcher=launcher, cwd=tmp_path,
                           env=environment) as port:
        assert port
