"""The search space: weight families and normalisations (pure NumPy), and the candidate a trial
draws from the sampler. The weight families (:data:`FAMILY_REGISTRY`) are a registry: one entry
each says what it searches, computes, shows in tables and exports; the remedies are
:mod:`sweeper.remedies`.

Pure NumPy and Optuna: this package never imports Keras or TensorFlow.
"""

from __future__ import annotations

from sweeper.search._families import (
    FAMILY_REGISTRY,
    SKLEARN_BALANCED,
    WeightFamily,
    binary_weight_pair,
    searchable_families,
    weight_family,
    weight_vector,
)
from sweeper.search._space import (
    MAX_PER_LABEL_MULTIPLIERS,
    Candidate,
    batch_loss_parameters,
    check_search,
    space_distributions,
    suggest_candidate,
)
from sweeper.search._weights import (
    effective_number,
    frequency_buckets,
    inverse_frequency,
    multiclass_loss_weights,
    multilabel_loss_weights,
    normalise,
    sklearn_balanced,
)

__all__ = [
    "FAMILY_REGISTRY",
    "MAX_PER_LABEL_MULTIPLIERS",
    "SKLEARN_BALANCED",
    "Candidate",
    "WeightFamily",
    "batch_loss_parameters",
    "binary_weight_pair",
    "check_search",
    "effective_number",
    "frequency_buckets",
    "inverse_frequency",
    "multiclass_loss_weights",
    "multilabel_loss_weights",
    "normalise",
    "searchable_families",
    "sklearn_balanced",
    "space_distributions",
    "suggest_candidate",
    "weight_family",
    "weight_vector",
]
