"""An exported document read back: what production training needs from it.

:func:`load_export` reads and validates a JSON file; :meth:`ExportedWeights.from_document` does
the same for a document in memory (what :meth:`sweeper.SweepResult.export` returns). Its
:meth:`~ExportedWeights.loss` is the Keras loss to compile a production model with, and its
:meth:`~ExportedWeights.decide` applies the trial's decision rule to that model's logits, through
the same :func:`~sweeper.evaluation.predict` that scored the trial.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sweeper.config import Task
from sweeper.errors import ExportError
from sweeper.evaluation import predict, probabilities
from sweeper.export._document import validate_export

__all__ = ["ExportedWeights", "load_export"]


@dataclass(frozen=True)
class ExportedWeights:
    """An exported operating point: weights, decision rule, and the figures it reached."""

    task: Task
    labels: tuple[str, ...]
    weights: tuple[float, ...]
    threshold: float | tuple[float, ...] | None
    validation: dict[str, Any]
    test: dict[str, Any]
    document: dict[str, Any] = field(repr=False)
    """The whole exported JSON document."""
    tau: float = 0.0
    """Multi-class logit-adjustment strength (0: the plain argmax)."""
    log_prior: tuple[float, ...] | None = None
    class_weighting: str | None = None
    cost_matrix: tuple[tuple[float, ...], ...] | None = None
    neg_weight: tuple[float, ...] | None = None
    """Multi-label: the negatives' weight per label (scikit-learn's balanced rule), if any;
    binary: the negative class's weight (one value), if not 1."""
    positive_label: Any = None
    """Binary: the user's value of the positive class (``None`` for the other tasks)."""
    negative_label: Any = None
    """Binary: the user's value of the negative class."""
    remedy: dict[str, Any] = field(default_factory=lambda: {"name": "weights"})
    """How the weights train (the document's ``remedy``; ``weights`` for a document written
    before remedies): see :meth:`loss` and :meth:`weight_schedule`."""

    @classmethod
    def from_document(cls, document: dict[str, Any], where: str = "export") -> ExportedWeights:
        """Validate ``document`` against the schema and read it."""
        validate_export(document, where)
        threshold = document["threshold"]
        adjustment = document.get("logit_adjustment") or {}
        weights = document["weights"]
        cost_matrix = weights.get("cost_matrix")
        vector = document["pos_weight"] if "pos_weight" in document else document["class_weight"]
        negative = document.get("neg_weight")
        return cls(
            task=Task(document["task"]),
            labels=tuple(document["labels"]),
            weights=tuple(vector) if isinstance(vector, list) else (float(vector),),
            threshold=tuple(threshold) if isinstance(threshold, list) else threshold,
            validation=document["metrics"]["validation"],
            test=document["metrics"]["test"],
            document=document,
            tau=float(adjustment.get("tau", 0.0)),
            log_prior=tuple(adjustment["log_prior"]) if adjustment else None,
            class_weighting=weights.get("class_weighting"),
            cost_matrix=None if cost_matrix is None else tuple(tuple(r) for r in cost_matrix),
            neg_weight=None if negative is None else tuple(negative)
            if isinstance(negative, list) else (float(negative),),
            positive_label=document.get("positive_label"),
            negative_label=document.get("negative_label"),
            remedy=dict(document.get("remedy") or {"name": "weights"}),
        )

    @property
    def trial(self) -> int | None:
        """The trial's number; ``None`` for a baseline."""
        return self.document["trial"]

    @property
    def baseline(self) -> str | None:
        """The baseline's name, when a baseline was exported."""
        return self.document.get("baseline")

    def summary(self) -> str:
        """One line: the trial, its decision and its figures on validation and test."""
        rule = self.document.get("threshold_rule") or {}
        if self.task == Task.MULTICLASS:
            decision = f"tau={self.tau:.2f}"
        elif isinstance(self.threshold, tuple):
            decision = f"per-label thresholds (F{rule.get('fbeta') or 1:.2g})"
        else:
            decision = f"threshold {self.threshold:.3f}"
        if rule.get("rule") == "curve":
            decision += " (a point of its curve)"
        name = f"baseline {self.baseline}" if self.baseline else f"trial {self.trial}"
        return (
            f"{name} at {decision}, validation recall "
            f"{self.validation['recall']:.3f}, precision {self.validation['precision']:.3f}; "
            f"test recall {self.test['recall']:.3f}, precision {self.test['precision']:.3f}"
        )

    def loss(self, *, weighted: bool = True):
        """The Keras loss to compile the production model with (its last layer outputs logits):
        the remedy's own (:meth:`sweeper.remedies.Remedy.keras_loss`), the one its trial's
        model minimised.

        Plain weights: :class:`~sweeper.training.WeightedBinaryCrossentropy` with
        ``pos_weight`` (and ``neg_weight``) for binary and multi-label targets (binary: a
        model with ONE logit output ``(batch, 1)`` and targets ``y_train == positive_label`` as
        0/1, shape ``(batch,)`` or ``(batch, 1)``; :meth:`targets` makes them); for
        multi-class :class:`~sweeper.training.WeightedSparseCategoricalCrossentropy` with
        ``class_weight`` (true-class weighting), or
        :class:`~sweeper.training.CostSensitiveSparseCategoricalCrossentropy` with the matrix of
        the predicted-class or cost-matrix weighting; integer class ids as targets. ``focal``
        and ``logit_adjusted`` give their Keras classes (``Focal...``, ``LogitAdjusted...``;
        decide on the model's own logits with :meth:`decide`), the other remedies
        :class:`~sweeper.training.RemedyLoss`. ``weighted=False`` is the same loss with every
        weight 1: the first phase of deferred re-weighting (see :meth:`weight_schedule`).
        """
        from sweeper.remedies import remedy_named

        remedy = remedy_named(self.remedy["name"])
        return remedy.keras_loss(self.task, self.loss_weights(weighted=weighted),
                                 remedy.export_parameters(self.remedy))

    def loss_weights(self, *, weighted: bool = True) -> np.ndarray:
        """The weights as the loss takes them: ``(2, labels)``, the positives' then the
        negatives' (binary and multi-label), or the ``(K, K)`` matrix ``M`` (multi-class);
        every weight 1 with ``weighted=False``."""
        from sweeper.search import multiclass_loss_weights, multilabel_loss_weights

        n = len(self.weights)
        if self.task.sigmoid:
            if not weighted:
                return np.ones((2, n))
            negative = np.ones(n) if self.neg_weight is None else np.asarray(self.neg_weight)
            return multilabel_loss_weights(np.asarray(self.weights), negative)
        if not weighted:
            return np.ones((n, n))
        return multiclass_loss_weights(np.asarray(self.weights),
                                       self.class_weighting or "true_class", self.cost_matrix)

    def weight_schedule(self) -> int:
        """The 0-based epoch from which the weights apply: 0 (from the start) unless the
        remedy defers them (DRW: ``deferred`` and those alike), whose trial trained unweighted
        for its first ``switch_epoch`` epochs. Production training of a deferred export, as
        the trial::

            switch = exported.weight_schedule()
            epochs = exported.document["training"]["epochs"]
            optimizer = exported.optimizer(steps_per_epoch=steps)
            model.compile(optimizer=optimizer, loss=exported.loss(weighted=False))
            fit_plain(model, X, y, epochs=switch, batch_size=b, seed=s)
            model.compile(optimizer=optimizer, loss=exported.loss())   # the same optimizer
            fit_plain(model, X, y, epochs=epochs, batch_size=b, seed=s, initial_epoch=switch)

        (:func:`sweeper.training.fit_plain`, or ``model.fit`` with ``initial_epoch``).
        """
        from sweeper.remedies import remedy_named

        if not remedy_named(self.remedy["name"]).defers:
            return 0
        switch = self.remedy.get("switch_epoch")
        if switch is None:
            raise ExportError(f"this {self.remedy['name']} export has no switch_epoch (its "
                              "study's epochs were not a number): train unweighted for "
                              "switch_fraction of your epochs.", key="remedy")
        return int(switch)

    def optimizer(self, *, steps_per_epoch: int):
        """The Keras optimizer the trial trained with, fresh: ``[model] optimizer`` with its
        arguments, ``learning_rate`` and its ``schedule`` over the model's epochs (as the
        trial's: train for the exported ``epochs`` to stop where its kept weights did), the
        gradient clipping, and the trial's searched ``weight_decay`` (``training``'s, in place
        of the optimizer's own); ``steps_per_epoch``: the production model's batches per
        epoch. An export of a study made before these settings gets Adam at the study's
        learning rate, as its trials had."""
        from sweeper.config import ModelConfig
        from sweeper.training import build_optimizer

        stored = self.document["training"]["model"]
        settings = {key: stored[key] for key in ModelConfig.pinning_keys()
                    if key in stored and key not in ("hidden", "factory")}
        model = ModelConfig.from_mapping(settings)
        epochs = model.epochs or self.document["training"].get("epochs") or 1
        return build_optimizer(model, steps_per_epoch=steps_per_epoch, epochs=epochs,
                               weight_decay=self.document["training"].get("weight_decay"))

    def standardize(self, X: np.ndarray) -> np.ndarray:
        """Features as the study's models saw them: ``(X - mean) / scale`` per feature with the
        exported standardisation (the same float32 arithmetic), or ``X`` as the study held it
        when it trained on raw features: floats as float32, integers (token ids, pixels) and
        booleans unchanged (a float32 holds integers exactly only up to 2**24). Apply it before
        production training and inference."""
        scaling = self.document.get("standardize")
        if scaling is None:
            X = np.asarray(X)
            return X if X.dtype.kind in "iub" else X.astype(np.float32)
        from sweeper.data import Standardizer

        standardizer = Standardizer.from_dict(scaling)
        X = np.asarray(X)
        if X.ndim < 2 or X.shape[-1] != standardizer.mean.size:
            raise ExportError(
                f"features must have {standardizer.mean.size} columns (the study's), but got "
                f"shape {X.shape}.", key="standardize",
            )
        return standardizer.transform(X)

    def targets(self, y: Any) -> np.ndarray:
        """Binary: the training targets the :meth:`loss` takes from the user's class values:
        ``y == positive_label`` as a float32 column ``(n, 1)``."""
        if self.task != Task.BINARY:
            raise ExportError(f"targets() is for a binary export; this one is {self.task}: "
                              "train on y as the study did.", key="task")
        values = np.asarray(y).reshape(-1)
        return (values == np.asarray([self.positive_label])).astype(np.float32)[:, None]

    def decide(self, logits: np.ndarray) -> np.ndarray:
        """Decisions from the production model's logits: 0/1 per label at the threshold(s), or
        class ids (``argmax(log p - tau * log_prior)``), positions in :attr:`labels`
        (``np.asarray(exported.labels)[ids]`` gives the class names). Binary: a 1-D array of
        the user's values, ``positive_label`` where ``sigmoid(logit) >= threshold``, else
        ``negative_label``; ``logits`` of shape ``(n, 1)`` or ``(n,)``."""
        scores = probabilities(np.asarray(logits), self.task)
        if self.task == Task.BINARY:
            positive = predict(scores.reshape(-1), self.task, threshold=self.threshold)
            return np.asarray([self.negative_label, self.positive_label])[positive.astype(int)]
        if self.task == Task.MULTILABEL:
            return predict(scores, self.task, threshold=self.threshold).astype(np.int8)
        offset = None
        if self.log_prior is not None and self.tau != 0:
            offset = self.tau * np.asarray(self.log_prior)
        return predict(scores, self.task, offset=offset)


def load_export(path: str | Path) -> ExportedWeights:
    """Read and validate an exported JSON file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path}: export file not found.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"{path}: cannot read export: {error}.") from None
    return ExportedWeights.from_document(document, str(path))
