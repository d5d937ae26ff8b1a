"""Export one trial as JSON for production training, and the way back to a Keras loss.

The document's schema ships with the package (``export_schema.json``) and is checked both when a
file is written and when it is read. :func:`select_point` implements the export rules over every
operating point (a trial at its own decision, or at a point of its stored curve:
:mod:`sweeper.front`), so an export may keep a trial's weights and choose another threshold;
:func:`load_export` returns an :class:`ExportedWeights` whose :meth:`~ExportedWeights.loss` is the
Keras loss to compile a production model with, and whose :meth:`~ExportedWeights.decide` applies
the trial's decision rule to that model's logits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from sweeper.errors import ExportError
from sweeper.files import write_text_atomic
from sweeper.front import OperatingPoint, operating_points
from sweeper.records import StudyInfo, TrialRecord
from sweeper.storage import redact

__all__ = [
    "SCHEMA_VERSION",
    "ExportedWeights",
    "export_document",
    "export_schema",
    "load_export",
    "select_point",
    "write_export",
]

SCHEMA_VERSION = 1


@cache
def export_schema() -> dict[str, Any]:
    """The JSON Schema every exported document satisfies."""
    text = resources.files("sweeper").joinpath("export_schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _validate(document: Any, where: str) -> None:
    errors = list(jsonschema.Draft202012Validator(export_schema()).iter_errors(document))
    # A field's own error ("task" is not one of ...) says more than the task/weights pairing.
    direct = [e for e in errors if e.validator != "oneOf" or e.absolute_path]
    error = jsonschema.exceptions.best_match(direct or errors)
    if error is not None:
        location = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ExportError(f"{where}: invalid export at {location}: {error.message}")


def select_point(
    records: list[TrialRecord],
    *,
    trial: int | None = None,
    min_precision: float | None = None,
    min_recall: float | None = None,
    best_fbeta: float | None = None,
) -> OperatingPoint:
    """Pick one operating point by trial number, or by a rule on validation figures.

    ``trial=N``: trial N at its own decision rule. The rules look at every operating point,
    curve points included: ``min_precision=P``, the highest recall among points with precision
    >= P (ties: higher precision); ``min_recall=R``, the highest precision among points with
    recall >= R (ties: higher recall); ``best_fbeta=B``, the highest F-beta,
    ``(1 + B^2) P R / (B^2 P + R)`` (B > 1 favours recall). Exactly one rule must be given.
    """
    given = [name for name, value in (
        ("trial", trial), ("min_precision", min_precision), ("min_recall", min_recall),
        ("best_fbeta", best_fbeta),
    ) if value is not None]
    if len(given) != 1:
        raise ExportError(
            "choose exactly one of --trial, --min-precision, --min-recall, --best-fbeta."
        )
    if trial is not None:
        for record in records:
            if record.number == trial:
                return OperatingPoint(record)
        raise ExportError(f"trial {trial} is not a finished trial of this study.")
    points = operating_points(records)
    if best_fbeta is not None:
        if not best_fbeta > 0:
            raise ExportError(f"--best-fbeta: beta must be > 0, got {best_fbeta}.")
        return max(points, key=lambda p: _fbeta(*p.validation, best_fbeta))
    if min_precision is not None:
        eligible = [p for p in points if p.validation[1] >= min_precision]
        if not eligible:
            best = max(p.validation[1] for p in points)
            raise ExportError(
                f"no trial reaches validation precision >= {min_precision} "
                f"(the best is {best:.4f})."
            )
        return max(eligible, key=lambda p: p.validation)
    eligible = [p for p in points if p.validation[0] >= min_recall]
    if not eligible:
        best = max(p.validation[0] for p in points)
        raise ExportError(
            f"no trial reaches validation recall >= {min_recall} (the best is {best:.4f})."
        )
    return max(eligible, key=lambda p: (p.validation[1], p.validation[0]))


def _fbeta(recall: float, precision: float, beta: float) -> float:
    denominator = beta**2 * precision + recall
    if denominator == 0:
        return 0.0
    return (1 + beta**2) * precision * recall / denominator


def _figures(point: OperatingPoint, split: str) -> dict[str, Any]:
    """Figures at the point: a trial's own rule has per-label figures, a curve point has not."""
    if point.index is None:
        return getattr(point.record, split).to_dict()
    recall, precision = point.figures(split)
    return {"recall": recall, "precision": precision, "f1": point.f1(split)}


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
    multilabel = info.task == "multilabel"
    weight_key = "pos_weight" if multilabel else "class_weight"
    multipliers = None
    if candidate.multipliers is not None:
        per_label = candidate.label_multipliers(np.asarray(info.train_counts))
        multipliers = {
            "mode": candidate.multiplier_mode,
            "values": list(candidate.multipliers),
            "label_multipliers": per_label.tolist(),
        }
    threshold = point.threshold
    if isinstance(threshold, tuple):
        threshold = list(threshold)
    threshold_rule = None
    if multilabel:
        threshold_rule = {
            "rule": "curve" if point.index is not None else candidate.threshold_rule or "global",
            "fbeta": candidate.fbeta if point.index is None else None,
        }
    document = {
        "schema_version": SCHEMA_VERSION,
        "task": info.task,
        "labels": list(info.labels),
        weight_key: list(record.weights),
        "weights": {
            "family": candidate.family,
            "exponent": candidate.exponent,
            "beta": candidate.beta,
            "normalisation": candidate.normalisation,
            "multipliers": multipliers,
            "class_weighting": candidate.class_weighting,
            "cost_matrix": None if record.cost_matrix is None else [
                list(row) for row in record.cost_matrix
            ],
        },
        "decision": "threshold" if multilabel else "argmax",
        "threshold": threshold,
        "threshold_rule": threshold_rule,
        "logit_adjustment": None if multilabel else {
            "tau": point.tau, "log_prior": info.log_prior().tolist(),
        },
        "metrics": {
            "average": info.average,
            "validation": _figures(point, "validation"),
            "test": _figures(point, "test"),
        },
        "study": {"name": study_name, "storage": redact(storage_url)},
        "trial": record.number,
        "data": {
            "fingerprint": info.fingerprint,
            "source": info.source,
            "train_counts": list(info.train_counts),
            "n_train": info.n_train,
        },
        "training": {"seed": info.seed, "model": info.model},
    }
    _validate(document, "export")
    return document


