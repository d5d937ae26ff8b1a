"""The Optuna study: creation, resumption and loading, with its objectives named.

A sweeper study maximises two objectives, ``recall`` and ``precision`` on the validation split
(micro-averaged for multi-label and macro for multi-class unless the study file says otherwise).
The study's :class:`~sweeper.study.StudyInfo` pins the data and model it was created with, so
resuming on other data is refused instead of mixing incomparable trials.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sweeper import __version__
from sweeper.config import ModelConfig, StudyConfig, SweepConfig, Task
from sweeper.data import Splits, unevaluable
from sweeper.errors import DataError, NoFinishedTrialsError, StorageError, one_line
from sweeper.evaluation import Constraints
from sweeper.study._optuna import RecentTrials, fast_path
from sweeper.study._records import STUDY_ATTR, StudyInfo, TrialRecord
from sweeper.study._storage import redact

__all__ = [
    "DIRECTIONS",
    "METRIC_NAMES",
    "create_or_resume",
    "finished_records",
    "load_study",
    "make_sampler",
    "resolve_average",
    "stored_constraints",
    "stored_model_settings",
    "study_info",
]

CONSTRAINTS_ATTR = "sweeper:constraints"
METRIC_NAMES = ["recall", "precision"]
DIRECTIONS = [StudyDirection.MAXIMIZE, StudyDirection.MAXIMIZE]


def resolve_average(average: str, task: Task) -> str:
    """``auto`` means micro for multi-label (rare labels pooled) and macro for multi-class.

    Binary: the positive class's figures, which is ``micro`` over its one label; ``macro`` is
    refused, since it reads as the macro average of both classes, which a binary task never
    scores (``[data] task = "multiclass"`` sweeps a 2-valued y that way)."""
    if Task(task) is Task.BINARY:
        if average == "macro":
            raise StudyConfig.fail(
                "average", "'macro' does not apply to a binary task, which is scored by its "
                "positive class's recall and precision (micro, the default); `[data] task = "
                "'multiclass'` scores a 2-valued y by the macro average of both classes.")
        return "micro"
    if average != "auto":
        return average
    return "micro" if task == Task.MULTILABEL else "macro"


def study_info(
    config: SweepConfig,
    splits: Splits,
    *,
    source: str,
    factory: Callable[..., Any] | None = None,
    fit: Callable[..., Any] | None = None,
    deferral_epochs: int | None = None,
) -> StudyInfo:
    """The facts a study pins when it is created: data, task, model; ``source`` names the data
    (a study file's ``[data] source``, or ``arrays``), ``factory`` is the imported model
    factory and ``fit`` the imported training step (their code is pinned too);
    ``deferral_epochs``: the epochs a deferred switch is a share of
    (:meth:`ModelConfig.deferral_epochs`), stored with the model as ``epochs`` is."""
    dataset = splits.train
    model = config.model.describe(factory, fit)
    if deferral_epochs is not None:
        model["deferral_epochs"] = int(deferral_epochs)
    return StudyInfo(
        task=dataset.task,
        labels=dataset.labels,
        average=resolve_average(config.study.average, dataset.task),
        fingerprint=splits_fingerprint(splits),
        source=source,
        train_counts=tuple(int(c) for c in dataset.label_counts()),
        n_features=dataset.n_features,
        n_train=int(dataset.X.shape[0]),
        n_validation=int(splits.validation.X.shape[0]),
        n_test=int(splits.test.X.shape[0]),
        seed=config.data.seed,
        model=model,
        version=__version__,
        unevaluable=unevaluable(splits),
        validation_counts=tuple(int(c) for c in splits.validation.label_counts()),
        folds=splits.n_folds,
        scaling=None if splits.scaling is None else splits.scaling.to_dict(),
        classes=dataset.classes if dataset.task is Task.BINARY else None,
        input_shape=() if dataset.X.ndim == 2 else dataset.input_shape,
        input_dtype=str(dataset.X.dtype),
    )


def splits_fingerprint(splits: Splits) -> str:
    """A short hash of the three splits: the data a study was run on, split as it was."""
    parts = [splits.train.fingerprint(), splits.validation.fingerprint(), splits.test.fingerprint()]
    if splits.folds is not None:
        parts.append(hashlib.sha256(splits.folds.tobytes()).hexdigest())
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def _imported_sampler(reference: str, folder: Path | None) -> Any:
    """What ``"package.module:attribute"`` names, called when it is a function."""
    module_name, _, attribute = reference.partition(":")
    if folder is not None and str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as error:  # ImportError, or the module itself failing
        raise StudyConfig.fail(
            "sampler", f"cannot import module {module_name!r}: {one_line(error)}."
        ) from None
    if not hasattr(module, attribute):
        raise StudyConfig.fail("sampler", f"module {module_name!r} has no {attribute!r}.")
    sampler = getattr(module, attribute)
    if not isinstance(sampler, optuna.samplers.BaseSampler) and callable(sampler):
        try:
            sampler = sampler()
        except (Exception, SystemExit) as error:
            raise StudyConfig.fail("sampler", f"{attribute} raised {one_line(error)}.") from None
    if not isinstance(sampler, optuna.samplers.BaseSampler):
        raise StudyConfig.fail(
            "sampler", f"{reference} is {type(sampler).__name__!r}, not an "
            "optuna.samplers.BaseSampler (nor a function returning one).")
    return sampler


def resolve_sampler(sampler: Any, folder: Path | None = None) -> Any:
    """``[study] sampler`` as :func:`make_sampler` takes it: a name the sweeper builds, or a
    sampler object, ``"package.module:attribute"`` imported (``folder``, the study file's, is
    importable, as for a model factory: every worker imports it alike) and, where it names a
    function, called with no arguments. Anything but a sampler is a
    :class:`~sweeper.errors.ConfigError` naming ``[study] sampler``."""
    if isinstance(sampler, str) and ":" in sampler:
        with warnings.catch_warnings():  # the user chose it: Optuna's "experimental" is moot
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = _imported_sampler(sampler, folder)
    if isinstance(sampler, (str, optuna.samplers.BaseSampler)):
        return sampler
    raise StudyConfig.fail(
        "sampler", f"expected an optuna.samplers.BaseSampler, got {type(sampler).__name__}."
    )


def make_sampler(study: StudyConfig) -> optuna.samplers.BaseSampler:
    """The study's sampler: a sampler object as given (``[study] sampler = "module:attribute"``
    or the API's ``sampler=``) is used as it is, with its own seed and settings; a name is
    built here, seeded by ``sampler_seed``: the same file and seed give the same trials on one
    worker.

    ``tpe`` (default) is multivariate TPE with the constant liar, so trials of one batch explore
    apart; multivariate because the exponent, normalisation and threshold interact, and one joint
    draw reads the study once per trial instead of once per parameter. ``nsga2`` is Optuna's
    genetic multi-objective sampler; ``gp`` its Gaussian-process sampler, which needs PyTorch.
    Constraints set on trials (``min_precision``, ``min_recall``) are read by all three.
    ``sampler_window = N`` has tpe and gp learn from the latest N complete trials only
    (:class:`WindowedSampler`).
    """
    given = resolve_sampler(study.sampler)
    if isinstance(given, optuna.samplers.BaseSampler):
        return given
    seed = study.sampler_seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if study.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        if study.sampler == "gp":
            try:
                import torch  # noqa: F401
            except ImportError:
                raise StudyConfig.fail(
                    "sampler", "'gp' needs PyTorch (pip install torch)."
                ) from None
            sampler: optuna.samplers.BaseSampler = optuna.samplers.GPSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                                 multivariate=True)
    # tpe and gp learn from every trial, nsga2 from its generations; the window reads the
    # study through a private method (RecentTrials): not on an Optuna outside the tested range.
    if study.sampler_window and fast_path():
        return WindowedSampler(sampler, study.sampler_window)
    return sampler


class WindowedSampler(optuna.samplers.BaseSampler):
    """A sampler that learns from the latest ``window`` complete trials only.

    Multivariate TPE re-reads and re-splits every complete trial at each ask, so its cost grows
    with the study (66 ms per trial at 10,000 trials on SQLite). Through this wrapper it sees a
    window of the most recent trials (:class:`~sweeper.study._optuna.RecentTrials`): the cost
    stops growing at the window's size, and the search forgets what older trials taught it
    (they stay in the study, on the front and in the report)."""

    def __init__(self, inner: optuna.samplers.BaseSampler, window: int) -> None:
        self.inner = inner
        self.window = window

    # Optuna types a sampler's study as Study; RecentTrials stands in for one (duck-typed),
    # hence the type: ignore[arg-type] where it is passed.
    def infer_relative_search_space(self, study, trial):
        return self.inner.infer_relative_search_space(
            RecentTrials(study, self.window), trial)  # type: ignore[arg-type]  # a Study stand-in

    def sample_relative(self, study, trial, search_space):
        return self.inner.sample_relative(
            RecentTrials(study, self.window), trial, search_space)  # type: ignore[arg-type]

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.inner.sample_independent(
            RecentTrials(study, self.window),  # type: ignore[arg-type]  # a Study stand-in
            trial, param_name, param_distribution,
        )

    def before_trial(self, study, trial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def create_or_resume(
    config: StudyConfig, info: StudyInfo, storage: BaseStorage
) -> optuna.Study:
    """Create the study, or resume it when its stored setup matches ``info``."""
    assert config.name is not None  # sweep() derives it; a study file must set it
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the sweeper says it in its own words
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=config.name,
            directions=DIRECTIONS,
            sampler=make_sampler(config),
            load_if_exists=True,
        )
    finally:
        optuna.logging.set_verbosity(verbosity)
    if study.directions != DIRECTIONS:
        raise StorageError(
            f"study {config.name!r} exists with other objectives; it is not a sweeper study."
        )
    stored = study.user_attrs.get(STUDY_ATTR)
    if stored is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(METRIC_NAMES)
        study.set_user_attr(STUDY_ATTR, info.to_dict())
    else:
        _check_same_setup(config.name, _stored_info(config.name, stored), info)
    constraints = {"min_precision": config.min_precision, "min_recall": config.min_recall}
    if study.user_attrs.get(CONSTRAINTS_ATTR) != constraints:
        # The latest run's floors: what a report of the reopened study applies.
        study.set_user_attr(CONSTRAINTS_ATTR, constraints)
    return study


def stored_constraints(study: optuna.Study) -> Constraints:
    """The floors the study's latest run applied (none for a study without them)."""
    return Constraints(**(study.user_attrs.get(CONSTRAINTS_ATTR) or {}))


def _stored_info(name: str, stored: dict) -> StudyInfo:
    try:
        return StudyInfo.from_dict(stored)
    except (KeyError, TypeError):
        raise StorageError(
            f"study {name!r} was written by sweeper {stored.get('version', '?')}, whose records "
            f"this version ({__version__}) cannot read; use a new study name."
        ) from None


def _check_same_setup(name: str, stored: StudyInfo, current: StudyInfo) -> None:
    """Refuse to resume a study with other data, average, seed or model, naming what changed.

    The model is compared setting by setting: a setting the stored record lacks (added by a
    later release) counts as its default, the value the study's trials were trained with, so
    an upgrade resumes old studies while a non-default value of the new setting is refused.
    A factory's code is compared only where the record holds it (studies since 0.1.x)."""
    if (stored.task is Task.MULTICLASS and len(stored.labels) == 2
            and current.task is Task.BINARY):
        raise DataError(
            f"study {name!r} was created as a two-class softmax (multiclass, classes "
            f"{stored.labels[0]!r} and {stored.labels[1]!r}), but a 2-valued y is now binary; "
            "set `[data] task = \"multiclass\"` to resume it, or use a new study name.",
            key="task",
        )
    for field, label, key in (
        ("fingerprint", "data (fingerprint)", "data"),
        ("average", "[study] average", "average"),
        ("seed", "[data] seed", "seed"),
    ):
        before, now = getattr(stored, field), getattr(current, field)
        if before != now:
            raise DataError(
                f"study {name!r} was created with another {label}: stored {before!r}, "
                f"now {now!r}; use a new study name to sweep this setup.", key=key,
            )
    defaults = ModelConfig().describe()
    for key in dict.fromkeys([*stored.model, *current.model]):
        if key in ("factory_code", "fit_code") and key not in stored.model:
            continue
        if key == "deferral_epochs":  # derived from the settings compared here
            continue
        before = stored.model.get(key, defaults.get(key))
        now = current.model.get(key, defaults.get(key))
        if before != now:
            raise DataError(
                f"study {name!r} was created with another [model] {key}: stored {before!r}, "
                f"now {now!r}; use a new study name to sweep this setup.", key="model",
            )


def stored_model_settings(storage: BaseStorage, name: str) -> dict[str, Any] | None:
    """The ``[model]`` settings a stored study was created with (``epochs`` and
    ``batch_size`` as they were resolved then), or ``None`` when there is no such study."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    stored = storage.get_study_user_attrs(study_id).get(STUDY_ATTR)
    if not isinstance(stored, dict) or not isinstance(stored.get("model"), dict):
        return None
    return stored["model"]


def load_study(name: str, storage: BaseStorage, url: str) -> tuple[optuna.Study, StudyInfo]:
    """Load an existing sweeper study (for report, export, dashboard); ``url`` names the storage
    in messages."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise StorageError(
            f"no study named {name!r} in storage {redact(url)}; run the sweep first.",
            key="study_name",
        ) from None
    stored = study.user_attrs.get(STUDY_ATTR)
    if stored is None:
        raise StorageError(f"study {name!r} was not created by the sweeper.", key="study_name")
    return study, _stored_info(name, stored)


def finished_records(study: optuna.Study) -> list[TrialRecord]:
    """Records of the study's complete trials, in trial order; an error if there are none."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    records = [TrialRecord.from_trial(t) for t in trials if TrialRecord.stored_in(t) is not None]
    if not records:
        raise NoFinishedTrialsError(
            f"study {study.study_name!r} has no finished trials yet; run the sweep first."
        )
    return records
