"""The notebooks in ``examples/`` run as written: each executes top to bottom in a fresh Jupyter
kernel (this virtualenv's Python, through nbclient), in an empty folder (its studies land in that
folder's ``.sweeper/``), as a newcomer runs it. The committed copies hold no outputs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))

EXPECTED = {
    "quickstart.ipynb": {
        "exports": {
            "churn-weights.json": ("binary", ["churn"]),
            "topics-weights.json": ("multilabel", ["news", "sport", "music", "science",
                                                   "poetry"]),
        },
        "studies": 2,
        "printed": ["binary, positive label 'churn'",   # result.info.describe_task()
                    "points on the validation front",   # print(result.report())'s title
                    "same document: True"],             # load_export read back the export
    },
}
"""What each notebook leaves in its folder (export files: their task and labels; studies) and
prints."""

CHECK = "import sys, sweeper\nprint(sys.executable)\nprint(sweeper.__file__)"
"""A cell appended to the copy that runs: which Python ran the kernel, which sweeper it saw."""


def test_the_examples_hold_notebooks():
    assert NOTEBOOKS, f"no notebook in {EXAMPLES}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_a_notebook_is_committed_without_outputs(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    dirty = [
        index for index, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: code cells {dirty} hold outputs; clear them before committing"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_a_notebook_runs_as_written(path, tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="the docs extra runs the notebooks")
    nbclient = pytest.importorskip("nbclient", reason="the docs extra runs the notebooks")

    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECK))
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SWEEPER_LOG_LEVEL": "warning"}
    # "python3" is ipykernel's own kernel spec; jupyter_client starts it with sys.executable.
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working folder
    )
    client.execute(env=environment)  # raises CellExecutionError on a cell's error

    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors
    printed = "".join(output.text for output in notebook.cells[-1].outputs
                      if output.output_type == "stream" and output.name == "stdout")
    assert printed.splitlines() == [sys.executable, str(ROOT / "sweeper" / "__init__.py")]

    assert list((tmp_path / ".sweeper").glob("*.db")), "the notebook ran no study here"
    expected = EXPECTED.get(path.name)
    if expected is None:
        return
    for name, (task, labels) in expected["exports"].items():
        document = json.loads((tmp_path / name).read_text(encoding="utf-8"))
        assert (document["task"], document["labels"]) == (task, labels), name
        weights = document["pos_weight"]  # a number for binary, one per label for multi-label
        assert isinstance(weights, float) if task == "binary" else len(weights) == len(labels)
        for split in ("validation", "test"):
            assert 0 <= document["metrics"][split]["recall"] <= 1, (name, split)
    assert len(list((tmp_path / ".sweeper").glob("*.db"))) == expected["studies"]
    text = "".join(output.get("text", "") for cell in notebook.cells
                   if cell.cell_type == "code" for output in cell.outputs)
    for line in expected["printed"]:
        assert line in text
