from __future__ import annotations

import numpy as np
import pytest

from sweeper.evaluation import (
    adjustment_curve,
    curve_thresholds,
    default_tau_grid,
    evaluate,
    fbeta_thresholds,
    hypervolume_2d,
    pareto_front,
    pr_curve,
    predict,
    ranking_front,
    validation_curve,
)


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
        # three steps: 0.2 * 0.9 + (0.6 - 0.2) * 0.5 + (1.0 - 0.6) * 0.1
        ([(0.2, 0.9), (0.6, 0.5), (1.0, 0.1)], 0.18 + 0.2 + 0.04),
        # duplicates count once
        ([(0.5, 0.5), (0.5, 0.5)], 0.25),
    ],
)
def test_hypervolume_on_hand_made_fronts(points, area):
    assert hypervolume_2d(np.array(points, dtype=float)) == pytest.approx(area)


def test_hypervolume_with_another_reference_point():
    # Only what lies beyond (0.2, 0.1) counts: (1.0 - 0.2) * (0.5 - 0.1).
    points = np.array([(1.0, 0.5), (0.1, 0.9)])
    assert hypervolume_2d(points, reference=(0.2, 0.1)) == pytest.approx(0.32)


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


def test_macro_average_leaves_out_a_class_without_samples_in_the_split():
    # Class 2 has no sample here: it cannot be evaluated, and is not counted as recall 0.
    y = np.array([0, 0, 1, 1])
    scores = np.eye(3)[[0, 1, 1, 2]]
    result = evaluate(y, scores, task="multiclass", average="macro")
    assert result.per_label_recall == pytest.approx((0.5, 0.5, 0.0))
    assert result.recall == pytest.approx(0.5)  # (0.5 + 0.5) / 2, not / 3
    assert result.precision == pytest.approx((1.0 + 0.5) / 2)


@pytest.mark.parametrize("average", ["micro", "macro"])
def test_pr_curve_matches_evaluate_at_every_threshold(average):
    rng = np.random.default_rng(0)
    y = (rng.random((400, 5)) < 0.2).astype(np.uint8)
    scores = np.clip(0.4 * y + rng.random((400, 5)) * 0.7, 0, 1).astype(np.float32)
    grid = np.linspace(0.05, 0.95, 19)
    curve = pr_curve(y, scores, grid, average=average)
    assert curve.parameter == "threshold"
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


@pytest.mark.parametrize(
    ("beta", "threshold"),
    [
        # scores 0.9 0.8 0.3 0.2, truth 1 0 1 0. Top k: F1 = 2/3, 1/2, 4/5, 2/3 -> k = 3,
        # threshold between 0.3 and 0.2.
        (1.0, 0.25),
        # beta 0.1 weighs precision: F = 1.01/1.02 at k = 1 beats 2.02/3.02 at k = 3.
        (0.1, 0.85),
        # beta 3 weighs recall: 20/21 at k = 3 beats 20/22 at k = 4.
        (3.0, 0.25),
    ],
)
def test_fbeta_thresholds_by_hand(beta, threshold):
    y = np.array([[1], [0], [1], [0]])
    scores = np.array([[0.9], [0.8], [0.3], [0.2]])
    assert fbeta_thresholds(y, scores, beta) == pytest.approx([threshold])


def test_fbeta_threshold_of_a_label_without_positives_is_one_half():
    y = np.array([[1, 0], [0, 0]])
    scores = np.array([[0.9, 0.7], [0.1, 0.2]])
    assert fbeta_thresholds(y, scores, 1.0) == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_fbeta_thresholds_reach_the_best_fbeta_of_every_label(beta):
    rng = np.random.default_rng(1)
    y = (rng.random((300, 4)) < 0.15).astype(np.uint8)
    scores = np.clip(0.3 * y + 0.8 * rng.random((300, 4)), 0.001, 0.999)
    chosen = fbeta_thresholds(y, scores, beta)
    for label in range(4):
        def fbeta(threshold, label=label):
            decided = scores[:, label] >= threshold
            tp = np.count_nonzero(decided & (y[:, label] == 1))
            return (1 + beta**2) * tp / (beta**2 * y[:, label].sum() + decided.sum())

        best = max(fbeta(t) for t in np.unique(scores[:, label]))
        assert fbeta(chosen[label]) == pytest.approx(best)


