"""Export one trial as JSON for production training, and the way back to a Keras loss.

The document's schema ships with the package (``export_schema.json``) and is checked both when a
file is written and when it is read. :func:`select_trial` implements the export rules;
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
from sweeper.metrics import Evaluation
from sweeper.records import StudyInfo, TrialRecord
from sweeper.storage import redact

__all__ = [
    "SCHEMA_VERSION",
    "ExportedWeights",
    "export_document",
    "export_schema",
    "load_export",
    "select_trial",
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


def select_trial(
    records: list[TrialRecord],
    *,
    trial: int | None = None,
    min_precision: float | None = None,
    min_recall: float | None = None,
    best_fbeta: float | None = None,
) -> TrialRecord:
    """Pick one trial by number, or by a rule on its validation figures.

    ``min_precision=P``: the highest recall among trials with precision >= P (ties: higher
    precision). ``min_recall=R``: the highest precision among trials with recall >= R (ties:
    higher recall). ``best_fbeta=B``: the highest F-beta, ``(1 + B^2) P R / (B^2 P + R)``
    (B > 1 favours recall). Exactly one rule must be given.
    """
    given = [name for name, value in (
        ("trial", trial), ("min_precision", min_precision), ("min_recall", min_recall),
        ("best_fbeta", best_fbeta),
    ) if value is not None]
    if len(given) != 1:
        raise ExportError(
            "choose exactly one of --trial, --min-precision, --min-recall, --best-fbeta."
        )
    if best_fbeta is not None:
        if not best_fbeta > 0:
            raise ExportError(f"--best-fbeta: beta must be > 0, got {best_fbeta}.")
        return max(records, key=lambda r: _fbeta(r.validation, best_fbeta))
    if trial is not None:
        for record in records:
            if record.number == trial:
                return record
        raise ExportError(f"trial {trial} is not a finished trial of this study.")
    if min_precision is not None:
        eligible = [r for r in records if r.validation.precision >= min_precision]
        if not eligible:
            best = max(r.validation.precision for r in records)
            raise ExportError(
                f"no trial reaches validation precision >= {min_precision} "
                f"(the best is {best:.4f})."
            )
        return max(eligible, key=lambda r: (r.validation.recall, r.validation.precision))
    eligible = [r for r in records if r.validation.recall >= min_recall]
    if not eligible:
        best = max(r.validation.recall for r in records)
        raise ExportError(
            f"no trial reaches validation recall >= {min_recall} (the best is {best:.4f})."
        )
    return max(eligible, key=lambda r: (r.validation.precision, r.validation.recall))


def _fbeta(figures: Evaluation, beta: float) -> float:
    denominator = beta**2 * figures.precision + figures.recall
    if denominator == 0:
        return 0.0
    return (1 + beta**2) * figures.precision * figures.recall / denominator


def export_document(
    record: TrialRecord, info: StudyInfo, *, study_name: str, storage_url: str
) -> dict[str, Any]:
    """The JSON document of one trial (see ``export_schema.json``)."""
    weight_key = "pos_weight" if info.task == "multilabel" else "class_weight"
    candidate = record.candidate
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
        },
        "decision": "threshold" if info.task == "multilabel" else "argmax",
        "threshold": candidate.threshold,
        "metrics": {
            "average": info.average,
            "validation": record.validation.to_dict(),
            "test": record.test.to_dict(),
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
    validation: Evaluation
    test: Evaluation
    document: dict[str, Any]

    def loss(self):
        """The Keras loss to compile the production model with (its last layer outputs logits).

        Multi-label: :class:`~sweeper.losses.WeightedBinaryCrossentropy` with ``pos_weight``;
        multi-class: :class:`~sweeper.losses.WeightedSparseCategoricalCrossentropy` with
        ``class_weight`` and integer class ids as targets.
        """
        from sweeper import losses

        if self.task == "multilabel":
            return losses.WeightedBinaryCrossentropy(pos_weight=list(self.weights))
        return losses.WeightedSparseCategoricalCrossentropy(class_weight=list(self.weights))

    def decide(self, logits: np.ndarray) -> np.ndarray:
        """Decisions from the production model's logits: 0/1 per label, or class ids."""
        logits = np.asarray(logits, dtype=np.float64)
        if self.task == "multilabel":
            probabilities = 0.5 * (1.0 + np.tanh(0.5 * logits))
            return (probabilities >= np.asarray(self.threshold)).astype(np.int8)
        return np.argmax(logits, axis=-1)


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
    return ExportedWeights(
        task=document["task"],
        labels=tuple(document["labels"]),
        weights=tuple(document.get("pos_weight") or document["class_weight"]),
        threshold=tuple(threshold) if isinstance(threshold, list) else threshold,
        validation=Evaluation.from_dict(document["metrics"]["validation"]),
        test=Evaluation.from_dict(document["metrics"]["test"]),
        document=document,
    )
