"""The paired bootstrap of F1 and the selection-aware comparison: unit weights give the split's
own F1; the resamples are the same for every trial of a study (pairing); the comparison of the
best of N corrects the winner's curse; the record keeps the resampled figures. Pure NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from sweeper.config import Task
from sweeper.evaluation import (
    RESAMPLES,
    bootstrap_f1,
    compare_choice,
    decode_resampled,
    encode_resampled,
    evaluate,
    fbeta,
    resample_weights,
)

RNG = np.random.default_rng(3)


def decisions_of(task: Task, n: int, rng=RNG, skill: float = 0.6):
    if task is Task.MULTICLASS:
        y = rng.integers(0, 4, n)
        chosen = np.where(rng.random(n) < skill, y, rng.integers(0, 4, n))
        return y, chosen, np.eye(4)[chosen], {}
    labels = 1 if task is Task.BINARY else 5
    y = (rng.random((n, labels)) < 0.1).astype(np.int8)
    decided = ((rng.random((n, labels)) < 0.1) | (y.astype(bool) & (rng.random((n, labels))
                                                                      < skill)))
    return y, decided, decided.astype(np.float32), {"threshold": 0.5}


@pytest.mark.parametrize("task", list(Task), ids=str)
@pytest.mark.parametrize("average", ["micro", "macro"])
def test_unit_weights_give_the_splits_own_f1_and_resamples_spread_around_it(task, average):
    y, decisions, scores, rule = decisions_of(task, 2000)
    evaluation = evaluate(y, scores, task=task, average=average, **rule)
    f1 = float(fbeta(evaluation.recall, evaluation.precision))
    ones = np.ones((1, len(y)), np.uint8)
    assert bootstrap_f1(y, decisions, task, average, ones)[0] == pytest.approx(f1, abs=1e-9)
    resampled = bootstrap_f1(y, decisions, task, average, resample_weights(len(y), 0))
    assert resampled.shape == (RESAMPLES,)
    assert abs(resampled.mean() - f1) < 3 * resampled.std() / np.sqrt(RESAMPLES) + 0.005
    assert 0.002 < resampled.std() < 0.1


def test_the_resamples_are_the_studys_own_and_pair_its_trials():
    first = resample_weights(500, 7)
    assert first is resample_weights(500, 7) and not first.flags.writeable
    assert np.array_equal(first, np.random.default_rng([7, 0xB007]).poisson(
        1.0, size=(RESAMPLES, 500)).astype(np.uint8))
    assert not np.array_equal(first, resample_weights(500, 8))
    y, decisions, _, _ = decisions_of(Task.MULTILABEL, 500)
    a = bootstrap_f1(y, decisions, Task.MULTILABEL, "micro", first)
    b = bootstrap_f1(y, decisions.copy(), Task.MULTILABEL, "micro", first)
    np.testing.assert_array_equal(a, b)  # the same decisions: a difference of exactly 0


def test_resampled_figures_round_trip_as_text_at_16_bits():
    values = RNG.random(RESAMPLES)
    text = encode_resampled(values)
    assert len(text) < 4 * RESAMPLES * 2 // 3 + 4
    np.testing.assert_allclose(decode_resampled(text), values, atol=1 / 65535)


def simulated(n_rows: int, qualities, rng):
    """F1 vectors of models deciding the same rows: each row's correctness shares a common
    part (the rows' difficulty), so models are correlated as trained models are."""
    difficulty = rng.random(n_rows)
    y = (rng.random((n_rows, 1)) < 0.2).astype(np.int8)
    weights = resample_weights(n_rows, 11)
    observed, resampled = [], []
    for quality in qualities:
        right = (difficulty < quality) ^ (rng.random(n_rows) < 0.05)
        decided = np.where(right[:, None], y, 1 - y).astype(bool)
        evaluation = evaluate(y, decided.astype(np.float32), task=Task.BINARY,
                              average="micro", threshold=0.5)
        observed.append(float(fbeta(evaluation.recall, evaluation.precision)))
        resampled.append(bootstrap_f1(y, decided, Task.BINARY, "micro", weights))
    return np.array(observed), np.stack(resampled)


def test_a_clearly_better_trial_beats_the_baseline_and_equal_trials_do_not():
    rng = np.random.default_rng(5)
    f1, resampled = simulated(3000, [0.80, 0.80, 0.93], rng)
    better = compare_choice(f1[2:], resampled[2:], f1[:1], resampled[:1])
    assert better.beats and better.low > 0.02
    equal = compare_choice(f1[1:2], resampled[1:2], f1[:1], resampled[:1])
    assert not equal.beats and equal.low < 0 < equal.high


def test_the_best_of_many_equal_trials_is_corrected_for_its_choice():
    """Forty trials as good as the baseline: the best of them leads on these rows by chance,
    by more than one trial's paired bound allows; the bound of the best of forty is wider and
    does not recommend it."""
    rng = np.random.default_rng(9)
    f1, resampled = simulated(1500, [0.8] * 41, rng)
    comparison = compare_choice(f1[1:], resampled[1:], f1[:1], resampled[:1])
    best = int(np.argmax(f1[1:])) + 1
    alone = compare_choice(f1[best:best + 1], resampled[best:best + 1], f1[:1], resampled[:1])
    assert comparison.difference == alone.difference > 0  # the winner's curse
    assert alone.beats  # judged as if it had been the only trial
    assert comparison.critical > alone.critical > 1.0
    assert not comparison.beats and comparison.trials == 40
    assert comparison.to_dict()["trials"] == 40