def test_logit_adjustment_moves_decisions_towards_rare_classes():
    scores = np.array([[0.6, 0.4], [0.45, 0.55]])
    log_prior = np.log([0.8, 0.2])
    np.testing.assert_array_equal(predict(scores, "multiclass"), [0, 1])
    # tau = 1: log 0.6 - log 0.8 = -0.288 < log 0.4 - log 0.2 = 0.693, so row 0 turns to class 1.
    np.testing.assert_array_equal(predict(scores, "multiclass", offset=log_prior), [1, 1])
    # tau = 0 is the plain argmax
    np.testing.assert_array_equal(predict(scores, "multiclass", offset=0 * log_prior), [0, 1])


def test_adjustment_curve_matches_evaluate_at_each_tau():
    rng = np.random.default_rng(2)
    y = rng.choice(3, size=200, p=[0.7, 0.2, 0.1])
    logits = rng.standard_normal((200, 3)) + 1.5 * np.eye(3)[y]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    log_prior = np.log(np.bincount(y) / y.size)
    taus = [0.0, 0.5, 1.0, 2.0]
    curve = adjustment_curve(y, scores, log_prior, taus, average="macro")
    assert curve.parameter == "tau"
    for tau, recall, precision in zip(taus, curve.recall, curve.precision, strict=True):
        expected = evaluate(y, scores, task="multiclass", average="macro", offset=tau * log_prior)
        assert (recall, precision) == pytest.approx((expected.recall, expected.precision))


@pytest.mark.parametrize("block", [1, 7, 2**18])
def test_multiclass_decisions_taken_a_block_of_rows_at_a_time_equal_the_whole(monkeypatch,
                                                                               block):
    """The logarithms of a block of rows are taken once and decided at every tau: the curve and
    each decision are those of the whole split in float64, underflowed probabilities too."""
    import sweeper.evaluation._decision as decision_module

    rng = np.random.default_rng(5)
    y = rng.choice(6, size=151, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    logits = 40 * rng.standard_normal((151, 6)) + 3 * np.eye(6)[y]
    scores = (np.exp(logits - logits.max(axis=1, keepdims=True))).astype(np.float32)
    scores /= scores.sum(axis=1, keepdims=True)
    assert (scores == 0).any()  # some probabilities underflowed
    log_prior = np.log(np.bincount(y) / y.size)
    monkeypatch.setattr(decision_module, "BLOCK_VALUES", block)
    curve = adjustment_curve(y, scores, log_prior, default_tau_grid(), average="micro")
    with np.errstate(divide="ignore"):
        log_p = np.log(scores.astype(np.float64))
    for tau, recall in zip(default_tau_grid(), curve.recall, strict=True):
        decided = np.argmax(log_p - tau * log_prior, axis=1)
        assert np.array_equal(predict(scores, "multiclass", offset=tau * log_prior), decided)
        assert recall == pytest.approx(np.mean(decided == y))


def test_ranking_front_without_ties_is_the_curve_at_every_score():
    y = np.array([[1, 0], [0, 1], [1, 0]])
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.3, 0.2]])
    # ranked: 0.9 (+), 0.8 (-), 0.7 (+), 0.3 (+), 0.2 (-), 0.1 (-); 3 positives
    expected = [(1 / 3, 1), (1 / 3, 1 / 2), (2 / 3, 2 / 3), (1, 3 / 4), (1, 3 / 5), (1, 1 / 2)]
    np.testing.assert_allclose(ranking_front(y, scores), expected)


