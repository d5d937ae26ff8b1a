from __future__ import annotations

import numpy as np
import pytest

from sweeper.search import (
    effective_number,
    frequency_buckets,
    inverse_frequency,
    multiclass_loss_weights,
    multilabel_loss_weights,
    normalise,
    sklearn_balanced,
    weight_vector,
)

# Seed 001's class sizes: n = 1616, K = 4; inverse frequency n / (K * n_c).
SEED_COUNTS = np.array([198, 436, 710, 272])
SEED_INVERSE = [1616 / 792, 1616 / 1744, 1616 / 2840, 1616 / 1088]


def test_multiclass_inverse_frequency_matches_hand_values():
    weights = inverse_frequency(SEED_COUNTS, 1616, "multiclass")
    np.testing.assert_allclose(weights, [2.0404040, 0.9266055, 0.5690141, 1.4852941], rtol=1e-6)


def test_multilabel_inverse_frequency_is_negatives_over_positives():
    np.testing.assert_allclose(inverse_frequency(np.array([1, 3]), 4, "multilabel"), [3, 1 / 3])


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("none", SEED_INVERSE),
        ("sum_to_one", [0.4063483, 0.1845343, 0.1133197, 0.2957977]),
        ("mean_one", [1.6253933, 0.7381373, 0.4532787, 1.1831907]),
        # n/(K n_c) already satisfies sum_c w_c n_c = n, so "balanced" leaves it unchanged.
        ("balanced", SEED_INVERSE),
    ],
)
def test_normalisations_of_seed_weights(how, expected):
    weights = weight_vector(
        counts=SEED_COUNTS, n_samples=1616, task="multiclass", exponent=1.0, normalisation=how
    )
    np.testing.assert_allclose(weights, expected, rtol=1e-6)


def test_balanced_normalisation_of_tempered_weights_preserves_total():
    # sqrt of the inverse frequency, rescaled so that sum_c w_c n_c = 1616 (hand-computed).
    weights = weight_vector(
        counts=SEED_COUNTS,
        n_samples=1616,
        task="multiclass",
        exponent=0.5,
        normalisation="balanced",
    )
    np.testing.assert_allclose(weights, [1.4706615, 0.9910649, 0.7766336, 1.2547606], rtol=1e-6)
    assert np.dot(weights, SEED_COUNTS) == pytest.approx(1616)


def test_exponent_zero_is_unweighted():
    weights = weight_vector(
        counts=SEED_COUNTS, n_samples=1616, task="multiclass", exponent=0.0, normalisation="none"
    )
    np.testing.assert_array_equal(weights, np.ones(4))


def test_exponent_two_squares_the_inverse_frequency():
    weights = weight_vector(
        counts=SEED_COUNTS, n_samples=1616, task="multiclass", exponent=2.0, normalisation="none"
    )
    np.testing.assert_allclose(weights, np.square(SEED_INVERSE))


def test_multilabel_balanced_keeps_total_positive_weight():
    counts = np.array([10, 40, 150])
    weights = weight_vector(
        counts=counts, n_samples=1000, task="multilabel", exponent=1.0, normalisation="balanced"
    )
    assert np.dot(weights, counts) == pytest.approx(counts.sum())
    raw = (1000 - counts) / counts
    np.testing.assert_allclose(weights / weights[0], raw / raw[0])


@pytest.mark.parametrize(
    ("counts", "n", "message"),
    [
        ([0, 3], 10, "every count must be > 0"),
        ([5, 30], 10, "every count must be <= n_samples"),
        ([], 10, "non-empty vector"),
    ],
)
def test_inverse_frequency_rejects_bad_counts(counts, n, message):
    with pytest.raises(ValueError, match=message):
        inverse_frequency(np.array(counts), n, "multiclass")


def test_unknown_normalisation_is_rejected():
    with pytest.raises(ValueError, match="`how` must be one of"):
        normalise(np.ones(2), np.ones(2), "softmax")


@pytest.mark.parametrize(
    "modules",
    [
        # The pure NumPy parts of the pipeline.
        "sweeper.config, sweeper.data, sweeper.search, sweeper.evaluation",
        # What report, export and the API's import need: training is imported when a run starts.
        "sweeper, sweeper.api, sweeper.study, sweeper.report, sweeper.export, sweeper.cli",
    ],
)
def test_modules_do_not_import_keras_or_tensorflow(modules):
    import subprocess
    import sys

    code = f"import sys, {modules}; print(sorted({{'keras', 'tensorflow'}} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_effective_number_by_hand():
    # beta = 0.5, n = 10, positives 1 and 3: E(m) = (1 - 0.5**m) / 0.5
    # label 0: E(9) / E(1) = (511/512) / (1/2) / 1 = 511/256; label 1: E(7) / E(3) = 127/112
    weights = effective_number(np.array([1, 3]), 10, "multilabel", beta=0.5)
    np.testing.assert_allclose(weights, [511 / 256, 127 / 112])


