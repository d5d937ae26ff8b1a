"""The rules of thumb a sweep must beat, trained once per study and kept beside its trials.

- ``unweighted``: no weighting at all, with its decision swept over every stored threshold
  (multi-label) or logit-adjustment tau (multi-class): what threshold tuning alone achieves.
- ``neg_pos`` (multi-label and binary): ``pos_weight = neg / pos`` per label, the rule of
  thumb of seed 000.
- ``sklearn_balanced``: scikit-learn's ``class_weight="balanced"``; for labels, each label's
  positives weighted ``n / (2 pos)`` and its negatives ``n / (2 neg)`` (binary likewise, for
  its one positive class); for classes ``n / (K n_c)``.

Each remedy adds its own (:meth:`sweeper.remedies.Remedy.baselines`), what a practitioner
tries first beside class weights, at its published defaults: ``deferred_balanced``
(scikit-learn's balanced weights, deferred: DRW at 75% of the deferral length), ``focal``
(gamma 2, unweighted alpha), ``balanced_softmax`` (multi-class; ``logit_adjusted`` for sigmoid
tasks: tau_train 1, no weights), and those of the remedies registered after them.

They are trained together in one packed pass with the study's model, seed and batch order, and
scored exactly as trials are (:func:`~sweeper.study.record_member`), so a baseline differs
from a trial only in its weights (and remedy). They are stored as one study attribute, so the
report, the dashboard and every worker see the same ones; the first worker to find them missing
computes them.

**A study stored before a remedy's baselines existed** holds the others only. When it
is resumed (``sweeper run``, ``sweep``), the worker computes the missing ones alone
(:func:`missing_baselines`: one packed pass of as many members as are missing) and stores them
beside the stored ones, which are kept as they are: a packed member trains as it would alone,
so a baseline trained later is the one it would have been with the others. Reading such a study
without resuming it (``report``, ``export``, ``load``) shows the baselines it holds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import optuna

from sweeper.config import Task
from sweeper.remedies import REMEDIES, Baseline
from sweeper.search import SKLEARN_BALANCED, Candidate, batch_loss_parameters
from sweeper.study._records import StudyInfo, TrialRecord
from sweeper.study._scoring import record_member

__all__ = [
    "BASELINES_ATTR",
    "WEIGHT_BASELINE_TITLES",
    "baseline_candidates",
    "baseline_titles",
    "load_baselines",
    "missing_baselines",
    "store_baselines",
]

BASELINES_ATTR = "sweeper:baselines"
WEIGHT_BASELINE_TITLES = {
    "unweighted": "unweighted",
    "neg_pos": "pos_weight = neg/pos",
    "sklearn_balanced": "sklearn balanced",
}
"""How tables name the weight baselines (the remedies' name theirs)."""


def remedy_baselines(task: Task) -> dict[str, tuple[str, Baseline]]:
    """Every registered remedy's baselines for ``task``: ``{name: (remedy, baseline)}``."""
    return {baseline.name: (name, baseline) for name, remedy in REMEDIES.items()
            if Task(task) in remedy.tasks for baseline in remedy.baselines(Task(task))}


def baseline_titles(task: Task) -> dict[str, str]:
    """How tables name each baseline of ``task``."""
    return {**WEIGHT_BASELINE_TITLES,
            **{name: baseline.title for name, (_, baseline) in remedy_baselines(task).items()}}


def baseline_candidates(task: Task) -> dict[str, Candidate]:
    """The baselines of a task, by name, at their default decision (0.5, or the argmax): the
    weight baselines, then each remedy's, its weights given over the unweighted one's."""
    candidates = _weight_baselines(task)
    plain = candidates["unweighted"]
    for name, (remedy, baseline) in remedy_baselines(task).items():
        candidates[name] = dataclasses.replace(plain, remedy=remedy,
                                               remedy_values=dict(baseline.values),
                                               **baseline.weights)
    return candidates


def _weight_baselines(task: Task) -> dict[str, Candidate]:
    if Task(task).sigmoid:
        return {
            "unweighted": Candidate(exponent=0.0, normalisation="none", threshold=0.5,
                                    threshold_rule="global"),
            "neg_pos": Candidate(exponent=1.0, normalisation="none", threshold=0.5,
                                 threshold_rule="global"),
            "sklearn_balanced": Candidate(exponent=None, normalisation="none", threshold=0.5,
                                          threshold_rule="global", family=SKLEARN_BALANCED),
        }
    return {
        "unweighted": Candidate(exponent=0.0, normalisation="none", threshold=None,
                                class_weighting="true_class", tau=0.0),
        "sklearn_balanced": Candidate(exponent=None, normalisation="none", threshold=None,
                                      class_weighting="true_class", tau=0.0,
                                      family=SKLEARN_BALANCED),
    }


def missing_baselines(study: optuna.Study, task: Task) -> list[str]:
    """The baselines of :func:`baseline_candidates` the study does not hold yet (all of them
    for a new study; the remedies' for a study stored before them)."""
    stored = study.user_attrs.get(BASELINES_ATTR) or {}
    return [name for name in baseline_candidates(task) if name not in stored]


def compute_baselines(info: StudyInfo, splits: Any, trainer: Any, *,
                      names: list[str] | None = None,
                      epochs: int | None = None) -> dict[str, TrialRecord]:
    """Train the baselines (``names``: those only) in one pass of ``trainer`` (as many members
    as baselines); ``epochs``: what the deferred baseline's switch is a share of (default:
    the study's :attr:`~StudyInfo.deferral_epochs`)."""
    candidates = baseline_candidates(info.task)
    if names is not None:
        candidates = {name: candidates[name] for name in names}
    counts = np.asarray(info.train_counts)
    epochs = info.deferral_epochs if epochs is None else epochs
    parameters = batch_loss_parameters(list(candidates.values()), counts, info.n_train,
                                       info.task, epochs=epochs)
    scores = trainer.train_and_score(parameters)
    return {
        name: dataclasses.replace(record_member(
            info=info, splits=splits, scores=scores, member=member, number=-1,
            candidate=candidate, weights=candidate.weights(counts, info.n_train, info.task),
        ), baseline=name)
        for member, (name, candidate) in enumerate(candidates.items())
    }


def store_baselines(study: optuna.Study, baselines: dict[str, TrialRecord]) -> None:
    """Store ``baselines`` beside those the study holds (a stored one of the same name is
    replaced)."""
    stored = dict(study.user_attrs.get(BASELINES_ATTR) or {})
    stored.update({name: record.to_dict() for name, record in baselines.items()})
    study.set_user_attr(BASELINES_ATTR, stored)


def load_baselines(study: optuna.Study) -> dict[str, TrialRecord]:
    """The study's baselines by name; empty for a study whose first batch has not run yet."""
    stored = study.user_attrs.get(BASELINES_ATTR) or {}
    return {
        name: dataclasses.replace(TrialRecord.from_attrs(-1, attrs), baseline=name)
        for name, attrs in stored.items()
    }
