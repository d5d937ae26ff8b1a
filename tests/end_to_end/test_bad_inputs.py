"""The hostile user's pass: bad inputs of every class, each one a clean refusal.

Each case writes its files into a fresh folder, runs the command line in-process, and asserts the
contract: the expected exit code, exactly one stderr line ``sweeper: error: ...`` naming the
problem, no traceback (an exception escaping ``main`` fails the test), and no file created,
changed or deleted in the folder (no study database either). Real parsing, real data loading,
real Keras models for the factory cases, real SQLite and PostgreSQL URLs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from sweeper.cli import main
from sweeper.config import load_study_file
from tests.support import STUDY_TEMPLATE, make_multiclass_arrays, make_multilabel_arrays

Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One bad input: the files it needs, the command, and what the one error line says."""

    id: str
    argv: tuple[str, ...]
    message: str
    setup: tuple[Setup, ...] = ()
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- files


def study(**values: object) -> Setup:
    """``study.toml`` from the shared template (multi-label ``small.npz``), with overrides."""

    def write(folder: Path) -> None:
        fields = {
            "name": "bad", "storage": f"sqlite:///{folder / 'study.db'}", "trials": 4,
            "source": "small.npz", "data_extra": "", "epochs": 3, "pack": 2,
            "artifacts": str(folder / "artifacts"),
        }
        fields.update(values)
        (folder / "study.toml").write_text(STUDY_TEMPLATE.format(**fields))

    return write


def study_text(text: str) -> Setup:
    def write(folder: Path) -> None:
        (folder / "study.toml").write_text(textwrap.dedent(text))

    return write


def study_with(section: str, line: str, **values: object) -> Setup:
    """The template with ``line`` added at the end of ``[section]``."""

    def write(folder: Path) -> None:
        study(**values)(folder)
        path = folder / "study.toml"
        text = path.read_text()
        marker = f"[{section}]\n"
        path.write_text(text.replace(marker, f"{marker}{line}\n", 1))

    return write


def study_replace(old: str, new: str, **values: object) -> Setup:
    """The template with one of its lines replaced."""

    def write(folder: Path) -> None:
        study(**values)(folder)
        path = folder / "study.toml"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))

    return write


def npz(name: str = "small.npz", change: Callable[[np.ndarray, np.ndarray], tuple] | None = None,
        **extra: object) -> Setup:
    def write(folder: Path) -> None:
        X, y = make_multilabel_arrays()
        if change is not None:
            X, y = change(X, y)
        np.savez(folder / name, X=X, y=y, **extra)

    return write


def classes_npz(change: Callable[[np.ndarray, np.ndarray], tuple] | None = None,
                **extra: object) -> Setup:
    def write(folder: Path) -> None:
        X, y = make_multiclass_arrays()
        if change is not None:
            X, y = change(X, y)
        np.savez(folder / "small.npz", X=X, y=y, **extra)

    return write


def raw_file(name: str, content: str | bytes) -> Setup:
    def write(folder: Path) -> None:
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return write


def csv_study(**keys: str) -> Setup:
    """A study of ``data.csv`` with the given ``[data]`` keys (TOML values)."""
    lines = "\n".join(f"{key} = {value}" for key, value in keys.items())
    return study(source="data.csv", data_extra=lines)


GOOD_CSV = "a,b,y\n" + "".join(f"{i % 7},{i % 5},{int(i % 4 == 0)}\n" for i in range(200))


def factory_module(name: str, body: str) -> Setup:
    return raw_file(f"{name}.py", "import keras\nfrom keras import ops\n\n"
                    + textwrap.dedent(body))


def set_item(array_name: str, index: tuple, value: float):
    def change(X, y):
        target = X if array_name == "X" else y
        target[index] = value
        return X, y

    return change


def finished_copy(folder: Path) -> None:
    """The session's finished study (6 trials), copied with its data and study file."""
    source_file = _FINISHED["path"]
    storage = load_study_file(source_file).config.study.storage
    source = sqlite3.connect(storage.removeprefix("sqlite:///"))
    target = sqlite3.connect(folder / "study.db")
    source.backup(target)
    source.close()
    target.close()
    shutil.copy(source_file.parent / "small.npz", folder / "small.npz")
    study(name="small", trials=6, epochs=4)(folder)


_FINISHED: dict[str, Path] = {}

S = "{study}"
F = "{folder}"

# ----------------------------------------------------------------------------- cases