def test_ranking_front_interpolates_ties_and_matches_the_seed_closed_form():
    from sweeper.data import (
        make_seed_multilabel,
        seed_multilabel_optimal_hypervolume,
        seed_multilabel_posterior,
    )

    data = make_seed_multilabel(n_rows=4000, seed=5)
    posterior = seed_multilabel_posterior(data.X)
    front = ranking_front(data.y, posterior, tie_steps=4000)
    closed_form = seed_multilabel_optimal_hypervolume(data)
    assert hypervolume_2d(front) == pytest.approx(closed_form, rel=1e-3)
    # The two end points alone (no interpolation) give a clearly smaller area.
    ends = ranking_front(data.y, posterior, tie_steps=1)
    assert len(ends) == 2
    assert hypervolume_2d(ends) < 0.97 * closed_form


def test_curve_thresholds_keep_the_area_of_the_whole_curve():
    rng = np.random.default_rng(4)
    y = (rng.random((3000, 10)) < 0.05).astype(np.uint8)
    scores = 1 / (1 + np.exp(-(3 * y + rng.standard_normal((3000, 10)) - 4)))
    exact = hypervolume_2d(ranking_front(y, scores))
    thresholds = curve_thresholds(y, scores, 64)
    assert 2 <= thresholds.size <= 64
    assert np.all(np.diff(thresholds) > 0)
    assert thresholds[0] == scores.min() and thresholds[-1] == scores.max()
    curve = pr_curve(y, scores, thresholds, average="micro")
    stored = hypervolume_2d(np.column_stack([curve.recall, curve.precision]))
    assert 0.98 * exact <= stored <= exact + 1e-12
    # A fixed grid of as many thresholds evenly spaced in [0, 1] keeps less of it.
    grid = pr_curve(y, scores, np.linspace(0.01, 0.99, 64), average="micro")
    assert hypervolume_2d(np.column_stack([grid.recall, grid.precision])) < stored


def test_pr_curve_counted_over_blocks_of_rows_equals_the_whole(monkeypatch):
    """The curve's bins are counted a block of rows at a time; blocks of two rows give the
    counts of one block."""
    import sweeper.evaluation._calibration as calibration_module

    rng = np.random.default_rng(1)
    y = (rng.random((301, 4)) < 0.2).astype(np.uint8)
    scores = np.clip(0.4 * y + rng.random((301, 4)) * 0.7, 0, 1).astype(np.float32)
    grid = np.linspace(0.05, 0.95, 19)
    whole = pr_curve(y, scores, grid, average="macro")
    monkeypatch.setattr(calibration_module, "BLOCK_VALUES", 8)
    import sweeper.evaluation._curves as curves_module

    monkeypatch.setattr(curves_module, "BLOCK_VALUES", 8)
    assert pr_curve(y, scores, grid, average="macro") == whole


def ranked_at_once(y, scores):
    """Every pair ranked at once: the reference the blocks must reproduce."""
    flat = scores.ravel()
    order = np.argsort(-flat, kind="stable")
    ranked = flat[order]
    hits = np.cumsum(y.ravel()[order], dtype=np.float64)
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    return ranked[ends], hits[ends], (ends + 1).astype(np.float64)


@pytest.mark.parametrize("block", [1, 3, 7, 64])
@pytest.mark.parametrize("ties", [False, True])
def test_the_curve_walked_in_blocks_of_ranks_is_the_curve_ranked_at_once(monkeypatch, block,
                                                                          ties):
    """The pairs are sorted once, split by truth, and walked a block at a time; groups of tied
    scores that span blocks end where they end, and the stored thresholds are those of the
    whole curve."""
    import sweeper.evaluation._curves as curves_module

    rng = np.random.default_rng(block)
    y = (rng.random((157, 6)) < 0.2).astype(np.uint8)
    scores = rng.random((157, 6)).astype(np.float32)
    if ties:
        scores = np.round(scores, 1).astype(np.float32)
    whole = curve_thresholds(y, scores)
    monkeypatch.setattr(curves_module, "BLOCK_VALUES", block)
    assert np.array_equal(curve_thresholds(y, scores), whole)
    for got, expected in zip(curves_module._ranked(y, scores), ranked_at_once(y, scores),
                             strict=True):
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("case", ["saturated", "no-positive", "all-positive", "nan"])
def test_the_ranking_handles_long_ties_one_sided_truth_and_nan(monkeypatch, case):
    """A run of tied scores longer than a block (a saturated sigmoid's 1.0s), a split with no
    positive or no negative pair, and a diverged model's NaN (ranked below every score)."""
    import sweeper.evaluation._curves as curves_module

    rng = np.random.default_rng(7)
    y = (rng.random((120, 5)) < 0.3).astype(np.int8)
    scores = rng.random((120, 5)).astype(np.float32)
    if case == "saturated":
        scores[:80] = 1.0
    elif case == "no-positive":
        y[:] = 0
    elif case == "all-positive":
        y[:] = 1
    monkeypatch.setattr(curves_module, "BLOCK_VALUES", 4)
    if case == "nan":
        scores[:3, :2] = np.nan
        reference = np.where(np.isnan(scores), -np.inf, scores).astype(np.float32)
    else:
        reference = scores
    for got, expected in zip(curves_module._ranked(y, scores), ranked_at_once(y, reference),
                             strict=True):
        assert np.array_equal(got, expected)


