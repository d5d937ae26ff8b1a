"""The exported JSON document of one operating point, checked against its schema.

The schema ships with the package (``schema.json``) and is checked both when a document is
written and when it is read. An operating point is a trial at its own decision or at a point of
its stored curve (chosen by :func:`sweeper.study.select_point`), so an export may keep a trial's
weights and choose another threshold.

A binary study's document has ``task: "binary"``, ``labels`` the positive class's name,
``positive_label`` and ``negative_label`` (the user's two values), a scalar ``pos_weight`` (and
``neg_weight`` where the loss weighs the negatives' term by another value than 1) and a scalar
``threshold``. The schema's version stays 1: it only gained the binary form, and every
document written before still validates.

``remedy`` (issue 20) says how the weights train: its ``name`` and what the remedy writes
(:meth:`sweeper.remedies.Remedy.export`: ``{"name": "weights"}`` from the first epoch,
``deferred`` with ``switch_fraction`` and ``switch_epoch``, ``focal`` with ``gamma``...). Its
schema is each registered remedy's fragment (:meth:`~sweeper.remedies.Remedy.export_schema`),
joined into ``schema.json``'s ``remedy`` when the schema loads. It is optional (a document
written before remedies has none and reads as ``weights``), so the version stays 1 again.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from sweeper.config import Split, Task
from sweeper.errors import ExportError
from sweeper.files import write_text_atomic
from sweeper.remedies import REMEDIES, LossContext, remedy_named
from sweeper.search import weight_family
from sweeper.study import OperatingPoint, StudyInfo, TrialRecord, redact

__all__ = [
    "SCHEMA_VERSION",
    "export_document",
    "export_schema",
    "validate_export",
    "write_export",
]

SCHEMA_VERSION = 1


@cache
def export_schema() -> dict[str, Any]:
    """The JSON Schema every exported document satisfies: ``schema.json`` with each registered
    remedy's fragment as a branch of ``remedy``."""
    text = resources.files("sweeper.export").joinpath("schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    remedy = schema["$defs"]["remedy"]
    remedy["oneOf"] = [entry.export_schema() for entry in REMEDIES.values()]
    remedy["properties"]["name"] = {"enum": list(REMEDIES)}
    return schema


def _schema_of(document: Any) -> dict[str, Any]:
    """The schema with its task branch chosen by the document's ``task`` and its remedy branch
    by its remedy's ``name``: the same verdict as the whole schema's ``oneOf`` (the other
    branches fail on ``task`` or ``name`` alone), but an error names the document's own field,
    not another branch's."""
    schema = export_schema()
    task = document.get("task") if isinstance(document, dict) else None
    branches = [branch for branch in schema["oneOf"]
                if branch["properties"]["task"].get("const") == task]
    if len(branches) == 1:
        schema = {**{key: value for key, value in schema.items() if key != "oneOf"},
                  "allOf": branches}
    remedy = document.get("remedy") if isinstance(document, dict) else None
    name = remedy.get("name") if isinstance(remedy, dict) else None
    if isinstance(name, str) and name in REMEDIES:
        own = {key: value for key, value in schema["$defs"]["remedy"].items() if key != "oneOf"}
        schema = {**schema, "$defs": {**schema["$defs"], "remedy": {
            **own, "allOf": [REMEDIES[name].export_schema()]}}}
    return schema


def validate_export(document: Any, where: str) -> None:
    """Raise :class:`~sweeper.errors.ExportError` naming the first schema violation."""
    errors = list(jsonschema.Draft202012Validator(_schema_of(document)).iter_errors(document))
    # A field's own error ("task" is not one of ...) says more than a branch that failed.
    direct = [e for e in errors if e.validator != "oneOf"]
    error = jsonschema.exceptions.best_match(direct or errors)
    if error is not None:
        location = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ExportError(f"{where}: invalid export at {location}: {error.message}",
                          key=location)


def _figures(point: OperatingPoint, split: Split) -> dict[str, Any]:
    """Figures at the point: a trial's own rule has per-label figures, a curve point has not."""
    if point.index is None:
        return point.record.evaluation(split).to_dict()
    recall, precision = point.figures(split)
    return {"recall": recall, "precision": precision, "f1": point.f1(split)}


def _negative_weights(record: TrialRecord, info: StudyInfo) -> dict[str, Any]:
    """``neg_weight`` where the loss weighs the negatives' term too (scikit-learn's balanced
    rule for labels; for binary also a normalisation of the pair); nothing where it is 1, as
    for every searched multi-label candidate. Binary: one number."""
    if not info.task.sigmoid:
        return {}
    counts = np.asarray(info.train_counts)
    negative = record.candidate.loss_weights(counts, info.n_train, info.task)[1]
    if np.all(negative == 1.0):
        return {}
    return {"neg_weight": float(negative[0]) if info.task == Task.BINARY
            else negative.tolist()}


def _binary_fields(record: TrialRecord, info: StudyInfo) -> dict[str, Any]:
    """A binary document's own fields: the scalar ``pos_weight`` and the user's two values."""
    assert info.classes is not None  # a binary study stores its two class values
    return {"pos_weight": float(record.weights[0]), "positive_label": info.positive_label,
            "negative_label": info.negative_label}


def _remedy(record: TrialRecord, info: StudyInfo) -> dict[str, Any]:
    """The ``remedy`` field: what the candidate's remedy exports of itself
    (``switch_epoch``: a share of the study's deferral length, when its epochs are a
    number)."""
    candidate = record.candidate
    has_epochs = isinstance(info.model.get("epochs"), int)
    context = LossContext(np.asarray(info.train_counts), info.n_train, info.task)
    return remedy_named(candidate.remedy).export(
        candidate.remedy_values, context, epochs=info.deferral_epochs if has_epochs else None)


def export_document(
    point: OperatingPoint | TrialRecord,
    info: StudyInfo,
    *,
    study_name: str,
    storage_url: str,
) -> dict[str, Any]:
    """The JSON document of one operating point (a record: its own rule); see the schema."""
    if isinstance(point, TrialRecord):
        point = OperatingPoint(point)
    record = point.record
    candidate = record.candidate
    binary = info.task == Task.BINARY
    multilabel = info.task.sigmoid  # binary is decided as one label is
    weight_key = "pos_weight" if multilabel else "class_weight"
    multipliers = None
    if candidate.multipliers is not None:
        per_label = candidate.label_multipliers(np.asarray(info.train_counts))
        assert per_label is not None  # None only without multipliers
        multipliers = {
            "mode": candidate.multiplier_mode,
            "values": list(candidate.multipliers),
            "label_multipliers": per_label.tolist(),
        }
    threshold: float | tuple[float, ...] | list[float] | None = point.threshold
    if isinstance(threshold, tuple):
        threshold = float(threshold[0]) if binary else list(threshold)
    threshold_rule = None
    if multilabel:
        threshold_rule = {
            "rule": "curve" if point.index is not None else candidate.threshold_rule or "global",
            "fbeta": candidate.fbeta if point.index is None else None,
        }
    document = {
        "schema_version": SCHEMA_VERSION,
        "task": info.task.value,
        "labels": list(info.labels),
        weight_key: list(record.weights),
        **(_binary_fields(record, info) if binary else {}),
        **_negative_weights(record, info),
        "weights": {  # the schema requires exponent and beta: null where the family has none
            "family": candidate.family,
            "exponent": None,
            "beta": None,
            **weight_family(candidate.family).export(candidate),
            "normalisation": candidate.normalisation,
            "multipliers": multipliers,
            "class_weighting": candidate.class_weighting,
            "cost_matrix": None if record.cost_matrix is None else [
                list(row) for row in record.cost_matrix
            ],
        },
        "remedy": _remedy(record, info),
        "decision": "threshold" if multilabel else "argmax",
        "threshold": threshold,
        "threshold_rule": threshold_rule,
        "logit_adjustment": None if multilabel else {
            "tau": point.tau, "log_prior": info.log_prior().tolist(),
        },
        "metrics": {
            "average": info.average,
            **{split.value: _figures(point, split) for split in Split},
        },
        "study": {"name": study_name, "storage": redact(storage_url)},
        "trial": None if record.baseline is not None else record.number,
        "baseline": record.baseline,
        "data": {
            "fingerprint": info.fingerprint,
            "source": info.source,
            "train_counts": list(info.train_counts),
            "n_train": info.n_train,
            "folds": info.folds,
        },
        "standardize": info.scaling,
        "training": {
            "seed": info.seed,
            "model": info.model,
            "epochs": record.epochs if record.epochs is not None else info.model["epochs"],
            **({} if candidate.weight_decay is None
               else {"weight_decay": candidate.weight_decay}),
        },
    }
    validate_export(document, "export")
    return document


def write_export(document: dict[str, Any], path: str | Path) -> Path:
    """Validate and write ``document`` atomically."""
    validate_export(document, str(path))
    try:
        return write_text_atomic(path, json.dumps(document, indent=2) + "\n")
    except OSError as error:
        raise ExportError(f"{path}: cannot write: {error}.", key="path") from None


