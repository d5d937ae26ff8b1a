from __future__ import annotations

import numpy as np
import pytest

from sweeper.evaluation import Evaluation, PRCurve, hypervolume_2d
from sweeper.search import Candidate
from sweeper.study import TrialRecord, front_hypervolume, operating_points, validation_front


def record(number: int, rng: np.random.Generator) -> TrialRecord:
    own = Evaluation(float(rng.random()), float(rng.random()), (0.0,), (0.0,))
    recall = np.round(np.sort(rng.random(12))[::-1], 2)
    precision = np.round(np.sort(rng.random(12)), 2)
    curve = PRCurve("threshold", tuple(np.linspace(0.05, 0.95, 12)), tuple(recall),
                    tuple(precision))
    return TrialRecord(
        number=number, candidate=Candidate(exponent=1.0, normalisation="none", threshold=0.5),
        weights=(1.0,), validation=own, test=own, validation_curve=curve, test_curve=curve,
        diverged=False, train_seconds=0.0, packed_members=1,
    )


@pytest.mark.parametrize("min_precision", [None, 0.6, 2.0])
def test_front_equals_brute_force_over_every_operating_point(min_precision):
    rng = np.random.default_rng(7)
    records = [record(n, rng) for n in range(15)]
    points = operating_points(records)
    assert len(points) == 15 * 13
    eligible = [p for p in points if min_precision is None or p.validation[1] >= min_precision]
    eligible = eligible or points  # a constraint no point meets is ignored
    expected = {
        p.validation for p in eligible
        if not any(q.validation[0] >= p.validation[0] and q.validation[1] >= p.validation[1]
                   and q.validation != p.validation for q in eligible)
    }
    front = validation_front(records, min_precision=min_precision)
    assert {p.validation for p in front} == expected
    assert len(front) == len(expected)  # identical figures appear once
    recalls = [p.validation[0] for p in front]
    assert recalls == sorted(recalls, reverse=True)
    figures = np.array([p.validation for p in points])
    if min_precision is None:
        assert front_hypervolume(front, "validation") == pytest.approx(hypervolume_2d(figures))


def test_a_curve_point_carries_its_threshold_and_the_own_rule_the_trial_s():
    rng = np.random.default_rng(1)
    trial = record(3, rng)
    own, first = operating_points([trial])[:2]
    assert own.threshold == 0.5 and own.decision_summary() == "0.500"
    assert first.threshold == pytest.approx(0.05) and first.decision_summary() == "0.050*"
    assert first.validation == (trial.validation_curve.recall[0],
                                trial.validation_curve.precision[0])


@pytest.mark.parametrize("min_precision", [None, 0.6, 2.0])
def test_best_f1_point_equals_brute_force_over_every_operating_point(min_precision):
    from sweeper.evaluation import Constraints
    from sweeper.study import recommend

    rng = np.random.default_rng(1)
    records = [record(number, rng) for number in range(30)]
    constraints = Constraints(min_precision=min_precision)
    points = operating_points(records)
    feasible = [p for p in points if constraints.feasible(*p.validation)] or points
    expected = max(feasible, key=lambda p: (p.f1(), p.validation[0]))  # first of equals
    chosen = recommend(records, constraints=constraints).best_trial
    assert (chosen.record.number, chosen.index) == (expected.record.number, expected.index)


def test_a_trial_s_exact_figures_meet_its_stored_curve_s_six_decimals():
    """A trial's own figures are exact, a curve's stored at six decimals: 14/15 recall on a
    curve is 0.933333, 3e-7 below the own point's. Compared at six decimals, an own point with
    the recall of another point of higher precision is off the front, and an own point equal
    to its curve's point appears once."""
    recall, precision = 14 / 15, 7 / 9
    curve = PRCurve("threshold", (0.2, 0.9), (round(recall, 6), 0.1), (1.0, 1.0))
    beaten = TrialRecord(
        number=5, candidate=Candidate(exponent=1.0, normalisation="none", threshold=0.6),
        weights=(1.0,), validation=Evaluation(recall, precision, (0.0,), (0.0,)),
        test=Evaluation(recall, precision, (0.0,), (0.0,)), validation_curve=curve,
        test_curve=curve, diverged=False, train_seconds=0.0, packed_members=1,
    )
    front = validation_front([beaten])
    assert [(p.record.number, p.index) for p in front] == [(5, 0)]

    own = (0.10868544600938967, 0.030327643171806168)
    same = PRCurve("threshold", (0.5,), (round(own[0], 6),), (round(own[1], 6),))
    twice = TrialRecord(
        number=1, candidate=Candidate(exponent=1.0, normalisation="none", threshold=0.5),
        weights=(1.0,), validation=Evaluation(*own, (0.0,), (0.0,)),
        test=Evaluation(*own, (0.0,), (0.0,)), validation_curve=same, test_curve=same,
        diverged=False, train_seconds=0.0, packed_members=1,
    )
    front = validation_front([twice])
    assert len(front) == 1 and front[0].index is None  # the own rule, kept first
