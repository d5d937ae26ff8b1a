"""The search space: weight families and normalisations (pure NumPy), and the candidate a trial
draws from the sampler.

Pure NumPy and Optuna: this package never imports Keras or TensorFlow.
"""

from __future__ import annotations

from sweeper.search._remedies import (
    NEUTRAL,
    REMEDY_REGISTRY,
    Remedy,
    switch_epoch,
    training_log_prior,
)
from sweeper.search._space import (
    FAMILY_SEARCH,
    MAX_PER_LABEL_MULTIPLIERS,
    SKLEARN_BALANCED,
    Candidate,
    batch_loss_parameters,
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
    "FAMILY_SEARCH",
    "MAX_PER_LABEL_MULTIPLIERS",
    "NEUTRAL",
    "REMEDY_REGISTRY",
    "SKLEARN_BALANCED",
    "Candidate",
    "Remedy",
    "batch_loss_parameters",
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
    "switch_epoch",
    "training_log_prior",
    "weight_vector",
]
