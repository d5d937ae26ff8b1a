"""What the tests share besides fixtures: data makers, the study-file template, helpers for
processes, the servers the tests own, a fake trainer and the tiers plugin."""

from tests.support.data import STUDY_TEMPLATE, make_multiclass_arrays, make_multilabel_arrays
from tests.support.processes import free_port, running_dashboard

__all__ = [
    "STUDY_TEMPLATE",
    "free_port",
    "make_multiclass_arrays",
    "make_multilabel_arrays",
    "running_dashboard",
]
