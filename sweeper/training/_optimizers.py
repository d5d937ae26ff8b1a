"""The optimizer a trial trains with, as ``[model]`` sets it: its kind and arguments, the
learning rate's schedule over the trial's epochs, gradient clipping.

:func:`build_optimizer` gives what a lone Keras model compiled with the same settings gets;
the sweeper's own training builds it without the clipping (``clipping=False``) and clips each
packed member's gradient itself (:func:`clip_per_member`), since Keras would clip the packed
network's gradient as one: a norm over every member together, not each member's own.
Everything else an optimizer does is per variable element (Adam's moments, SGD's momentum,
AdamW's decay), so each member of a packed network gets exactly its lone model's updates; a
schedule advances once per step, as every member steps together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from sweeper.config import CLIP_KEYS, ModelConfig

__all__ = [
    "OPTIMIZER_CLASSES",
    "MemberDecay",
    "build_optimizer",
    "clip_per_member",
    "learning_rate_schedule",
]

DEFAULT_DECAY_RATE = 0.9
"""``[model] schedule = "exponential"`` without ``decay_rate``: the rate shrinks by a tenth per
epoch."""


def learning_rate_schedule(model: ModelConfig, *, steps_per_epoch: int, epochs: int) -> Any:
    """``[model] learning_rate`` over ``epochs`` of ``steps_per_epoch`` steps, as ``[model]
    schedule`` shapes it: a number (constant) or a Keras schedule."""
    rate = model.learning_rate
    schedule = model.schedule.kwargs
    total = max(steps_per_epoch * epochs, 1)
    if model.schedule.name == "cosine":
        warmup = min(int(schedule.get("warmup_epochs", 0)) * steps_per_epoch, total - 1)
        alpha = float(schedule.get("alpha", 0.0))
        if warmup:
            return keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=total - warmup, alpha=alpha, warmup_target=rate,
                warmup_steps=warmup,
            )
        return keras.optimizers.schedules.CosineDecay(rate, decay_steps=total, alpha=alpha)
    if model.schedule.name == "exponential":
        decay_rate = float(schedule.get("decay_rate", DEFAULT_DECAY_RATE))
        return keras.optimizers.schedules.ExponentialDecay(
            rate, decay_steps=steps_per_epoch, decay_rate=decay_rate
        )
    return rate


OPTIMIZER_CLASSES = {
    "adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad",
    "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "Nadam", "ftrl": "Ftrl", "lion": "Lion",
}
"""The Keras class of each optimizer a study may name (:data:`sweeper.config.OPTIMIZERS`),
built from its class rather than through ``keras.optimizers.get``, which does not know every
Keras optimizer by name (``lamb``)."""


def build_optimizer(
    model: ModelConfig, *, steps_per_epoch: int, epochs: int, clipping: bool = True,
    weight_decay: float | None = None,
) -> keras.optimizers.Optimizer:
    """A fresh Keras optimizer of ``[model] optimizer`` with its arguments, the learning rate
    and its schedule, (``clipping``) the gradient clipping, and a trial's searched
    ``weight_decay`` in place of the optimizer's own. An argument the optimizer does not take
    is a :class:`~sweeper.errors.ConfigError` naming ``[model] optimizer``."""
    kind = getattr(keras.optimizers, OPTIMIZER_CLASSES[model.optimizer.name])
    arguments = dict(model.optimizer.kwargs)
    if weight_decay is not None:
        arguments["weight_decay"] = weight_decay
    if clipping:
        arguments.update({key: getattr(model, key) for key in CLIP_KEYS
                          if getattr(model, key) is not None})
    rate = learning_rate_schedule(model, steps_per_epoch=steps_per_epoch, epochs=epochs)
    try:
        return kind(learning_rate=rate, **arguments)
    except (TypeError, ValueError) as error:
        raise ModelConfig.fail(
            "optimizer", f"{model.optimizer.name!r} refused its arguments "
            f"{model.optimizer.kwargs}: {str(error).splitlines()[0]}"
        ) from None


class MemberDecay:
    """Keras's decoupled weight decay (``variable -= variable * weight_decay * lr``, before each
    update), with each packed member's own ``weight_decay``: installed in the packed
    optimizer in place of its ``_apply_weight_decay``, so the update runs where Keras runs it,
    at its learning rate of the step, and a member decays as its lone model with
    ``weight_decay`` would. The step sets :attr:`current` (``(network members,)``) before the
    update; ``None``: the optimizer's own decay, if any."""

    def __init__(self, optimizer: keras.optimizers.Optimizer, owners: Sequence[int | None],
                 members: int) -> None:
        self.optimizer = optimizer
        self.owners = list(owners)
        self.members = members
        self.current: Any = None
        self.own = optimizer._apply_weight_decay
        optimizer._apply_weight_decay = self

    def __call__(self, variables: Sequence[Any]) -> None:
        if self.current is None:
            self.own(variables)
            return
        lr = self.optimizer.learning_rate
        for variable, owner in zip(variables, self.owners, strict=True):
            decay = keras.ops.cast(self.current, variable.dtype)
            if owner is None:  # member-major: one decay per slice of the first axis
                decay = keras.ops.reshape(decay, (self.members,) + (1,) * (
                    len(variable.shape) - 1))
            else:
                decay = decay[owner]
            variable.assign(variable - variable * decay * keras.ops.cast(lr, variable.dtype))


def clip_per_member(
    gradients: Sequence[Any],
    owners: Sequence[int | None],
    members: int,
    model: ModelConfig,
) -> list[Any]:
    """Each member's gradient clipped as Keras clips a lone model's (``clipnorm``: each
    variable's by its norm; ``global_clipnorm``: all of the member's variables by their joint
    norm; ``clipvalue``: each entry). ``owners[i]`` is the member that owns variable ``i``
    whole, or ``None`` when its first axis is the member axis (the built-in packed MLP)."""
    gradients = list(gradients)
    ops = keras.ops
    if model.clipvalue is not None:
        return [ops.clip(g, -model.clipvalue, model.clipvalue) for g in gradients]
    if model.clipnorm is None and model.global_clipnorm is None:
        return gradients

    def squares(gradient: Any, owner: int | None) -> Any:
        """``(members,)`` or a scalar: the gradient's sum of squares per member."""
        if owner is None:
            return ops.sum(ops.reshape(ops.square(gradient), (members, -1)), axis=1)
        return ops.sum(ops.square(gradient))

    def scaled(gradient: Any, owner: int | None, factor: Any) -> Any:
        """``gradient`` times a per-member ``(members,)`` factor (a scalar when owned)."""
        if owner is None:
            shape = (members,) + (1,) * (len(gradient.shape) - 1)
            return gradient * ops.reshape(factor, shape)
        return gradient * factor

    if model.clipnorm is not None:
        clip = model.clipnorm
        clipped = []
        for gradient, owner in zip(gradients, owners, strict=True):
            norm = ops.sqrt(squares(gradient, owner))
            clipped.append(scaled(gradient, owner, clip / ops.maximum(norm, clip)))
        return clipped
    global_clip = model.global_clipnorm
    assert global_clip is not None  # clipnorm and clipvalue were None above
    total = ops.zeros((members,))
    for gradient, owner in zip(gradients, owners, strict=True):
        part = squares(gradient, owner)  # an owned variable adds to its member's entry only
        total = total + (part if owner is None else ops.one_hot(owner, members) * part)
    factor = global_clip / ops.maximum(ops.sqrt(total), global_clip)
    return [
        scaled(gradient, owner, factor if owner is None else factor[owner])
        for gradient, owner in zip(gradients, owners, strict=True)
    ]
