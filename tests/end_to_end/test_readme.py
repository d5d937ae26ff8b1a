"""README's examples run as written: each listed section's Python blocks, in a fresh process in
an empty folder (its studies land in that folder's ``.sweeper/``), as a newcomer pastes them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
RUNNABLE = {
    "Python API (notebooks and scripts)": [1],   # the binary example (block 0 is a sketch)
    "Images, sequences and token ids": [0, 1],
    "Your own training step": [0],
}
"""Sections and the indexes of their Python blocks that are whole programs."""


def python_blocks(section: str) -> list[str]:
    """The ```python blocks under the heading ``section``, up to the next heading."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^#+ {re.escape(section)}\n(.*?)(?=^#+ |\Z)", text, re.M | re.S)
    assert match, f"README has no section {section!r}"
    return re.findall(r"^```python\n(.*?)^```", match.group(1), re.M | re.S)


EXAMPLES = [(section, index) for section, indexes in RUNNABLE.items() for index in indexes]


@pytest.mark.parametrize(("section", "index"), EXAMPLES,
                         ids=[f"{section}-{index}" for section, index in EXAMPLES])
def test_a_readme_example_runs_as_written(section, index, tmp_path):
    blocks = python_blocks(section)
    assert len(blocks) > index, f"README's {section!r} has no Python example {index}"
    environment = {**os.environ, "PYTHONPATH": str(README.parent), "SWEEPER_LOG_LEVEL": "warning"}
    ran = subprocess.run([sys.executable, "-c", blocks[index]], cwd=tmp_path,
                         capture_output=True, text=True, env=environment, timeout=900)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "Traceback" not in ran.stderr
    assert list((tmp_path / ".sweeper").glob("*.db"))  # it ran a study
