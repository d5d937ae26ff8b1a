"""Evaluation: decision rules, recall and precision, PR curves, the Pareto front and its
hypervolume, all from stored scores, which is why a decision rule is never a reason to retrain.

Pure NumPy: this package never imports Keras or TensorFlow.
"""

from __future__ import annotations

from sweeper.evaluation._curves import (
    CURVE_POINTS,
    PRCurve,
    adjustment_curve,
    curve_thresholds,
    default_tau_grid,
    fbeta_thresholds,
    pr_curve,
    ranking_front,
)
from sweeper.evaluation._decision import (
    Constraints,
    fbeta,
    predict,
    probabilities,
    sigmoid,
    softmax,
)
from sweeper.evaluation._metrics import Evaluation, confusion_counts, evaluate
from sweeper.evaluation._pareto import hypervolume_2d, pareto_front

__all__ = [
    "CURVE_POINTS",
    "Constraints",
    "Evaluation",
    "PRCurve",
    "adjustment_curve",
    "confusion_counts",
    "curve_thresholds",
    "default_tau_grid",
    "evaluate",
    "fbeta",
    "fbeta_thresholds",
    "hypervolume_2d",
    "pareto_front",
    "pr_curve",
    "predict",
    "probabilities",
    "ranking_front",
    "sigmoid",
    "softmax",
]