STUDY_FILE_CASES = [
    Case("missing-study-file", ("run", "nothere.toml"), "nothere.toml: study file not found"),
    Case("toml-syntax", ("run", S), "study.toml", (study_text("[study\nname = 1"),)),
    Case("unknown-key", ("run", S), "[model] epochz: unknown key",
         (npz(), study_with("model", "epochz = 3"))),
    Case("unknown-table", ("run", S), "modle", (npz(), study_with("search", "[modle]"))),
    Case("epochs-zero", ("run", S), "[model] epochs: expected an integer >= 1",
         (npz(), study(epochs=0))),
    Case("epochs-text", ("run", S), "[model] epochs: expected", (npz(), study(epochs="'ten'"))),
    Case("learning-rate-negative", ("run", S), "[model] learning_rate",
         (npz(), study_replace("learning_rate = 0.01", "learning_rate = -1"))),
    Case("patience-negative", ("run", S), "[model] patience",
         (npz(), study_with("model", "patience = -1"))),
    Case("hidden-zero", ("run", S), "[model] hidden",
         (npz(), study_replace("hidden = [16]", "hidden = [0]"))),
    Case("validation-fraction", ("run", S), "[data] validation_fraction",
         (npz(), study_replace("validation_fraction = 0.25", "validation_fraction = 1.5"))),
    Case("fractions-sum", ("run", S), "validation_fraction + test_fraction < 1",
         (npz(), study_replace("test_fraction = 0.25", "test_fraction = 0.8"))),
    Case("duplicate-key", ("run", S), "study.toml",
         (npz(), study_with("model", "epochs = 5"))),
    Case("trials-zero", ("run", S), "[study] trials: expected an integer from 1 to",
         (npz(), study(trials=0))),
    Case("sampler-unknown", ("run", S), "[study] sampler",
         (npz(), study_with("study", 'sampler = "random"'))),
    Case("folds-zero", ("run", S), "[data] folds", (npz(), study_with("data", "folds = 0"))),
    Case("standardize-text", ("run", S), "[data] standardize: expected true or false",
         (npz(), study_with("data", 'standardize = "yes"'))),
    Case("range-reversed", ("run", S), "[search] multiplier",
         (npz(), study_with("search", "multiplier = [4.0, 0.25]"))),
    Case("family-unknown", ("run", S), "[search] families",
         (npz(), study_with("search", 'families = ["focal"]'))),
    Case("remedy-unknown", ("run", S), "[search] remedies",
         (npz(), study_with("search", 'remedies = ["weights", "smote"]'))),
    Case("remedy-range-without-remedy", ("run", S),
         "[search] gamma: `gamma` applies to the 'focal' remedy",
         (npz(), study_with("search", "gamma = [1.0, 2.0]"))),
    Case("remedy-switch-at-the-end", ("run", S), "[search] switch_fraction",
         (npz(), study_with("search", 'remedies = ["deferred"]\nswitch_fraction = [0.5, 1.0]'))),
    Case("missing-source", ("run", S), "[data] source",
         (study_text('[study]\nname = "x"\ntrials = 2\n[data]\nseed = 0\n'),)),
    Case("missing-study-table", ("run", S), "[study]",
         (study_text('[data]\nsource = "small.npz"\n'),)),
    Case("key-of-other-task", ("run", S), "cost_matrix",
         (npz(), study_with("search", "cost_matrix = [[0, 1], [1, 0]]"))),
    Case("min-precision-above-one", ("run", S), "[study] min_precision",
         (npz(), study_with("study", "min_precision = 1.5"))),
    Case("seed-beyond-32-bits", ("run", S), "[data] seed: expected an integer from 0 to",
         (npz(), study_replace("seed = 0", "seed = 99999999999"))),
    Case("sampler-seed-beyond-32-bits", ("run", S), "[study] sampler_seed",
         (npz(), study_with("study", "sampler_seed = 4294967296"))),
    Case("trials-beyond-sense", ("run", S), "[study] trials: expected an integer from 1 to",
         (npz(), study(trials=99999999999999))),
    Case("study-name-too-long", ("run", S), "[study] name: expected a non-empty name of at most",
         (npz(), study(name="x" * 600))),
    Case("study-name-blank", ("run", S), "[study] name", (npz(), study(name="   "))),
    Case("hidden-huge", ("run", S), "[model] hidden",
         (npz(), study_replace("hidden = [16]", "hidden = [100000000000]"))),
    Case("factory-not-a-reference", ("run", S),
         "[model] factory: expected \"package.module:function\"",
         (npz(), study_replace("hidden = [16]", 'factory = "models.build"'))),
]

