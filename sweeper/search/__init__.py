"""The search space: weight families and normalisations (pure NumPy), and the candidate a trial
draws from the sampler.

Pure NumPy and Optuna: this package never imports Keras or TensorFlow.
"""

from __future__ import annotations

from sweeper.search._space import (
    MAX_PER_LABEL_MULTIPLIERS,
    SKLEARN_BALANCED,
    Candidate,
    check_search,
    space_distributions,
    suggest_candidate,
)
from sweeper.search._weights import (
    binary_weight_pair,
    effective_number,
    frequency_buckets,
    inverse_frequency,
    multiclass_loss_weights,
    multilabel_loss_weights,
    normalise,
    sklearn_balanced,
    weight_vector,
)

__all__ = [
    "MAX_PER_LABEL_MULTIPLIERS",
    "SKLEARN_BALANCED",
    "Candidate",
    "binary_weight_pair",
    "check_search",
    "effective_number",
    "frequency_buckets",
    "inverse_frequency",
    "multiclass_loss_weights",
    "multilabel_loss_weights",
    "normalise",
    "sklearn_balanced",
    "space_distributions",
    "suggest_candidate",
    "weight_vector",
]