def write_export(document: dict[str, Any], path: str | Path) -> Path:
    """Validate and write ``document`` atomically."""
    _validate(document, str(path))
    try:
        return write_text_atomic(path, json.dumps(document, indent=2) + "\n")
    except OSError as error:
        raise ExportError(f"{path}: cannot write: {error}.") from None


@dataclass(frozen=True)
class ExportedWeights:
    """An exported trial, read back: what production training needs from it."""

    task: str
    labels: tuple[str, ...]
    weights: tuple[float, ...]
    threshold: float | tuple[float, ...] | None
    validation: dict[str, Any]
    test: dict[str, Any]
    document: dict[str, Any]
    tau: float = 0.0
    """Multi-class logit-adjustment strength (0: the plain argmax)."""
    log_prior: tuple[float, ...] | None = None
    class_weighting: str | None = None
    cost_matrix: tuple[tuple[float, ...], ...] | None = None

    def loss(self):
        """The Keras loss to compile the production model with (its last layer outputs logits).

        Multi-label: :class:`~sweeper.losses.WeightedBinaryCrossentropy` with ``pos_weight``;
        multi-class: :class:`~sweeper.losses.WeightedSparseCategoricalCrossentropy` with
        ``class_weight`` (true-class weighting), or
        :class:`~sweeper.losses.CostSensitiveSparseCategoricalCrossentropy` with the matrix of
        the predicted-class or cost-matrix weighting; integer class ids as targets.
        """
        from sweeper import losses
        from sweeper.weights import multiclass_loss_weights

        if self.task == "multilabel":
            return losses.WeightedBinaryCrossentropy(pos_weight=list(self.weights))
        if self.class_weighting in (None, "true_class"):
            return losses.WeightedSparseCategoricalCrossentropy(class_weight=list(self.weights))
        matrix = multiclass_loss_weights(
            np.asarray(self.weights), self.class_weighting, self.cost_matrix
        )
        return losses.CostSensitiveSparseCategoricalCrossentropy(matrix)

    def decide(self, logits: np.ndarray) -> np.ndarray:
        """Decisions from the production model's logits: 0/1 per label, or class ids
        (``argmax(logits - tau * log_prior)``)."""
        logits = np.asarray(logits, dtype=np.float64)
        if self.task == "multilabel":
            probabilities = 0.5 * (1.0 + np.tanh(0.5 * logits))
            return (probabilities >= np.asarray(self.threshold)).astype(np.int8)
        if self.log_prior is None or self.tau == 0:
            return np.argmax(logits, axis=-1)
        return np.argmax(logits - self.tau * np.asarray(self.log_prior), axis=-1)


def load_export(path: str | Path) -> ExportedWeights:
    """Read and validate an exported JSON file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path}: export file not found.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{path}: cannot read export: {error}.") from None
    _validate(document, str(path))
    threshold = document["threshold"]
    adjustment = document.get("logit_adjustment") or {}
    weights = document["weights"]
    cost_matrix = weights.get("cost_matrix")
    return ExportedWeights(
        task=document["task"],
        labels=tuple(document["labels"]),
        weights=tuple(document.get("pos_weight") or document["class_weight"]),
        threshold=tuple(threshold) if isinstance(threshold, list) else threshold,
        validation=document["metrics"]["validation"],
        test=document["metrics"]["test"],
        document=document,
        tau=float(adjustment.get("tau", 0.0)),
        log_prior=tuple(adjustment["log_prior"]) if adjustment else None,
        class_weighting=weights.get("class_weighting"),
        cost_matrix=None if cost_matrix is None else tuple(tuple(r) for r in cost_matrix),
    )