DATA_CASES = [
    Case("data-file-missing", ("run", S), "small.npz: data file not found", (study(),)),
    Case("data-extension", ("run", S), "unsupported data file type",
         (raw_file("data.txt", "1,2\n"), study(source="data.txt"))),
    Case("nan-feature", ("run", S), "features contain NaN or inf",
         (npz(change=set_item("X", (10, 2), np.nan)), study())),
    Case("inf-feature", ("run", S), "features contain NaN or inf",
         (npz(change=set_item("X", (0, 0), np.inf)), study())),
    Case("float32-overflow", ("run", S), "beyond float32's range",
         (npz(change=lambda X, y: (X.astype(np.float64) * [[1e40, 1, 1, 1, 1]], y)), study())),
    Case("lengths-differ", ("run", S), "X and y have different lengths",
         (npz(change=lambda X, y: (X[:-1], y)), study())),
    Case("label-not-binary", ("run", S), "has values other than 0 and 1",
         (npz(change=set_item("y", (3, 1), 2)), study())),
    Case("label-without-positive", ("run", S), "label 'label_2' has no positive sample",
         (npz(change=lambda X, y: (X, np.where(np.arange(4) == 2, 0, y))), study())),
    Case("label-without-negative", ("run", S), "label 'label_1' has no negative sample",
         (npz(change=lambda X, y: (X, np.where(np.arange(4) == 1, 1, y))), study())),
    Case("one-class", ("run", S), "one class only",
         (classes_npz(change=lambda X, y: (X, np.zeros_like(y))), study())),
    Case("npz-without-y", ("run", S), "no array named 'y'",
         (raw_file("x.tmp", ""), lambda f: np.savez(f / "small.npz", X=np.ones((9, 2))),
          study())),
    Case("npz-corrupt", ("run", S), "cannot read .npz file",
         (raw_file("small.npz", b"PK\x03\x04 not really a zip"), study())),
    Case("npz-label-count", ("run", S), "'labels' names 3 labels, y has 4",
         (npz(labels=np.array(["a", "b", "c"])), study())),
    Case("npz-duplicate-labels", ("run", S), "label name 'a' appears more than once",
         (npz(labels=np.array(["a", "b", "a", "d"])), study())),
    Case("npz-features-1d", ("run", S), "features must be an array of shape (rows, ...)",
         (npz(change=lambda X, y: (X[:, 0], y)), study())),
    Case("npz-y-3d", ("run", S), "y must be 1-D",
         (npz(change=lambda X, y: (X, y[:, :, None])), study())),
    Case("multiclass-fractional-ids", ("run", S), "which is no class id",
         (classes_npz(change=lambda X, y: (X, y + 0.5)), study())),
    Case("too-few-rows", ("run", S), "rows are too few to split",
         (npz(change=lambda X, y: (X[:2], np.array([[1, 0, 1, 0], [0, 1, 0, 1]]))), study())),
    Case("csv-empty", ("run", S), "CSV file is empty",
         (raw_file("data.csv", ""), csv_study(label_column='"y"'))),
    Case("csv-header-only", ("run", S), "a header but no data rows",
         (raw_file("data.csv", "a,b,y\n"), csv_study(label_column='"y"'))),
    Case("csv-duplicate-columns", ("run", S), "names column 'a' 2 times",
         (raw_file("data.csv", "a,a,y\n1,2,0\n3,4,1\n"), csv_study(label_column='"y"'))),
    Case("csv-label-as-feature", ("run", S), "column 'y' is both a label and a feature",
         (raw_file("data.csv", GOOD_CSV),
          csv_study(label_column='"y"', feature_columns='["a", "y"]'))),
    Case("csv-unknown-label", ("run", S), "no column named 'label'",
         (raw_file("data.csv", GOOD_CSV), csv_study(label_column='"label"'))),
    Case("csv-not-a-number", ("run", S), "column 'b', line 3: not a number: 'x'",
         (raw_file("data.csv", "a,b,y\n1,2,0\n1,x,1\n"), csv_study(label_column='"y"'))),
    Case("csv-ragged", ("run", S), "line 3 has 2 fields, the header has 3",
         (raw_file("data.csv", "a,b,y\n1,2,0\n1,1\n"), csv_study(label_column='"y"'))),
    Case("csv-not-utf8", ("run", S), "not UTF-8 text",
         (raw_file("data.csv", "a,b,y\n1,2,\xe9\n".encode("latin-1")),
          csv_study(label_column='"y"'))),
    Case("csv-no-label-key", ("run", S), "a CSV source needs [data] label_columns",
         (raw_file("data.csv", GOOD_CSV), csv_study())),
    Case("csv-both-label-keys", ("run", S), "cannot both be set",
         (raw_file("data.csv", GOOD_CSV),
          csv_study(label_column='"y"', label_columns='["y"]'))),
    Case("csv-multilabel-not-binary", ("run", S), "label 'y' has values other than 0 and 1",
         (raw_file("data.csv", "a,y\n1,0\n2,3\n"), csv_study(label_columns='["y"]'))),
    Case("csv-key-with-npz", ("run", S), "[data] feature_columns applies to CSV files only",
         (npz(), study(data_extra='feature_columns = ["a"]'))),
    Case("complex-features", ("run", S), "features are complex numbers",
         (npz(change=lambda X, y: (X.astype(np.complex64), y)), study())),
    Case("csv-blank-column-name", ("run", S), "column 2 of the header has no name",
         (raw_file("data.csv", "a,,y\n1,2,0\n3,4,1\n"), csv_study(label_column='"y"'))),
    Case("nothing-evaluable", ("run", S), "can be evaluated",
         (raw_file("data.csv", "a,y\n" + "".join(f"{i},{int(i == 7)}\n" for i in range(200))),
          csv_study(label_columns='["y"]', folds="1"))),
    Case("cost-matrix-overflow", ("run", S), "[search] cost_matrix",
         (classes_npz(), study_replace("threshold = [0.05, 0.95]",
                                       'class_weighting = ["cost_matrix"]\ncost_matrix = '
                                       "[[0, 1e300, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1], "
                                       "[1, 1, 1, 0]]"))),
    Case("builtin-unknown", ("run", S), "unknown built-in data set 'nope'",
         (study(source="builtin:nope"),)),
]