def test_effective_number_of_seed_classes():
    # n / (K * E(n_c)) with E(m) = (1 - 0.999**m) / 0.001, computed with plain powers
    weights = effective_number(SEED_COUNTS, 1616, "multiclass", beta=0.999)
    np.testing.assert_allclose(weights, [2.2480486, 1.1427818, 0.7944461, 1.6957020], rtol=1e-6)


def test_effective_number_tends_to_inverse_frequency_and_to_uniform():
    near_one = effective_number(SEED_COUNTS, 1616, "multiclass", beta=1 - 1e-9)
    np.testing.assert_allclose(near_one, SEED_INVERSE, rtol=1e-5)
    near_zero = effective_number(SEED_COUNTS, 1616, "multiclass", beta=1e-9)
    np.testing.assert_allclose(near_zero / near_zero[0], np.ones(4))


@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5, 1.5])
def test_effective_number_rejects_beta_outside_the_open_interval(beta):
    with pytest.raises(ValueError, match="`0 < beta < 1` must hold"):
        effective_number(SEED_COUNTS, 1616, "multiclass", beta=beta)


@pytest.mark.parametrize(
    ("counts", "n_buckets", "expected"),
    [
        # sorted by count: 5 (i2), 10 (i0), 40 (i4), 80 (i1), 300 (i3); 3 buckets of 2, 2, 1
        ([10, 80, 5, 300, 40], 3, [0, 1, 0, 2, 1]),
        ([10, 80, 5, 300, 40], 1, [0, 0, 0, 0, 0]),
        ([10, 80, 5, 300, 40], 5, [1, 3, 0, 4, 2]),
        # ties keep their order: the first 7 is rarer than the second
        ([7, 7, 9, 1], 2, [0, 1, 1, 0]),
    ],
)
def test_frequency_buckets_by_hand(counts, n_buckets, expected):
    assert frequency_buckets(np.array(counts), n_buckets).tolist() == expected


@pytest.mark.parametrize("n_buckets", [0, 6])
def test_frequency_buckets_reject_impossible_counts(n_buckets):
    with pytest.raises(ValueError, match="`1 <= n_buckets <= number of labels` must hold"):
        frequency_buckets(np.array([10, 80, 5, 300, 40]), n_buckets)


def test_multipliers_scale_labels_before_normalisation():
    counts = np.array([1, 3])  # n = 4: raw neg/pos = 3 and 1/3
    plain = weight_vector(
        counts=counts, n_samples=4, task="multilabel", exponent=1.0, normalisation="none",
        multipliers=np.array([2.0, 0.5]),
    )
    np.testing.assert_allclose(plain, [6.0, 1 / 6])
    # mean_one after the multipliers: 2 * (6, 1/6) / (6 + 1/6)
    scaled = weight_vector(
        counts=counts, n_samples=4, task="multilabel", exponent=1.0, normalisation="mean_one",
        multipliers=np.array([2.0, 0.5]),
    )
    np.testing.assert_allclose(scaled, [12 / (37 / 6), (1 / 3) / (37 / 6)])


def test_multipliers_must_be_positive_and_one_per_label():
    with pytest.raises(ValueError, match="one value > 0 per label"):
        weight_vector(counts=np.array([1, 3]), n_samples=4, task="multilabel", exponent=1.0,
                      normalisation="none", multipliers=np.array([1.0, 0.0]))


def test_sklearn_balanced_by_hand():
    # multi-label, n = 10, positives 2 and 5: positives n/(2 pos), negatives n/(2 neg)
    np.testing.assert_allclose(
        sklearn_balanced(np.array([2, 5]), 10, "multilabel"), [[2.5, 1.0], [10 / 16, 1.0]]
    )
    np.testing.assert_allclose(sklearn_balanced(SEED_COUNTS, 1616, "multiclass"), SEED_INVERSE)


def test_loss_weight_arrays_by_hand():
    np.testing.assert_array_equal(multilabel_loss_weights([3.0, 0.5]), [[3.0, 0.5], [1.0, 1.0]])
    weights = np.array([1.0, 2.0, 4.0])
    np.testing.assert_array_equal(
        multiclass_loss_weights(weights, "true_class"), [[1, 1, 1], [2, 2, 2], [4, 4, 4]]
    )
    np.testing.assert_array_equal(
        multiclass_loss_weights(weights, "predicted_class"), [[1, 2, 4], [1, 2, 4], [1, 2, 4]]
    )
    costs = np.array([[0, 1, 5], [1, 0, 1], [2, 2, 0]])
    np.testing.assert_array_equal(
        multiclass_loss_weights(weights, "cost_matrix", costs), [[0, 1, 5], [2, 0, 2], [8, 8, 0]]
    )
    with pytest.raises(ValueError, match="must be a 3 x 3 matrix of values >= 0"):
        multiclass_loss_weights(weights, "cost_matrix", np.ones((2, 2)))
