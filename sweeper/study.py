"""The Optuna study: creation, resumption and loading, with its objectives named.

A sweeper study maximises two objectives, ``recall`` and ``precision`` on the validation split
(micro-averaged for multi-label and macro for multi-class unless the study file says otherwise).
The study's :class:`~sweeper.records.StudyInfo` pins the data and model it was created with, so
resuming on other data is refused instead of mixing incomparable trials.
"""

from __future__ import annotations

import hashlib
import warnings

import optuna
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sweeper import __version__
from sweeper.data import Splits
from sweeper.errors import DataError, NoFinishedTrialsError, StorageError, StudyFileError
from sweeper.records import STUDY_ATTR, StudyInfo, TrialRecord
from sweeper.storage import redact
from sweeper.studyfile import StudySpec

__all__ = [
    "METRIC_NAMES",
    "create_or_resume",
    "finished_records",
    "load_study",
    "make_sampler",
    "resolve_average",
    "study_info",
]

METRIC_NAMES = ["recall", "precision"]
DIRECTIONS = ["maximize", "maximize"]


def resolve_average(average: str, task: str) -> str:
    """``auto`` means micro for multi-label (rare labels pooled) and macro for multi-class."""
    if average != "auto":
        return average
    return "micro" if task == "multilabel" else "macro"


def study_info(spec: StudySpec, splits: Splits) -> StudyInfo:
    dataset = splits.train
    model = {
        "hidden": list(spec.model.hidden) if spec.model.factory is None else None,
        "factory": spec.model.factory,
        "epochs": spec.model.epochs,
        "batch_size": spec.model.batch_size,
        "learning_rate": spec.model.learning_rate,
    }
    return StudyInfo(
        task=dataset.task,
        labels=dataset.labels,
        average=resolve_average(spec.study.average, dataset.task),
        fingerprint=_splits_fingerprint(splits),
        source=spec.data.source,
        train_counts=tuple(int(c) for c in dataset.label_counts()),
        n_features=int(dataset.X.shape[1]),
        n_train=int(dataset.X.shape[0]),
        n_validation=int(splits.validation.X.shape[0]),
        n_test=int(splits.test.X.shape[0]),
        seed=spec.data.seed,
        model=model,
        version=__version__,
    )


def _splits_fingerprint(splits: Splits) -> str:
    parts = [splits.train.fingerprint(), splits.validation.fingerprint(), splits.test.fingerprint()]
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def make_sampler(spec: StudySpec) -> optuna.samplers.BaseSampler:
    """The study file's sampler, seeded by ``sampler_seed``: the same file and seed give the
    same trials on one worker.

    ``tpe`` (default) is multivariate TPE with the constant liar, so trials of one batch explore
    apart; multivariate because the exponent, normalisation and threshold interact, and one joint
    draw reads the study once per trial instead of once per parameter. ``nsga2`` is Optuna's
    genetic multi-objective sampler; ``gp`` its Gaussian-process sampler, which needs PyTorch.
    Constraints set on trials (``min_precision``, ``min_recall``) are read by all three.
    """
    seed = spec.study.sampler_seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if spec.study.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        if spec.study.sampler == "gp":
            try:
                import torch  # noqa: F401
            except ImportError:
                raise StudyFileError(
                    f"{spec.path}: [study] sampler: 'gp' needs PyTorch (pip install torch)."
                ) from None
            return optuna.samplers.GPSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True)


def create_or_resume(spec: StudySpec, info: StudyInfo, storage: RDBStorage) -> optuna.Study:
    """Create the study, or resume it when its stored setup matches ``info``."""
    study = optuna.create_study(
        storage=storage,
        study_name=spec.study.name,
        directions=DIRECTIONS,
        sampler=make_sampler(spec),
        load_if_exists=True,
    )
    if study.directions != [StudyDirection.MAXIMIZE, StudyDirection.MAXIMIZE]:
        raise StorageError(
            f"study {spec.study.name!r} exists with other objectives; it is not a sweeper study."
        )
    stored = study.user_attrs.get(STUDY_ATTR)
    if stored is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(METRIC_NAMES)
        study.set_user_attr(STUDY_ATTR, info.to_dict())
        return study
    _check_same_setup(spec.study.name, _stored_info(spec.study.name, stored), info)
    return study


def _stored_info(name: str, stored: dict) -> StudyInfo:
    try:
        return StudyInfo.from_dict(stored)
    except (KeyError, TypeError):
        raise StorageError(
            f"study {name!r} was written by sweeper {stored.get('version', '?')}, whose records "
            f"this version ({__version__}) cannot read; use a new study name."
        ) from None


def _check_same_setup(name: str, stored: StudyInfo, current: StudyInfo) -> None:
    for field, label in (
        ("fingerprint", "data (fingerprint)"),
        ("average", "[study] average"),
        ("model", "[model]"),
        ("seed", "[data] seed"),
    ):
        before, now = getattr(stored, field), getattr(current, field)
        if before != now:
            raise DataError(
                f"study {name!r} was created with another {label}: stored {before!r}, "
                f"now {now!r}; use a new study name to sweep this setup."
            )


def load_study(spec: StudySpec, storage: RDBStorage) -> tuple[optuna.Study, StudyInfo]:
    """Load an existing sweeper study (for report, export, dashboard)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.load_study(study_name=spec.study.name, storage=storage)
    except KeyError:
        raise StorageError(
            f"no study named {spec.study.name!r} in storage {redact(spec.study.storage)}; "
            "run `sweeper run` first."
        ) from None
    stored = study.user_attrs.get(STUDY_ATTR)
    if stored is None:
        raise StorageError(f"study {spec.study.name!r} was not created by the sweeper.")
    return study, _stored_info(spec.study.name, stored)


def finished_records(study: optuna.Study) -> list[TrialRecord]:
    """Records of the study's complete trials, in trial order; an error if there are none."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    records = [TrialRecord.from_trial(trial) for trial in trials if "candidate" in trial.user_attrs]
    if not records:
        raise NoFinishedTrialsError(
            f"study {study.study_name!r} has no finished trials yet; run `sweeper run` first."
        )
    return records