FACTORY_CASES = [
    Case("factory-module-missing", ("run", S), "cannot import module 'no_such_models'",
         (npz(), study_replace("hidden = [16]", 'factory = "no_such_models:build"'))),
    Case("factory-syntax-error", ("run", S), "importing module 'broken_syntax' raised SyntaxError",
         (npz(), factory_module("broken_syntax", "def build(:\n    pass\n"),
          study_replace("hidden = [16]", 'factory = "broken_syntax:build"'))),
    Case("factory-raises-at-import", ("run", S), "raised RuntimeError: no GPU here",
         (npz(), factory_module("raises_at_import", "raise RuntimeError('no GPU here')\n"),
          study_replace("hidden = [16]", 'factory = "raises_at_import:build"'))),
    Case("factory-no-function", ("run", S), "module 'no_function' has no function 'build'",
         (npz(), factory_module("no_function", "X = 1\n"),
          study_replace("hidden = [16]", 'factory = "no_function:build"'))),
    Case("factory-raises-when-called", ("run", S), "build((5,), 4) raised ValueError: bad width",
         (npz(), factory_module("raises_called", "def build(n, k):\n    raise ValueError("
                                "'bad width')\n"),
          study_replace("hidden = [16]", 'factory = "raises_called:build"'))),
    Case("factory-exits", ("run", S), "build((5,), 4) raised SystemExit: 3",
         (npz(), factory_module("exits_called", "import sys\n\ndef build(n, k):\n"
                                "    sys.exit(3)\n"),
          study_replace("hidden = [16]", 'factory = "exits_called:build"'))),
    Case("factory-exits-at-import", ("run", S), "raised SystemExit",
         (npz(), factory_module("exits_at_import", "import sys\nsys.exit(1)\n"),
          study_replace("hidden = [16]", 'factory = "exits_at_import:build"'))),
    Case("factory-not-a-model", ("run", S), "returned dict, not a keras.Model",
         (npz(), factory_module("returns_dict", "def build(n, k):\n    return {}\n"),
          study_replace("hidden = [16]", 'factory = "returns_dict:build"'))),
    Case("factory-wrong-outputs", ("run", S), "output must have shape (batch, 4) logits",
         (npz(), factory_module("wrong_outputs", """\
            def build(n, k):
                return keras.Sequential([keras.Input((n,)), keras.layers.Dense(k + 1)])
            """), study_replace("hidden = [16]", 'factory = "wrong_outputs:build"'))),
    Case("factory-sigmoid", ("run", S), "must output logits, but its last layer has a sigmoid",
         (npz(), factory_module("sigmoid_out", """\
            def build(n, k):
                return keras.Sequential([keras.Input((n,)),
                                         keras.layers.Dense(k, activation="sigmoid")])
            """), study_replace("hidden = [16]", 'factory = "sigmoid_out:build"'))),
    Case("factory-softmax", ("run", S), "must output logits, but its last layer has a softmax",
         (npz(), factory_module("softmax_out", """\
            def build(n, k):
                return keras.Sequential([keras.Input((n,)), keras.layers.Dense(8),
                                         keras.layers.Dense(k, activation="softmax")])
            """), study_replace("hidden = [16]", 'factory = "softmax_out:build"'))),
    Case("factory-squashed", ("run", S), "outputs all lie in [0, 1]",
         (npz(), factory_module("squashed", """\
            def build(n, k):
                inputs = keras.Input((n,))
                return keras.Model(inputs, ops.sigmoid(keras.layers.Dense(k)(inputs)))
            """), study_replace("hidden = [16]", 'factory = "squashed:build"'))),
    Case("factory-fails-on-data", ("run", S), "fails on a batch of shape",
         (npz(), factory_module("wrong_inputs", """\
            def build(n, k):
                return keras.Sequential([keras.Input((n + 3,)), keras.layers.Dense(k)])
            """), study_replace("hidden = [16]", 'factory = "wrong_inputs:build"'))),
]

