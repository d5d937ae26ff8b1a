"""``logit_adjusted``: logit-adjusted training (Menon et al. 2021).

The weighted loss of ``logits + tau_train * log_prior`` during training, ``log_prior`` each
class's ``log pi`` (multi-class) or each label's log prior odds ``log(pi / (1 - pi))`` (binary
and multi-label, :func:`~sweeper.remedies.training_log_prior`); balanced softmax (Ren et al.
2020) is ``tau_train = 1`` with no weights. The model's own logits are decided on, with the
post-hoc adjustment (multi-class ``tau``) or threshold still searched on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sweeper.config._vocabulary import Task
from sweeper.remedies._remedy import (
    Baseline,
    LossContext,
    Remedy,
    Searched,
    training_log_prior,
)
from sweeper.remedies._weights import Weights

if TYPE_CHECKING:
    import keras

__all__ = ["LogitAdjusted"]


class LogitAdjusted(Remedy):
    name = "logit_adjusted"
    title = "logit-adjusted loss"
    own_searched = (Searched(
        "tau_train", (0.0, 2.0), 0.0, 10.0,
        "logit_adjusted: range of tau in the training loss CE(z + tau log-prior); 1 is the "
        "balanced softmax"),)
    description = ("logit-adjusted training (Menon et al. 2021): the loss of logits + "
                   "tau_train * log_prior during training only (log_prior: per class log pi, "
                   "or per label the log prior odds log(pi / (1 - pi))); the model's own "
                   "logits are decided on, with the post-hoc logit_adjustment or threshold.")

    def member_parameters(self, values: Mapping[str, float],
                          context: LossContext) -> dict[str, np.ndarray]:
        return {"tau_train": np.asarray(values["tau_train"], dtype=np.float64),
                "log_prior": training_log_prior(context.counts, context.n_samples,
                                                context.task)}

    def member_losses(self, task: Task, targets: Any, logits: Any, weights: Any,
                      parameters: Mapping[str, Any]) -> Any:
        from keras import ops

        shift = ops.expand_dims(parameters["tau_train"], -1) * parameters["log_prior"]
        return Weights().member_losses(task, targets, logits + shift, weights, parameters)

    def keras_loss(self, task: Task, weights: np.ndarray,
                   parameters: Mapping[str, np.ndarray]) -> keras.losses.Loss:
        from sweeper.remedies import _losses

        weights = np.asarray(weights, dtype=np.float64)
        prior = np.asarray(parameters["log_prior"], dtype=np.float64).tolist()
        tau = float(parameters["tau_train"])
        if Task(task).sigmoid:
            return _losses.LogitAdjustedBinaryCrossentropy(
                pos_weight=weights[0], neg_weight=weights[1], log_prior=prior, tau=tau)
        return _losses.LogitAdjustedSparseCategoricalCrossentropy(weights, log_prior=prior,
                                                                  tau=tau)

    def baselines(self, task: Task) -> tuple[Baseline, ...]:
        if Task(task).sigmoid:
            return (Baseline("logit_adjusted", "logit-adjusted loss (tau 1)",
                             {"tau_train": 1.0}),)
        return (Baseline("balanced_softmax", "balanced softmax", {"tau_train": 1.0}),)

    def summary(self, values: Mapping[str, float]) -> str:
        return f"logit-adjusted t={values['tau_train']:.2f}"

    def export(self, values: Mapping[str, float], context: LossContext, *,
               epochs: int | None) -> dict[str, Any]:
        return {**super().export(values, context, epochs=epochs),
                "log_prior": training_log_prior(context.counts, context.n_samples,
                                                context.task).tolist()}

    def export_parameters(self, document: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {"tau_train": np.asarray(float(document["tau_train"])),
                "log_prior": np.asarray(document["log_prior"], dtype=np.float64)}

    def export_schema(self) -> dict[str, Any]:
        schema = super().export_schema()
        schema["properties"]["log_prior"] = {
            "type": "array", "items": {"type": "number"}, "minItems": 1,
            "description": "what tau_train multiplies, one value per label or class."}
        schema["required"].append("log_prior")
        return schema
