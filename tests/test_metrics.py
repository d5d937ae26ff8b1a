from __future__ import annotations

import numpy as np
import pytest

from sweeper.metrics import evaluate, hypervolume_2d, pareto_front, pr_curve


@pytest.mark.parametrize(
    ("points", "front"),
    [
        ([(0.5, 0.5)], [0]),
        ([(0.1, 0.9), (0.9, 0.1), (0.5, 0.5), (0.4, 0.4)], [1, 2, 0]),
        # (0.5, 0.5) dominates (0.5, 0.4) by precision and (0.4, 0.5) by recall.
        ([(0.5, 0.4), (0.5, 0.5), (0.4, 0.5)], [1]),
        # exact duplicates on the front are both kept
        ([(0.3, 0.7), (0.3, 0.7), (0.2, 0.2)], [0, 1]),
        ([], []),
    ],
)
def test_pareto_front_on_hand_made_points(points, front):
    found = pareto_front(np.array(points, dtype=float).reshape(-1, 2))
    assert sorted(found.tolist()) == sorted(front)


def test_pareto_front_agrees_with_brute_force():
    rng = np.random.default_rng(3)
    points = np.round(rng.random((300, 2)), 2)
    dominated = [any((q >= p).all() and (q > p).any() for q in points) for p in points]
    expected = [i for i, d in enumerate(dominated) if not d]
    assert sorted(pareto_front(points).tolist()) == expected


@pytest.mark.parametrize(
    ("points", "area"),
    [
        ([(0.5, 0.5)], 0.25),
        ([(1.0, 0.2), (0.5, 0.6)], 1.0 * 0.2 + 0.5 * 0.4),
        ([(1.0, 0.2), (0.5, 0.6), (0.4, 0.4)], 0.4),  # a dominated point adds nothing
        ([(1.0, 1.0)], 1.0),
        ([], 0.0),
    ],
)
def test_hypervolume_on_hand_made_fronts(points, area):
    assert hypervolume_2d(np.array(points, dtype=float)) == pytest.approx(area)


def test_multilabel_micro_and_macro_by_hand():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6], [0.1, 0.2]])
    # threshold 0.5: label 0 -> tp 1, fp 1, fn 1; label 1 -> tp 1, fp 1, fn 0
    result = evaluate(y, scores, task="multilabel", average="micro", threshold=0.5)
    assert result.recall == pytest.approx(2 / 3)
    assert result.precision == pytest.approx(2 / 4)
    assert result.per_label_recall == pytest.approx((0.5, 1.0))
    macro = evaluate(y, scores, task="multilabel", average="macro", threshold=0.5)
    assert macro.recall == pytest.approx(0.75)
    assert macro.precision == pytest.approx(0.5)


def test_per_label_thresholds_apply_per_column():
    y = np.array([[1, 1], [0, 0]])
    scores = np.array([[0.3, 0.3], [0.2, 0.2]])
    result = evaluate(
        y, scores, task="multilabel", average="micro", threshold=np.array([0.25, 0.5])
    )
    assert result.per_label_recall == (1.0, 0.0)


def test_multiclass_macro_by_hand():
    y = np.array([0, 0, 1, 2])
    scores = np.eye(3)[[0, 1, 1, 1]]
    result = evaluate(y, scores, task="multiclass", average="macro")
    # recall per class 1/2, 1, 0; precision 1, 1/3, 0 (nothing predicted as class 2)
    assert result.per_label_recall == pytest.approx((0.5, 1.0, 0.0))
    assert result.per_label_precision == pytest.approx((1.0, 1 / 3, 0.0))
    assert result.recall == pytest.approx(0.5)


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_pr_curve_matches_evaluate_at_every_threshold(average):
    rng = np.random.default_rng(0)
    y = (rng.random((400, 5)) < 0.2).astype(np.uint8)
    scores = np.clip(0.4 * y + rng.random((400, 5)) * 0.7, 0, 1).astype(np.float32)
    grid = np.linspace(0.05, 0.95, 19)
    curve = pr_curve(y, scores, grid, average=average)
    for threshold, recall, precision in zip(grid, curve.recall, curve.precision, strict=True):
        expected = evaluate(y, scores, task="multilabel", average=average, threshold=threshold)
        assert recall == pytest.approx(expected.recall)
        assert precision == pytest.approx(expected.precision)


def test_pr_curve_counts_a_score_equal_to_the_threshold_as_positive():
    y = np.array([[1], [0], [1]])
    scores = np.array([[0.5], [0.5], [0.25]], dtype=np.float32)
    curve = pr_curve(y, scores, [0.25, 0.5, 0.75], average="micro")
    assert curve.recall == pytest.approx((1.0, 0.5, 0.0))
    assert curve.precision == pytest.approx((2 / 3, 0.5, 0.0))