STORAGE_CASES = [
    Case("storage-not-a-url", ("run", S), "not a valid SQLAlchemy URL",
         (npz(), study(storage="not a url"))),
    Case("storage-unknown-dialect", ("run", S), "unknown database dialect or driver",
         (npz(), study(storage="nosuchdb://x/y"))),
    Case("storage-driver-missing", ("run", S), "database driver not installed",
         (npz(), study(storage="mysql+mysqldb://user@127.0.0.1/db"))),
    Case("storage-sqlite-folder", ("run", S), "cannot create the folder of the SQLite file",
         (npz(), study(storage="sqlite:////proc/no/such/folder/s.db"))),
    Case("storage-unreachable", ("run", S), "cannot connect",
         (npz(), study(storage="postgresql+psycopg://nobody@127.0.0.1:9/none"))),
    Case("storage-grpc-malformed", ("run", S), "expected grpc://HOST:PORT",
         (npz(), study(storage="grpc://nohost"))),
    Case("report-missing-sqlite", ("report", S), "no such SQLite file", (npz(), study())),
    Case("export-missing-sqlite", ("export", S, "-o", "w.json"), "no such SQLite file",
         (npz(), study())),
    Case("dashboard-missing-sqlite", ("dashboard", S), "no such SQLite file", (npz(), study())),
    Case("report-unknown-study", ("report", S), "no study named 'other'",
         (finished_copy, study(name="other", trials=6, epochs=4))),
    Case("report-storage-flag", ("report", S, "--storage", "bad url"),
         "storage 'bad url': not a valid SQLAlchemy URL",
         (finished_copy,)),
    Case("env-storage-bad", ("report", S), "not a valid SQLAlchemy URL",
         (finished_copy,), env={"SWEEPER_STORAGE": "bad url"}),
]

