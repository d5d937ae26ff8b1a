"""The rules of thumb a sweep must beat, trained once per study and kept beside its trials.

- ``unweighted``: no weighting at all, with its decision swept over every stored threshold
  (multi-label) or logit-adjustment tau (multi-class): what threshold tuning alone achieves.
- ``neg_pos`` (multi-label and binary): ``pos_weight = neg / pos`` per label, the rule of
  thumb of seed 000.
- ``sklearn_balanced``: scikit-learn's ``class_weight="balanced"``; for labels, each label's
  positives weighted ``n / (2 pos)`` and its negatives ``n / (2 neg)`` (binary likewise, for
  its one positive class); for classes ``n / (K n_c)``.

They are trained together in one packed pass with the study's model, seed and batch order, and
scored exactly as trials are (:func:`~sweeper.study.record_member`), so a baseline differs
from a trial only in its weights. They are stored as one study attribute, so the report, the
dashboard and every worker see the same ones; the first worker to find them missing computes
them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import optuna

from sweeper.config import Task
from sweeper.search import SKLEARN_BALANCED, Candidate
from sweeper.study._records import StudyInfo, TrialRecord
from sweeper.study._scoring import record_member

__all__ = ["BASELINES_ATTR", "baseline_candidates", "load_baselines", "store_baselines"]

BASELINES_ATTR = "sweeper:baselines"


def baseline_candidates(task: Task) -> dict[str, Candidate]:
    """The baselines of a task, by name, at their default decision (0.5, or the argmax)."""
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


def compute_baselines(info: StudyInfo, splits: Any, trainer: Any) -> dict[str, TrialRecord]:
    """Train the baselines in one pass of ``trainer`` (as many members as baselines)."""
    candidates = baseline_candidates(info.task)
    counts = np.asarray(info.train_counts)
    loss_weights = np.stack(
        [c.loss_weights(counts, info.n_train, info.task) for c in candidates.values()]
    )
    scores = trainer.train_and_score(loss_weights)
    return {
        name: dataclasses.replace(record_member(
            info=info, splits=splits, scores=scores, member=member, number=-1,
            candidate=candidate, weights=candidate.weights(counts, info.n_train, info.task),
        ), baseline=name)
        for member, (name, candidate) in enumerate(candidates.items())
    }


def store_baselines(study: optuna.Study, baselines: dict[str, TrialRecord]) -> None:
    study.set_user_attr(
        BASELINES_ATTR, {name: record.to_dict() for name, record in baselines.items()}
    )


def load_baselines(study: optuna.Study) -> dict[str, TrialRecord]:
    """The study's baselines by name; empty for a study whose first batch has not run yet."""
    stored = study.user_attrs.get(BASELINES_ATTR) or {}
    return {
        name: dataclasses.replace(TrialRecord.from_attrs(-1, attrs), baseline=name)
        for name, attrs in stored.items()
    }
