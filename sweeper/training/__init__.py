"""Training: the :class:`Trainer` seam and its two implementations (the packed trainer with its
TensorFlow and JAX epoch loops; the user's own training step), the built-in and packed models,
the packed loss (each member's remedy's), the optimizer, and the pack size.

This is the only package that imports Keras (and through it TensorFlow or JAX); reports and
exports never import it. Keras's backend is chosen first (:func:`sweeper.backend.choose_backend`).
"""

from __future__ import annotations

from sweeper.backend import choose_backend

choose_backend()

from sweeper.remedies._losses import (
    CostSensitiveSparseCategoricalCrossentropy,
    FocalBinaryCrossentropy,
    FocalSparseCategoricalCrossentropy,
    LogitAdjustedBinaryCrossentropy,
    LogitAdjustedSparseCategoricalCrossentropy,
    RemedyLoss,
    WeightedBinaryCrossentropy,
    WeightedSparseCategoricalCrossentropy,
    cost_weighted_softmax_cross_entropy,
    focal_factor,
    focal_sigmoid_cross_entropy,
    weighted_sigmoid_cross_entropy,
    weighted_softmax_cross_entropy,
)
from sweeper.training._batches import batch_order, fit_plain
from sweeper.training._fit import FitArguments, FitStep, FitTrainer, check_fit
from sweeper.training._interface import BatchScores, Trainer, TrainingProgress
from sweeper.training._losses import (
    SCHEDULE_PARAMETERS,
    LossParameters,
    TrainingLoss,
    as_loss_parameters,
    loss_for,
    packed_loss_per_row,
    packed_member_losses,
    remedies_in,
)
from sweeper.training._models import (
    ModelFactory,
    PackedMLP,
    adapt_factory,
    build_mlp,
    build_packed_model,
    check_factory,
    load_factory,
    model_input_dtype,
    pack_factory_models,
)
from sweeper.training._optimizers import build_optimizer, clip_per_member
from sweeper.training._packed import PackedTrainer, train_and_score
from sweeper.training._packing import (
    MAX_PACK_CPU,
    MAX_PACK_GPU,
    available_memory_bytes,
    check_fits,
    choose_pack,
    member_bytes,
    pack_size,
)

__all__ = [
    "MAX_PACK_CPU",
    "MAX_PACK_GPU",
    "SCHEDULE_PARAMETERS",
    "BatchScores",
    "CostSensitiveSparseCategoricalCrossentropy",
    "FitArguments",
    "FitStep",
    "FitTrainer",
    "FocalBinaryCrossentropy",
    "FocalSparseCategoricalCrossentropy",
    "LogitAdjustedBinaryCrossentropy",
    "LogitAdjustedSparseCategoricalCrossentropy",
    "LossParameters",
    "ModelFactory",
    "PackedMLP",
    "PackedTrainer",
    "RemedyLoss",
    "Trainer",
    "TrainingLoss",
    "TrainingProgress",
    "WeightedBinaryCrossentropy",
    "WeightedSparseCategoricalCrossentropy",
    "adapt_factory",
    "as_loss_parameters",
    "available_memory_bytes",
    "batch_order",
    "build_mlp",
    "build_optimizer",
    "build_packed_model",
    "check_factory",
    "check_fit",
    "check_fits",
    "choose_pack",
    "clip_per_member",
    "cost_weighted_softmax_cross_entropy",
    "fit_plain",
    "focal_factor",
    "focal_sigmoid_cross_entropy",
    "load_factory",
    "loss_for",
    "member_bytes",
    "model_input_dtype",
    "pack_factory_models",
    "pack_size",
    "packed_loss_per_row",
    "packed_member_losses",
    "remedies_in",
    "train_and_score",
    "weighted_sigmoid_cross_entropy",
    "weighted_softmax_cross_entropy",
]
