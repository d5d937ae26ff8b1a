"""Scoring: a trained member's validation and test scores turned into a trial record.

Trials and baselines are scored by the same function, so a baseline differs from a trial only in
its weights.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from sweeper.config import Split
from sweeper.data import Splits
from sweeper.evaluation import (
    Calibration,
    Evaluation,
    PRCurve,
    adjustment_curve,
    bootstrap_f1,
    default_tau_grid,
    evaluate,
    fbeta_thresholds,
    pr_curve,
    predict,
    resample_weights,
    validation_curve,
)
from sweeper.search import Candidate
from sweeper.study._front import best_point
from sweeper.study._records import ResampledF1, StudyInfo, TrialRecord

if TYPE_CHECKING:  # training imports TensorFlow; reports read baselines without it
    from sweeper.training import BatchScores

__all__ = ["record_member", "resampled_f1"]


def record_member(
    *,
    info: StudyInfo,
    splits: Splits,
    scores: BatchScores,
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
    (multi-class), so a point chosen on validation can be read on test. Under cross-validation
    the validation scores are out of fold, and each validation figure carries its spread across
    the folds.

    The record also holds the calibration of the member's probabilities on each split (Brier
    score and ECE, :class:`~sweeper.evaluation.Calibration`): of the model, not of a decision,
    so one per trial whatever its threshold or tau (for multi-class the unadjusted softmax's);
    under cross-validation, of the pooled out-of-fold validation scores and of the fold
    members' mean test probabilities.
    """
    member_scores = {Split.VALIDATION: scores.validation[member], Split.TEST: scores.test[member]}
    validation = splits.held_out(Split.VALIDATION)
    thresholds = offset = log_prior = None
    sigmoid = info.task.sigmoid  # binary: one label's threshold and curve
    if sigmoid:
        if candidate.threshold_rule == "per_label":
            assert candidate.fbeta is not None  # the per_label rule comes with its fbeta
            thresholds = fbeta_thresholds(
                validation.y, member_scores[Split.VALIDATION], candidate.fbeta
            )
        # The stored thresholds and the validation curve at them, from one sort of its pairs.
        grid, read_curve = validation_curve(validation.y, member_scores[Split.VALIDATION],
                                            average=info.average)
    else:
        log_prior = info.log_prior()
        offset = candidate.tau * log_prior

    def figures_of(truth: np.ndarray, split_scores: np.ndarray,
                   curve: PRCurve | None = None) -> tuple[Evaluation, PRCurve]:
        evaluation = evaluate(
            truth, split_scores, task=info.task, average=info.average,
            threshold=thresholds if thresholds is not None else candidate.threshold,
            offset=offset,
        )
        if sigmoid:
            if curve is None:
                curve = pr_curve(truth, split_scores, grid, average=info.average)
            return evaluation, curve
        assert log_prior is not None  # set above for a multi-class task
        return evaluation, adjustment_curve(
            truth, split_scores, log_prior, default_tau_grid(), average=info.average
        )

    figures, curves = {}, {}
    for split in Split:
        figures[split], curves[split] = figures_of(
            splits.held_out(split).y, member_scores[split],
            read_curve if sigmoid and split is Split.VALIDATION else None)
    if splits.folds is not None:  # the validation figures' spread across folds
        per_fold = [
            figures_of(validation.y[rows], member_scores[Split.VALIDATION][rows])
            for rows in (splits.folds == k for k in range(splits.n_folds))
        ]
        figures[Split.VALIDATION] = figures[Split.VALIDATION].with_spread(
            [evaluation for evaluation, _ in per_fold]
        )
        curves[Split.VALIDATION] = curves[Split.VALIDATION].with_spread(
            [curve for _, curve in per_fold]
        )
    record = TrialRecord(
        number=number,
        candidate=candidate,
        weights=tuple(float(w) for w in weights),
        validation=figures[Split.VALIDATION],
        test=figures[Split.TEST],
        validation_curve=curves[Split.VALIDATION],
        test_curve=curves[Split.TEST],
        diverged=bool(scores.diverged[member]),
        train_seconds=scores.seconds / scores.validation.shape[0],
        packed_members=int(scores.validation.shape[0]),
        epochs=None if scores.epochs is None else int(scores.epochs[member]),
        thresholds=None if thresholds is None else tuple(float(t) for t in thresholds),
        cost_matrix=cost_matrix if candidate.class_weighting == "cost_matrix" else None,
        calibration={
            split: Calibration.of(splits.held_out(split).y, member_scores[split], info.task)
            for split in Split
        },
    )
    if record.diverged:
        return record
    return dataclasses.replace(record, resampled=resampled_f1(
        record, validation.y, member_scores[Split.VALIDATION], info))


def resampled_f1(record: TrialRecord, y_true: np.ndarray, scores: np.ndarray,
                 info: StudyInfo) -> ResampledF1:
    """The record's validation F1 at its best operating point (as the recommendation takes
    it), measured and under each of the study's bootstrap resamples of the validation rows
    (the same for every trial and baseline: :func:`~sweeper.evaluation.resample_weights`)."""
    point = best_point(record)
    if info.task.sigmoid:
        threshold = point.threshold
        assert threshold is not None  # a sigmoid task's point has a threshold
        decisions = predict(scores, info.task, threshold=threshold)
    else:
        assert point.tau is not None  # a multi-class point has a tau
        decisions = predict(scores, info.task, offset=point.tau * info.log_prior())
    weights = resample_weights(len(y_true), info.seed)
    return ResampledF1(index=point.index, f1=point.f1(),
                       values=bootstrap_f1(y_true, decisions, info.task, info.average, weights))