def test_ranking_the_pairs_holds_about_their_scores_once(monkeypatch):
    """The ranking keeps each pair's score once (4 bytes) and a transient 0/1 mask (1 byte);
    an ``argsort`` held 8 bytes of rank order a pair and 4 of negated scores beside it. The
    walk's blocks are shrunk so that what grows with the pairs shows."""
    import tracemalloc

    import sweeper.evaluation._curves as curves_module

    monkeypatch.setattr(curves_module, "BLOCK_VALUES", 2**12)
    rng = np.random.default_rng(3)
    y = (rng.random((4000, 250)) < 0.1).astype(np.int8)
    scores = rng.random((4000, 250), dtype=np.float32)
    tracemalloc.start()
    try:
        curve_thresholds(y, scores)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6.5 * y.size, f"{peak / y.size:.1f} bytes a pair"


@pytest.mark.parametrize("case", ["plain", "ties", "no-positive", "nan"])
@pytest.mark.parametrize("average", ["micro", "macro"])
def test_the_validation_curve_read_off_the_sorted_pairs_is_the_binned_curve(monkeypatch, case,
                                                                            average):
    """One sort gives a trial's stored thresholds and its validation curve at them: the counts
    read off the sorted pairs are the bins' counts, figure for figure, in blocks too."""
    import sweeper.evaluation._curves as curves_module

    rng = np.random.default_rng(11)
    y = (rng.random((203, 7)) < 0.15).astype(np.int8)
    scores = np.clip(0.3 * y + rng.random((203, 7)) * 0.8, 0, 1).astype(np.float32)
    if case == "ties":
        scores = np.round(scores, 1).astype(np.float32)
    elif case == "no-positive":
        y[:] = 0
    elif case == "nan":
        scores[:5, 0] = np.nan
    monkeypatch.setattr(curves_module, "BLOCK_VALUES", 64)
    grid, curve = validation_curve(y, scores, average=average)
    assert np.array_equal(grid, curve_thresholds(y, scores))
    assert curve == pr_curve(y, scores, grid, average=average)


def test_a_multiclass_decision_of_one_row_is_a_scalar_and_offsets_may_vary_by_row(monkeypatch):
    """An exported model deciding one row gets a class id, with or without an offset; an offset
    of one value per row and class is read block by block with its rows."""
    import sweeper.evaluation._decision as decision_module

    one = np.array([0.2, 0.5, 0.3], dtype=np.float32)
    assert np.ndim(predict(one, "multiclass", offset=np.array([0.0, 1.0, 0.0]))) == 0
    assert int(predict(one, "multiclass", offset=np.array([0.0, 1.0, 0.0]))) == 2
    rng = np.random.default_rng(8)
    scores = rng.random((10, 3)).astype(np.float32)
    offsets = rng.random((10, 3))
    monkeypatch.setattr(decision_module, "BLOCK_VALUES", 3)
    expected = np.argmax(np.log(scores.astype(np.float64)) - offsets, axis=1)
    assert np.array_equal(predict(scores, "multiclass", offset=offsets), expected)
