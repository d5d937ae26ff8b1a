"""Evaluation: decision rules, recall and precision, PR curves, the Pareto front and its
hypervolume, and the calibration of the probabilities (Brier score, ECE), all from stored
scores, which is why a decision rule is never a reason to retrain.

Pure NumPy: this package never imports Keras or TensorFlow.
"""

from __future__ import annotations

from sweeper.evaluation._bootstrap import (
    CONFIDENCE,
    RESAMPLES,
    ChoiceComparison,
    bootstrap_f1,
    compare_choice,
    decode_resampled,
    encode_resampled,
    paired_differences,
    resample_weights,
)
from sweeper.evaluation._calibration import (
    CALIBRATION_BINS,
    Calibration,
    brier_score,
    calibration,
    expected_calibration_error,
)
from sweeper.evaluation._curves import (
    CURVE_POINTS,
    PRCurve,
    adjustment_curve,
    curve_thresholds,
    default_tau_grid,
    fbeta_thresholds,
    pr_curve,
    ranking_front,
    validation_curve,
)
from sweeper.evaluation._decision import (
    Constraints,
    fbeta,
    predict,
    probabilities,
    sigmoid,
    softmax,
)
from sweeper.evaluation._metrics import FIGURE_DECIMALS, Evaluation, confusion_counts, evaluate
from sweeper.evaluation._pareto import hypervolume_2d, pareto_front

__all__ = [
    "CALIBRATION_BINS",
    "CONFIDENCE",
    "CURVE_POINTS",
    "FIGURE_DECIMALS",
    "RESAMPLES",
    "Calibration",
    "ChoiceComparison",
    "Constraints",
    "Evaluation",
    "PRCurve",
    "adjustment_curve",
    "bootstrap_f1",
    "brier_score",
    "calibration",
    "compare_choice",
    "confusion_counts",
    "curve_thresholds",
    "decode_resampled",
    "default_tau_grid",
    "encode_resampled",
    "evaluate",
    "expected_calibration_error",
    "fbeta",
    "fbeta_thresholds",
    "hypervolume_2d",
    "paired_differences",
    "pareto_front",
    "pr_curve",
    "predict",
    "probabilities",
    "ranking_front",
    "resample_weights",
    "sigmoid",
    "softmax",
    "validation_curve",
]
