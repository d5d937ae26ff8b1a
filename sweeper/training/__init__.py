"""Training: the packed trainer (TensorFlow and JAX epoch loops), the built-in and packed models,
the weighted losses, and the pack size.

This is the only package that imports Keras (and through it TensorFlow or JAX); reports and
exports never import it. Keras's backend is chosen first (:func:`sweeper.backend.choose_backend`).
"""

from __future__ import annotations

from sweeper.backend import choose_backend

choose_backend()

from sweeper.training._losses import (
    CostSensitiveSparseCategoricalCrossentropy,
    WeightedBinaryCrossentropy,
    WeightedSparseCategoricalCrossentropy,
    cost_weighted_softmax_cross_entropy,
    packed_loss_per_row,
    weighted_sigmoid_cross_entropy,
    weighted_softmax_cross_entropy,
)
from sweeper.training._models import (
    ModelFactory,
    PackedMLP,
    build_mlp,
    build_packed_model,
    check_factory,
    load_factory,
    pack_factory_models,
)
from sweeper.training._optimizers import build_optimizer, clip_per_member
from sweeper.training._packing import (
    MAX_PACK_CPU,
    MAX_PACK_GPU,
    available_memory_bytes,
    check_fits,
    choose_pack,
    member_bytes,
    pack_size,
)
from sweeper.training._trainer import (
    PackedScores,
    PackedTrainer,
    batch_order,
    fit_plain,
    train_and_score,
)

__all__ = [
    "MAX_PACK_CPU",
    "MAX_PACK_GPU",
    "CostSensitiveSparseCategoricalCrossentropy",
    "ModelFactory",
    "PackedMLP",
    "PackedScores",
    "PackedTrainer",
    "WeightedBinaryCrossentropy",
    "WeightedSparseCategoricalCrossentropy",
    "available_memory_bytes",
    "batch_order",
    "build_mlp",
    "build_optimizer",
    "build_packed_model",
    "check_factory",
    "check_fits",
    "choose_pack",
    "clip_per_member",
    "cost_weighted_softmax_cross_entropy",
    "fit_plain",
    "load_factory",
    "member_bytes",
    "pack_factory_models",
    "pack_size",
    "packed_loss_per_row",
    "train_and_score",
    "weighted_sigmoid_cross_entropy",
    "weighted_softmax_cross_entropy",
]
