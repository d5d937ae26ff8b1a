"""``ldam_drw``: the label-distribution-aware margin loss with deferred re-weighting (LDAM-DRW,
Cao et al. 2019), for multi-class targets.

Class ``j`` with ``n_j`` training rows gets the margin ``Delta_j = max_margin * (n_j /
n_min)^(-1/4)`` (proportional to ``n_j^(-1/4)``, the rarest class's being ``max_margin``); a
row of class ``y`` with logits ``z`` has the weighted softmax cross-entropy of
``logit_scale * (z - Delta_y onehot(y))``. The weights are deferred as DRW's (unweighted until
the searched switch, as the paper trains it).

The paper applies the loss to cosine logits (normalised features and weights) with ``s = 30``.
The sweeper's models end in a plain Dense layer, whose logits have no fixed scale, so the scale
``s`` is searched with the margin rather than fixed; the baseline keeps the paper's margin 0.5
and switch at 80% of the epochs (160 of 200) with its class-balanced weights (effective number,
beta 0.9999), on the logits as they are (``s = 1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sweeper.config._vocabulary import Task
from sweeper.remedies._remedy import Baseline, LossContext, Remedy, Searched

__all__ = ["LabelDistributionAwareMargin", "ldam_margins"]


def ldam_margins(counts: np.ndarray, max_margin: float) -> np.ndarray:
    """Each class's margin, ``max_margin * (n_j / n_min)^(-1/4)`` (a class without rows counts
    as one row)."""
    scaled = np.maximum(np.asarray(counts, dtype=np.float64).reshape(-1), 1.0) ** -0.25
    return max_margin * scaled / scaled.max()


class LabelDistributionAwareMargin(Remedy):
    name = "ldam_drw"
    title = "LDAM-DRW"
    tasks = (Task.MULTICLASS,)
    defers = True
    own_searched = (
        Searched("max_margin", (0.1, 2.0), 0.0, 10.0,
                 "ldam_drw: range of the rarest class's margin (each class's is proportional "
                 "to n_j^(-1/4))", log=True, open_low=True),
        Searched("logit_scale", (1.0, 30.0), 0.0, 100.0,
                 "ldam_drw: range of the scale s of the margin-adjusted logits",
                 log=True, open_low=True),
    )
    description = ("LDAM-DRW (Cao et al. 2019): the weighted softmax cross-entropy of "
                   "logit_scale * (z - margin_y onehot(y)), margin_j proportional to "
                   "n_j^(-1/4) with the rarest class's max_margin; unweighted for the first "
                   "switch_epoch epochs, then weighted (DRW): ExportedWeights.loss("
                   "weighted=False) and weight_schedule().")

    def member_parameters(self, values: Mapping[str, float],
                          context: LossContext) -> dict[str, np.ndarray]:
        return {"margin": ldam_margins(context.counts, values["max_margin"]),
                "logit_scale": np.asarray(values["logit_scale"], dtype=np.float64)}

    def member_losses(self, task: Task, targets: Any, logits: Any, weights: Any,
                      parameters: Mapping[str, Any]) -> Any:
        from keras import ops

        from sweeper.remedies._losses import cost_weighted_softmax_cross_entropy

        shifted = logits - parameters["margin"] * ops.expand_dims(targets, 1)
        scaled = ops.expand_dims(parameters["logit_scale"], -1) * shifted
        return cost_weighted_softmax_cross_entropy(targets, scaled, weights)

    def baselines(self, task: Task) -> tuple[Baseline, ...]:
        return (Baseline("ldam_drw", "LDAM-DRW (margin 0.5, DRW at 80%)",
                         {"max_margin": 0.5, "logit_scale": 1.0, "switch_fraction": 0.8},
                         {"family": "effective_number", "exponent": None, "beta": 0.9999,
                          "normalisation": "mean_one"}),)

    def summary(self, values: Mapping[str, float]) -> str:
        return (f"LDAM m={values['max_margin']:.2f} s={values['logit_scale']:.1f}, deferred "
                f"from {values['switch_fraction']:.0%}")

    def export(self, values: Mapping[str, float], context: LossContext, *,
               epochs: int | None) -> dict[str, Any]:
        return {**super().export(values, context, epochs=epochs),
                "margin": ldam_margins(context.counts, values["max_margin"]).tolist()}

    def export_parameters(self, document: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {"margin": np.asarray(document["margin"], dtype=np.float64),
                "logit_scale": np.asarray(float(document["logit_scale"]))}

    def export_schema(self) -> dict[str, Any]:
        schema = super().export_schema()
        schema["properties"]["margin"] = {
            "type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 2,
            "description": "each class's margin, from the training counts."}
        schema["required"].append("margin")
        return schema
