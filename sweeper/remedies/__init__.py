"""The remedies: how a trial's weight vector trains, one module each.

:data:`REMEDIES` is the registry every layer reads: the ``[search]`` options and their checks,
the candidate a trial draws, the packed trainer's loss, a user's training step and the export's
Keras loss, the baselines, the tables and the export schema. Nothing else names a remedy.

**Adding a remedy** is one module in this folder: a :class:`Remedy` subclass that declares what
it searches (:class:`Searched`), writes its per-member loss in ``keras.ops``
(:meth:`Remedy.member_losses`) and, where it needs them, the arrays that loss reads, its Keras
loss, its baselines and its export fragment; plus one :func:`register_remedy` line below, and
its tests (``tests/remedies/``: hand-computed values, a packed member against a lone Keras
model, the export's round trip).

The registry imports NumPy only; the losses import Keras when they are computed.
"""

from __future__ import annotations

from sweeper.remedies._asymmetric import Asymmetric
from sweeper.remedies._deferred import DEFERRED_SWITCH, Deferred
from sweeper.remedies._focal import Focal
from sweeper.remedies._ldam import LabelDistributionAwareMargin, ldam_margins
from sweeper.remedies._logit_adjusted import LogitAdjusted
from sweeper.remedies._remedy import (
    SWITCH_FRACTION,
    Baseline,
    LossContext,
    Remedy,
    Searched,
    membership,
    switch_epoch,
    training_log_prior,
)
from sweeper.remedies._weights import Weights

__all__ = [
    "DEFERRED_SWITCH",
    "REMEDIES",
    "SWITCH_FRACTION",
    "Baseline",
    "LossContext",
    "Remedy",
    "Searched",
    "ldam_margins",
    "membership",
    "register_remedy",
    "remedy_named",
    "searched_options",
    "switch_epoch",
    "training_log_prior",
]

REMEDIES: dict[str, Remedy] = {}
"""The registered remedies by name, in registration order (``weights`` first)."""


def register_remedy(remedy: Remedy) -> Remedy:
    """Add ``remedy`` to :data:`REMEDIES`. Its name must be new, and a searched key it shares
    with another remedy must be the same declaration (one ``[search]`` option serves both)."""
    if remedy.name in REMEDIES:
        raise ValueError(f"a remedy named {remedy.name!r} is registered already.")
    known = searched_options()
    for searched in remedy.searched:
        if searched.key in known and known[searched.key] is not searched:
            raise ValueError(f"remedy {remedy.name!r} declares `{searched.key}` differently "
                             "from a registered remedy.")
    REMEDIES[remedy.name] = remedy
    return remedy


def remedy_named(name: str) -> Remedy:
    """The registered remedy ``name``; a :class:`KeyError` naming the known ones otherwise."""
    try:
        return REMEDIES[name]
    except KeyError:
        raise KeyError(f"unknown remedy {name!r}; the sweeper knows {list(REMEDIES)}.") from None


def searched_options() -> dict[str, Searched]:
    """Every registered remedy's searched parameters, by ``[search]`` key."""
    return {s.key: s for remedy in REMEDIES.values() for s in remedy.searched}


register_remedy(Weights())
register_remedy(Deferred())
register_remedy(Focal())
register_remedy(LogitAdjusted())
register_remedy(Asymmetric())
register_remedy(LabelDistributionAwareMargin())
