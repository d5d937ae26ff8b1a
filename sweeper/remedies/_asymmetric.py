"""``asymmetric``: the asymmetric loss for binary and multi-label targets (ASL, Ridnik et al.
2021).

Per label, with ``p = sigmoid(x)`` and the negatives' probability shifted by the margin
``clip``, ``p_m = max(p - clip, 0)``::

    L = q z (1 - p)^gamma_pos (-log p) + r (1 - z) p_m^gamma_neg (-log(1 - p_m))

``q`` and ``r`` the positives' and the negatives' weights (as ``pos_weight`` and
``neg_weight``). Easy negatives (``p < clip``) add nothing, and ``gamma_neg > gamma_pos``
down-weights the many easy negatives of a rare label more than its few positives.
``-log(1 - p_m)`` is taken with the authors' clamp (``1 - p_m >= 1e-8``); without a margin
(``clip = 0``) the loss is computed in the exact softplus form, ``gamma_neg = gamma_pos =
gamma`` then being the focal loss. The authors' defaults (4, 1, 0.05) are a baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweeper.config._vocabulary import Task
from sweeper.remedies._remedy import SIGMOID_TASKS, Baseline, Remedy, Searched

__all__ = ["Asymmetric"]

LOG_CLAMP = 1e-8
"""The smallest ``1 - p_m`` whose log is taken (the authors' ``eps``)."""
POWER_FLOOR = 1e-30
"""``p_m`` below this counts as 0 in ``p_m^gamma_neg`` (finite gradients at the margin)."""


class Asymmetric(Remedy):
    name = "asymmetric"
    title = "asymmetric loss (ASL)"
    tasks = SIGMOID_TASKS
    own_searched = (
        Searched("gamma_neg", (0.0, 6.0), 0.0, 10.0,
                 "asymmetric: range of the negatives' focusing exponent"),
        Searched("gamma_pos", (0.0, 2.0), 0.0, 10.0,
                 "asymmetric: range of the positives' focusing exponent"),
        Searched("clip", (0.0, 0.2), 0.0, 0.5,
                 "asymmetric: range of the negatives' probability margin (easy negatives "
                 "with p < clip add nothing)", open_high=True),
    )
    description = ("the asymmetric loss (ASL, Ridnik et al. 2021): q z (1 - p)^gamma_pos "
                   "(-log p) + r (1 - z) p_m^gamma_neg (-log(1 - p_m)), p_m = max(p - clip, "
                   "0), the weights as q (positives) and r (negatives).")

    def member_losses(self, task: Task, targets: Any, logits: Any, weights: Any,
                      parameters: Mapping[str, Any]) -> Any:
        from keras import ops

        from sweeper.remedies._losses import softplus_pair

        gamma_neg, gamma_pos, clip = (ops.expand_dims(parameters[key], -1)
                                      for key in ("gamma_neg", "gamma_pos", "clip"))
        minus_log_p, minus_log_not_p = softplus_pair(logits)
        positive = (weights[:, 0, :] * targets * ops.exp(-gamma_pos * minus_log_not_p)
                    * minus_log_p)
        shifted = ops.relu(ops.sigmoid(logits) - clip)
        clipped = clip > 0
        negative_log = ops.where(clipped, -ops.log(ops.maximum(1.0 - shifted, LOG_CLAMP)),
                                 minus_log_not_p)
        log_shifted = ops.where(clipped, ops.log(ops.maximum(shifted, POWER_FLOOR)),
                                -minus_log_p)
        negative = (weights[:, 1, :] * (1.0 - targets) * ops.exp(gamma_neg * log_shifted)
                    * negative_log)
        return ops.mean(positive + negative, axis=-1)

    def baselines(self, task: Task) -> tuple[Baseline, ...]:
        return (Baseline("asymmetric", "asymmetric loss (4, 1, 0.05)",
                         {"gamma_neg": 4.0, "gamma_pos": 1.0, "clip": 0.05}),)

    def summary(self, values: Mapping[str, float]) -> str:
        return (f"ASL g-={values['gamma_neg']:.2f} g+={values['gamma_pos']:.2f} "
                f"clip={values['clip']:.3f}")
