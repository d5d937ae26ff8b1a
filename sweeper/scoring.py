"""Scoring: a trained member's validation and test scores turned into a trial record.

Trials and baselines are scored by the same function, so a baseline differs from a trial only in
its weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sweeper.data import Splits
from sweeper.metrics import (
    adjustment_curve,
    curve_thresholds,
    default_tau_grid,
    evaluate,
    fbeta_thresholds,
    pr_curve,
)
from sweeper.records import StudyInfo, TrialRecord
from sweeper.space import Candidate

if TYPE_CHECKING:  # training imports TensorFlow; reports read baselines without it
    from sweeper.train import PackedScores

__all__ = ["record_member"]


def record_member(
    *,
    info: StudyInfo,
    splits: Splits,
    scores: PackedScores,
    member: int,
    number: int,
    candidate: Candidate,
    weights: np.ndarray,
    cost_matrix: tuple[tuple[float, ...], ...] | None = None,
) -> TrialRecord:
    """Figures of one packed member, from its stored scores: no retraining for any decision.

    The trial's own rule is resolved on the validation scores (per-label thresholds are chosen
    there), then applied to both splits. The stored curves use the same decision values on both
    splits: thresholds placed along the validation curve (multi-label), or a grid of taus
    (multi-class), so a point chosen on validation can be read on test.
    """
    validation_scores, test_scores = scores.validation[member], scores.test[member]
    thresholds = offset = log_prior = None
    if info.task == "multilabel":
        if candidate.threshold_rule == "per_label":
            thresholds = fbeta_thresholds(splits.validation.y, validation_scores, candidate.fbeta)
        grid = curve_thresholds(splits.validation.y, validation_scores)
    else:
        log_prior = info.log_prior()
        offset = candidate.tau * log_prior
    figures, curves = {}, {}
    for name, split, split_scores in (
        ("validation", splits.validation, validation_scores),
        ("test", splits.test, test_scores),
    ):
        figures[name] = evaluate(
            split.y, split_scores, task=info.task, average=info.average,
            threshold=thresholds if thresholds is not None else candidate.threshold,
            offset=offset,
        )
        if info.task == "multilabel":
            curves[name] = pr_curve(split.y, split_scores, grid, average=info.average)
        else:
            curves[name] = adjustment_curve(
                split.y, split_scores, log_prior, default_tau_grid(), average=info.average
            )
    return TrialRecord(
        number=number,
        candidate=candidate,
        weights=tuple(float(w) for w in weights),
        validation=figures["validation"],
        test=figures["test"],
        validation_curve=curves["validation"],
        test_curve=curves["test"],
        diverged=bool(scores.diverged[member]),
        train_seconds=scores.seconds / scores.validation.shape[0],
        packed_members=int(scores.validation.shape[0]),
        thresholds=None if thresholds is None else tuple(float(t) for t in thresholds),
        cost_matrix=cost_matrix if candidate.class_weighting == "cost_matrix" else None,
    )
