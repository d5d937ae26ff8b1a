"""The Brier score and the expected calibration error against brute force: explicit Python loops
over rows, labels and bins, written from the definitions in sweeper/evaluation/_calibration.py."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from sweeper.config import Task
from sweeper.evaluation import (
    CALIBRATION_BINS,
    Calibration,
    brier_score,
    calibration,
    expected_calibration_error,
)

BINS = CALIBRATION_BINS


def brute_bin(p: float) -> int:
    """Right-closed bins (b/15, (b+1)/15], p = 0 in the first."""
    for b in range(BINS):
        if b / BINS < p <= (b + 1) / BINS:
            return b
    assert p == 0.0
    return 0


def brute_ece(pairs: list[tuple[float, float]]) -> float:
    total = 0.0
    for b in range(BINS):
        members = [(p, y) for p, y in pairs if brute_bin(p) == b]
        if not members:
            continue
        mean_p = sum(p for p, _ in members) / len(members)
        mean_y = sum(y for _, y in members) / len(members)
        total += len(members) / len(pairs) * abs(mean_y - mean_p)
    return total


def brute_multilabel(y, scores) -> tuple[float, float]:
    pairs = []
    for row in range(scores.shape[0]):
        for label in range(scores.shape[1]):
            pairs.append((float(scores[row, label]), float(y[row, label])))
    brier = sum((p - t) ** 2 for p, t in pairs) / len(pairs)
    return brier, brute_ece(pairs)


def brute_multiclass(y, scores) -> tuple[float, float]:
    brier, pairs = 0.0, []
    for row in range(scores.shape[0]):
        probabilities = [float(v) for v in scores[row]]
        for k, p in enumerate(probabilities):
            brier += (p - (1.0 if k == y[row] else 0.0)) ** 2
        top = max(range(len(probabilities)), key=lambda k: (probabilities[k], -k))
        pairs.append((probabilities[top], 1.0 if top == y[row] else 0.0))
    return brier / scores.shape[0], brute_ece(pairs)


def multilabel_case(seed: int, rows: int = 200, labels: int = 5):
    rng = np.random.default_rng(seed)
    y = (rng.random((rows, labels)) < 0.1).astype(np.uint8)
    scores = np.clip(0.6 * y + 0.3 * rng.random((rows, labels)), 0, 1).astype(np.float32)
    return y, scores


def multiclass_case(seed: int, rows: int = 200, classes: int = 4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    logits = 2.0 * np.eye(classes)[y] + rng.standard_normal((rows, classes))
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, scores.astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("task", [Task.MULTILABEL, Task.BINARY])
def test_sigmoid_tasks_agree_with_brute_force(seed, task):
    y, scores = multilabel_case(seed, labels=1 if task is Task.BINARY else 5)
    brier, ece = brute_multilabel(y, scores)
    assert brier_score(y, scores, task) == pytest.approx(brier, abs=1e-12)
    assert expected_calibration_error(y, scores, task) == pytest.approx(ece, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multiclass_agrees_with_brute_force(seed):
    y, scores = multiclass_case(seed)
    brier, ece = brute_multiclass(y, scores)
    assert brier_score(y, scores, Task.MULTICLASS) == pytest.approx(brier, abs=1e-12)
    assert expected_calibration_error(y, scores, Task.MULTICLASS) == pytest.approx(ece, abs=1e-12)


def test_probabilities_exactly_zero_one_and_on_bin_edges():
    # 0 falls in the first bin, 1 in the last, k/15 in bin k-1 (right-closed bins).
    scores = np.array([[0.0, 1.0, 1 / 15], [2 / 15, 1.0, 0.0], [14 / 15, 0.5, 1.0]])
    y = np.array([[0, 1, 1], [0, 0, 0], [1, 1, 1]])
    brier, ece = brute_multilabel(y, scores)
    assert brier_score(y, scores, Task.MULTILABEL) == pytest.approx(brier, abs=1e-12)
    assert expected_calibration_error(y, scores, Task.MULTILABEL) == pytest.approx(ece, abs=1e-12)
    assert [brute_bin(p) for p in (0.0, 1 / 15, 2 / 15, 14 / 15, 1.0)] == [0, 0, 1, 13, 14]


def test_perfect_and_worst_predictions():
    y = np.array([[0, 1], [1, 0]])
    right = y.astype(float)
    assert brier_score(y, right, Task.MULTILABEL) == 0.0
    assert expected_calibration_error(y, right, Task.MULTILABEL) == 0.0
    wrong = 1.0 - right
    assert brier_score(y, wrong, Task.MULTILABEL) == 1.0
    assert expected_calibration_error(y, wrong, Task.MULTILABEL) == 1.0
    classes = np.array([0, 2])
    onehot = np.eye(3)[classes]
    assert brier_score(classes, onehot, Task.MULTICLASS) == 0.0
    assert expected_calibration_error(classes, onehot, Task.MULTICLASS) == 0.0
    assert brier_score(classes, np.eye(3)[[1, 0]], Task.MULTICLASS) == 2.0


def test_empty_bins_add_nothing():
    # Every probability in two bins: the 13 empty bins contribute nothing (and divide by none).
    y = np.array([[1], [0], [1], [0]])
    scores = np.array([[0.9], [0.9], [0.1], [0.1]])
    # bins: {0.9: mean y 0.5}, {0.1: mean y 0.5}: each gap 0.4, each half the pairs.
    assert expected_calibration_error(y, scores, Task.BINARY) == pytest.approx(0.4)
    assert expected_calibration_error(y, scores, Task.BINARY) == pytest.approx(
        brute_multilabel(y, scores)[1]
    )


def test_multiclass_top_class_ties_take_the_first_class_as_argmax():
    y = np.array([1, 0])
    scores = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]])
    # argmax is class 0 for both: row 0 wrong, row 1 right; confidence 0.5 each, accuracy 0.5.
    assert expected_calibration_error(y, scores, Task.MULTICLASS) == pytest.approx(0.0)
    assert brute_multiclass(y, scores)[1] == pytest.approx(0.0)


@pytest.mark.parametrize("task", [Task.MULTILABEL, Task.MULTICLASS])
@pytest.mark.parametrize("poison", ["all", "one", "inf"])
def test_non_finite_scores_give_no_figures_and_never_raise(task, poison):
    y, scores = (multilabel_case(0) if task is Task.MULTILABEL else multiclass_case(0))
    scores = scores.astype(np.float64)
    if poison == "all":
        scores[:] = np.nan
    elif poison == "one":
        scores[3, 1] = np.nan
    else:
        scores[0, 0] = np.inf
    assert math.isnan(brier_score(y, scores, task))
    assert math.isnan(expected_calibration_error(y, scores, task))
    figures = calibration(y, scores, task)
    assert figures == Calibration(brier=None, ece=None)
    assert figures.to_dict() == {"brier": None, "ece": None}


def test_no_rows_gives_no_figures():
    assert calibration(np.zeros((0, 3)), np.zeros((0, 3)), Task.MULTILABEL) == Calibration(
        None, None
    )
    assert calibration(np.zeros(0, int), np.zeros((0, 3)), Task.MULTICLASS) == Calibration(
        None, None
    )


def test_calibration_round_trips_through_json():
    import json

    y, scores = multiclass_case(4)
    figures = calibration(y, scores, Task.MULTICLASS)
    assert figures.brier is not None and figures.ece is not None
    again = Calibration.from_dict(json.loads(json.dumps(figures.to_dict())))
    assert again == figures
    assert Calibration.from_dict({}) == Calibration(None, None)


def test_the_module_imports_no_tensorflow_or_keras():
    code = (
        "import sys, sweeper.evaluation._calibration\n"
        "assert not {'tensorflow', 'keras', 'jax'} & set(sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_binary_truth_held_as_a_vector_scores_as_one_label_column():
    y, scores = multilabel_case(5, labels=1)
    column = calibration(y, scores, Task.BINARY)
    assert calibration(y[:, 0], scores, Task.BINARY) == column
    assert (column.brier, column.ece) == pytest.approx(brute_multilabel(y, scores), abs=1e-12)


@pytest.mark.parametrize("task", [Task.MULTILABEL, Task.MULTICLASS])
def test_figures_summed_over_blocks_of_rows_equal_the_whole(task, monkeypatch):
    """Calibration reads the scores a block of rows at a time (float64 copies of one block, not
    of a split of thousands of labels); with blocks of 7 values (a row or two) the figures are
    those of one block holding every row."""
    import sweeper.evaluation._calibration as calibration_module

    y, scores = multilabel_case(3) if task is Task.MULTILABEL else multiclass_case(3)
    whole = (brier_score(y, scores, task), expected_calibration_error(y, scores, task))
    monkeypatch.setattr(calibration_module, "BLOCK_VALUES", 7)
    blocked = (brier_score(y, scores, task), expected_calibration_error(y, scores, task))
    assert blocked == pytest.approx(whole, abs=1e-12)
    poisoned = scores.copy()
    poisoned[-1, -1] = np.nan  # in the last block: found there too
    assert math.isnan(brier_score(y, poisoned, task))