COMMAND_LINE_CASES = [
    Case("no-command", (), "the following arguments are required: COMMAND"),
    Case("unknown-command", ("sweep", S), "invalid choice: 'sweep'"),
    Case("run-without-study", ("run",), "the following arguments are required: STUDY.toml"),
    Case("unknown-option", ("run", S, "--trails", "5"), "unrecognized arguments: --trails",
         (npz(), study())),
    Case("trials-zero-flag", ("run", S, "--trials", "0"), "--trials", (npz(), study())),
    Case("trials-text-flag", ("run", S, "--trials", "many"), "--trials", (npz(), study())),
    Case("trials-negative-flag", ("run", S, "--trials", "-3"), "--trials", (npz(), study())),
    Case("workers-zero", ("run", S, "--workers", "0"), "expected an integer >= 1",
         (npz(), study())),
    Case("gpus-letters", ("run", S, "--gpus", "a,b"), "expected GPU ids", (npz(), study())),
    Case("gpus-repeated", ("run", S, "--gpus", "0,0"), "each GPU id once", (npz(), study())),
    Case("workers-on-sqlite", ("run", S, "--workers", "2"), "SQLite", (npz(), study())),
    Case("log-level-bad", ("run", S, "--log-level", "loud"), "--log-level", (npz(), study())),
    Case("log-level-env-bad", ("report", S), "$SWEEPER_LOG_LEVEL",
         (finished_copy,), env={"SWEEPER_LOG_LEVEL": "loud"}),
    Case("dashboard-port-zero", ("dashboard", S, "--port", "0"),
         "expected an integer from 1 to 65535, got '0'", (finished_copy,)),
    Case("dashboard-port-high", ("dashboard", S, "--port", "70000"),
         "expected an integer from 1 to 65535", (finished_copy,)),
    Case("proxy-port-text", ("proxy", S, "--port", "http"), "expected an integer from 1 to 65535",
         (finished_copy,)),
    Case("export-fbeta-inf", ("export", S, "--best-fbeta", "inf", "-o", "w.json"),
         "expected a finite number > 0, got 'inf'", (finished_copy,)),
    Case("export-fbeta-negative", ("export", S, "--best-fbeta", "-1", "-o", "w.json"),
         "expected a finite number > 0", (finished_copy,)),
    Case("export-fbeta-nan", ("export", S, "--best-fbeta", "nan", "-o", "w.json"),
         "expected a finite number > 0", (finished_copy,)),
    Case("export-trial-negative", ("export", S, "--trial", "-1", "-o", "w.json"),
         "expected an integer >= 0", (finished_copy,)),
    Case("export-without-output", ("export", S), "the following arguments are required: -o",
         (finished_copy,)),
    Case("export-two-rules", ("export", S, "--trial", "0", "--min-recall", "0.5", "-o", "w.json"),
         "not allowed with argument", (finished_copy,)),
    Case("export-min-precision-high", ("export", S, "--min-precision", "2", "-o", "w.json"),
         "--min-precision", (finished_copy,)),
    Case("export-unknown-baseline", ("export", S, "--baseline", "nope", "-o", "w.json"),
         "nope", (finished_copy,)),
    Case("export-unknown-trial", ("export", S, "--trial", "999", "-o", "w.json"), "999",
         (finished_copy,)),
    Case("export-to-nothing", ("export", S, "-o", ""), "no file name given",
         (finished_copy,)),
    Case("export-to-a-folder", ("export", S, "-o", F), "is a folder", (finished_copy,)),
    Case("export-to-a-pipe", ("export", S, "-o", "pipe.json"), "not a regular file",
         (finished_copy, lambda folder: os.mkfifo(folder / "pipe.json"))),
    Case("report-json-to-a-pipe", ("report", S, "--json", "pipe.json"), "not a regular file",
         (finished_copy, lambda folder: os.mkfifo(folder / "pipe.json"))),
    Case("export-into-missing-folder", ("export", S, "-o", "no/such/folder/w.json"),
         "cannot write", (finished_copy,)),
]

CASES = STUDY_FILE_CASES + DATA_CASES + FACTORY_CASES + STORAGE_CASES + COMMAND_LINE_CASES


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a hash of its bytes; bytecode caches aside, and SQLite's
    own ``-wal`` / ``-shm`` files of an open database (SQLite removes them at the last close,
    and they change no study)."""
    return {
        str(path.relative_to(folder)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "special"
        )
        for path in sorted(folder.rglob("*"))
        if not path.is_dir() and "__pycache__" not in path.parts
        and not path.name.endswith(("-wal", "-shm"))
    }


def test_there_are_enough_bad_inputs():
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [
    # A factory's model is built and probed through Keras: those cases run on each backend.
    pytest.param(case, marks=pytest.mark.backend) if case in FACTORY_CASES else case
    for case in CASES
], ids=[case.id for case in CASES])
def test_bad_input_is_refused_cleanly(case, tmp_path, capsys, monkeypatch, finished_study):
    _FINISHED["path"] = finished_study
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("SWEEPER_STORAGE", "SWEEPER_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for setup in case.setup:
        setup(tmp_path)
    before = snapshot(tmp_path)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    argv = [part.replace(S, str(tmp_path / "study.toml")).replace(F, str(tmp_path))
            for part in case.argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own exit path
        code = exit_.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sweeper: error: "), err
    assert case.message in lines[0]
    assert "Traceback" not in err
    assert code == case.code
    assert snapshot(tmp_path) == before
