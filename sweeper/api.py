"""The Python API: :func:`sweep` arrays in memory, :func:`load` a sweep again, and read the
result as data.

The pipeline is assembled here and only here: data -> splits -> search space -> model factory
-> storage -> study -> the batched trial loop. Bad input is refused in that order, before the
study is created, so it leaves nothing behind. The command line is a client of these functions
(:func:`run_study_file`, :func:`open_study_file`), and so are the benchmarks::

    import sweeper

    result = sweeper.sweep(X, y, trials=40)          # NumPy arrays, or a DataFrame / Series
    result                                            # in Jupyter: the front as a table
    result.verdict.message                            # does weighting beat the baselines?
    exported = result.export("weights.json", min_precision=0.8)
    model.compile(optimizer="adam", loss=exported.loss())

Every error a user can cause is a :class:`~sweeper.errors.SweeperError` whose ``key`` names the
setting, column or option at fault.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage

from sweeper import logs
from sweeper._allocator import return_large_blocks
from sweeper.backend import choose_backend
from sweeper.config import (
    Config,
    DataConfig,
    ModelConfig,
    SearchConfig,
    StudyConfig,
    SweepConfig,
    check_export_rule,
    derived_study_name,
    load_study_file,
)
from sweeper.config._studyfile import StudyFile, errors_in
from sweeper.data import (
    Dataset,
    Splits,
    dataset_from_arrays,
    load_source,
    make_splits,
    resolve_task,
)
from sweeper.errors import ConfigError, RunFailedError, SweeperError
from sweeper.evaluation import Constraints
from sweeper.export import ExportedWeights, export_document, write_export
from sweeper.report import (
    BaselineSummary,
    FrontPoint,
    FrontReport,
    Verdict,
    build_report,
    publish,
    table_html,
    write_html,
    write_json,
)
from sweeper.search import check_search, space_distributions
from sweeper.study import (
    StudyInfo,
    check_search_unchanged,
    check_worker_storage,
    create_or_resume,
    finished_records,
    load_baselines,
    load_study,
    open_storage,
    redact,
    resolve_average,
    resolve_sampler,
    run_local_workers,
    run_study,
    select_point,
    stored_constraints,
    stored_model_settings,
    study_info,
    worker_environments,
)
from sweeper.study._optuna import storage_of

if TYPE_CHECKING:
    import pandas

logger = logging.getLogger(__name__)

PROBE_ROWS = 64
"""Training rows a model factory's model is tried on before the study is created."""

__all__ = [
    "PreparedSweep",
    "SweepResult",
    "load",
    "open_study_file",
    "prepare",
    "prepare_study_file",
    "run_study_file",
    "sweep",
]


class SweepResult:
    """A sweep's study, read as data: the front, the baselines, the verdict; report and export.

    Made by :func:`sweep`, :func:`load` or :func:`open_study_file`. The figures are read from the
    study once and kept; :meth:`refresh` reads them again (a sweep other workers still run).
    :attr:`study` is the Optuna study, :attr:`study_name` its name, :attr:`info` what the
    study was made of (task, labels, rows, training counts: ``info.describe_task()`` says it
    in words).
    """

    def __init__(
        self,
        study: optuna.Study,
        info: StudyInfo,
        *,
        storage_url: str,
        artifacts: str = StudyConfig.default("artifacts"),
        constraints: Constraints | None = None,
        export_rule: Mapping[str, Any] | None = None,
    ) -> None:
        self.study = study
        self.info = info
        self.storage_url = storage_url
        self.artifacts = artifacts
        self.export_rule = dict(export_rule or {})
        """The rule of an :meth:`export` that names none (``{}``: the recommended point)."""
        self.study_file: Path | None = None
        """The study file the sweep was run or reopened from (the command line's), so that the
        report page names the export command of this very study; ``None`` for arrays."""
        self._constraints = constraints
        self._report: FrontReport | None = None

    @classmethod
    def of(cls, study: optuna.Study, info: StudyInfo, config: StudyConfig) -> SweepResult:
        """The result as ``config`` sees it: its storage, artifacts folder and floors."""
        return cls(
            study, info, storage_url=config.url, artifacts=config.artifacts,
            constraints=Constraints(config.min_precision, config.min_recall),
            export_rule=config.export_rule,
        )

    @property
    def study_name(self) -> str:
        return self.study.study_name

    @property
    def optuna_storage(self) -> BaseStorage:
        """The storage the study lives in (what optuna-dashboard serves)."""
        return storage_of(self.study)

    @property
    def constraints(self) -> Constraints:
        """The ``min_precision`` / ``min_recall`` floors the front respects: the settings'
        (a study file's, a sweep's), else those the study's latest run stored."""
        if self._constraints is not None:
            return self._constraints
        return stored_constraints(self.study)

    def refresh(self) -> SweepResult:
        """Forget the figures read so far; the next access reads the study again."""
        self._report = None
        return self

    def report(
        self, *, html: str | Path | None = None, json: str | Path | None = None
    ) -> FrontReport:
        """The report's data (:class:`~sweeper.report.FrontReport`); with ``html`` or ``json``,
        also written there (atomically)."""
        if self._report is None:
            self._report = build_report(self.study, self.info, constraints=self.constraints)
        if json is not None:
            write_json(self._report, json)
        if html is not None:
            write_html(self._report, html, study_file=self.study_file,
                       export_rule=self.export_rule)
        return self._report

    def publish(self) -> list[str]:
        """Show the report in optuna-dashboard: its figures as the study's graph objects and
        its verdict and front as the study's note, replacing those of an earlier report.
        Returns the graph object ids (``sweeper-pareto``, ...)."""
        return publish(self.study, self.report())

    @property
    def front(self) -> list[FrontPoint]:
        """The validation front, from high recall to high precision, with test figures."""
        return self.report().front_points()

    def front_frame(self) -> pandas.DataFrame:
        """The front as a pandas DataFrame (one row per point); needs pandas."""
        try:
            import pandas
        except ImportError:
            raise SweeperError(
                "front_frame() needs pandas (pip install pandas); `front` has the same rows.",
                key="pandas",
            ) from None
        rows = [
            {f.name: getattr(point, f.name) for f in dataclasses.fields(point)
             if f.name != "candidate"}
            for point in self.front
        ]
        return pandas.DataFrame(rows)

    @property
    def baselines(self) -> dict[str, BaselineSummary]:
        """The baselines by name: unweighted, neg/pos (multi-label), scikit-learn balanced."""
        return {summary.name: summary for summary in self.report().baseline_summaries()}

    @property
    def verdict(self) -> Verdict:
        """Whether the searched weights beat every baseline on test, as data and a sentence."""
        return self.report().verdict

    def export(
        self,
        path: str | Path | None = None,
        *,
        trial: int | None = None,
        baseline: str | None = None,
        min_precision: float | None = None,
        min_recall: float | None = None,
        best_fbeta: float | None = None,
    ) -> ExportedWeights:
        """One operating point for production training, chosen by at most one rule (see
        :func:`sweeper.study.select_point`; baselines are points too); without one, the
        study's default rule (``[study] export``), by default the recommended point: what the
        verdict recommends. Written as JSON to ``path`` when given.

        Returns what :func:`sweeper.load_export` returns for that file.
        """
        rule = check_export_rule(
            trial=trial, baseline=baseline, min_precision=min_precision, min_recall=min_recall,
            best_fbeta=best_fbeta,
        ) or self.export_rule
        point = select_point(
            finished_records(self.study), baselines=list(load_baselines(self.study).values()),
            constraints=self.constraints, positives=self.info.selection_positives(), **rule,
        )
        document = export_document(
            point, self.info, study_name=self.study_name, storage_url=self.storage_url
        )
        if path is not None:
            write_export(document, path)
        return ExportedWeights.from_document(document)

    def _repr_html_(self) -> str:
        try:
            return table_html(self.report())
        except SweeperError as error:  # no finished trial yet
            return f"<p>{error}</p>"

    def __repr__(self) -> str:
        return (
            f"SweepResult(study={self.study_name!r}, storage={redact(self.storage_url)!r}, "
            f"task={self.info.task.value!r}, labels={len(self.info.labels)})"
        )


def _model_config(model: ModelConfig | Callable[..., Any] | Mapping[str, Any] | None):
    if model is None:
        return ModelConfig()
    if isinstance(model, ModelConfig):
        return model
    if isinstance(model, Mapping):
        return ModelConfig.from_mapping(dict(model))
    if callable(model):
        return ModelConfig(factory=model)
    raise ConfigError(
        f"model: expected a ModelConfig, a mapping of its keys or a factory function, got "
        f"{type(model).__name__}.", key="model",
    )


def _config(value: Any, kind: type[Config], key: str) -> Any:
    """A config object given as itself, a mapping of its keys, or ``None`` (the defaults)."""
    if value is None:
        return kind()
    if isinstance(value, kind):
        return value
    if isinstance(value, Mapping):
        return kind.from_mapping(dict(value))
    raise ConfigError(
        f"{key}: expected a {kind.__name__} or a mapping of its keys, got "
        f"{type(value).__name__}.", key=key,
    )


def _derived_name(dataset: Dataset, config: SweepConfig) -> str:
    """The study name that follows from the data and the settings (the same call resumes the
    same sweep, a changed one starts another; see :mod:`sweeper.config._identity`)."""
    return derived_study_name(dataset.fingerprint(), config)  # a hash of every feature: once


def sweep(
    X: Any,
    y: Any,
    *,
    labels: Sequence[str] | None = None,
    model: ModelConfig | Callable[..., Any] | Mapping[str, Any] | None = None,
    search: SearchConfig | Mapping[str, Any] | None = None,
    data: DataConfig | Mapping[str, Any] | None = None,
    trials: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    progress: bool = True,
    **study_options: Any,
) -> SweepResult:
    """Sweep class weights, their normalisation and the decision threshold on data in memory.

    Args:
        X: the inputs, ``(rows, ...)``: features ``(rows, features)`` (a NumPy array or a pandas
            DataFrame of numbers), sequences, images or token ids (see the docs' inputs guide).
        y: labels: a 0/1 matrix (or DataFrame) for multi-label, a vector (or Series) of class
            ids or names for multi-class; a vector of two values is binary (its rarer value the
            positive class, unless ``data={"positive_label": ...}``; ``data={"task":
            "multiclass"}`` keeps it a two-class softmax).
        labels: label or class names (default: the DataFrame's columns, the class names, or
            ``label_0, label_1, ...``).
        model: a :class:`~sweeper.ModelConfig` (the built-in MLP's layers, epochs, batch
            size, ...), a mapping of its keys, or a factory ``function(input_shape, n_outputs)``
            returning an uncompiled ``keras.Model`` with logit outputs.
        search: a :class:`~sweeper.SearchConfig` or a mapping of its keys: what the sampler
            searches.
        data: a :class:`~sweeper.DataConfig` or a mapping: validation and test fractions and
            the seed of the split.
        trials: the budget of complete trials (default 60).
        storage: an SQLAlchemy URL (default ``sqlite:///.sweeper/NAME.db``, as the CLI).
        study_name: the Optuna study name (default: derived from the data and the settings,
            so the same call resumes the same study).
        progress: show a progress bar (on a terminal or in a notebook; never in a redirected
            stderr, where the log lines report the run).
        **study_options: any other :class:`~sweeper.StudyConfig` key (``sampler``,
            ``min_precision``, ``average``, ...).

    Returns:
        A :class:`SweepResult` of the finished study. Running it again resumes the study and
        trains only what is missing from the budget.
    """
    return prepare(
        X, y, labels=labels, model=model, search=search, data=data, trials=trials,
        storage=storage, study_name=study_name, **study_options,
    ).run(progress=progress)


def prepare(
    X: Any,
    y: Any,
    *,
    labels: Sequence[str] | None = None,
    model: ModelConfig | Callable[..., Any] | Mapping[str, Any] | None = None,
    search: SearchConfig | Mapping[str, Any] | None = None,
    data: DataConfig | Mapping[str, Any] | None = None,
    trials: int | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    **study_options: Any,
) -> PreparedSweep:
    """:func:`sweep`'s checks and study, without running it: a :class:`PreparedSweep`."""
    dataset = dataset_from_arrays(X, y, labels=labels)
    data_config = _config(data, DataConfig, "data")
    for key in ("source", "label_columns", "label_column", "feature_columns"):
        if getattr(data_config, key) is not None:
            raise DataConfig.fail(key, "applies to study files; sweep() takes the arrays.")
    dataset = resolve_task(dataset, data_config)  # a 2-valued y is binary unless told not
    given = {"trials": trials, "storage": storage, "name": study_name}
    study_config = StudyConfig.from_mapping(
        {**study_options, **{key: value for key, value in given.items() if value is not None}}
    )
    config = SweepConfig(
        study=study_config,
        data=data_config,
        model=_model_config(model),
        search=_config(search, SearchConfig, "search"),
    )
    if config.study.name is None:
        config = dataclasses.replace(config, study=dataclasses.replace(
            config.study, name=_derived_name(dataset, config), storage=storage))
    return _prepare(config, dataset, source="arrays", folder=None)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (and a SIGTERM the command line turns into an interrupt) back while
    TensorFlow loads, then raise it.

    A ``KeyboardInterrupt`` raised inside TensorFlow's import lands in its import machinery,
    where bare ``except:`` clauses swallow it (the run went on as if nothing happened) or leave
    modules half-initialised (a traceback or an abort later). While the block runs, those
    signals only record themselves; afterwards their handlers are back and a recorded interrupt
    is raised as the usual ``KeyboardInterrupt``, outside any import."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted: list[int] = []
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if callable(signal.getsignal(signum)):  # Python raises an interrupt for it
            previous[signum] = signal.signal(
                signum, lambda number, frame: interrupted.append(number)
            )
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if interrupted:
        raise KeyboardInterrupt


def _import_keras_quietly() -> None:
    """Import Keras (and TensorFlow under it) with the C++ stderr silenced and Ctrl-C held back
    until it is loaded (:func:`_interrupts_held`).

    TensorFlow's native libraries print several lines (CUDA probing, oneDNN notices) before its
    logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them; they would bury the
    sweeper's own output. Python-level errors still surface: the descriptor is restored first.
    ``SWEEPER_TF_LOGS=1`` keeps them. It sets ``TF_CPP_MIN_LOG_LEVEL=3`` in this process's
    environment unless the caller set it.
    """
    if "keras" in sys.modules:
        return
    with _interrupts_held():
        if os.environ.get("SWEEPER_TF_LOGS"):
            import keras
            return
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 2)
                try:
                    import keras  # noqa: F401
                finally:
                    os.dup2(saved, 2)
        finally:
            os.close(saved)


def _function(model: ModelConfig, key: str, folder: Path | None) -> Callable[..., Any] | None:
    """The model factory (``key="factory"``) or training step (``"fit"``): the callable
    given, or ``"module:function"`` imported (the study file's folder importable), as every
    worker imports it."""
    value = getattr(model, key)
    if value is None or callable(value):
        return value
    from sweeper.training import load_factory

    return load_factory(value, folder, key=key)


@dataclasses.dataclass(frozen=True)
class PreparedSweep:
    """A sweep whose data, settings and model were checked and whose study exists: what
    :meth:`run` trains to its budget. A test or a script may act on :attr:`study` first (for
    example ``study.enqueue_trial(...)``, so those candidates are trained first)."""

    config: SweepConfig
    splits: Splits
    info: StudyInfo
    study: optuna.Study
    factory: Callable[..., Any] | None = None
    fit: Callable[..., Any] | None = None
    """The user's training step (``[model] fit``), or ``None`` for the packed trainer."""

    def run(self, *, progress: bool = True) -> SweepResult:
        """Train batches of trials until the study holds its budget of complete trials.

        Ctrl-C (a ``KeyboardInterrupt``) fails the batch in flight, queues its candidates for
        the next run, says how many trials are kept, and re-raises.
        """
        try:
            run_study(self.study, config=self.config, info=self.info, splits=self.splits,
                      factory=self.factory, fit=self.fit, progress=progress)
        except KeyboardInterrupt:
            complete = len(self.study.get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
            ))
            logger.warning(
                "stopped: %d complete trials are kept in the study; run the same sweep again "
                "to resume.", complete,
            )
            raise
        return self.result()

    def result(self) -> SweepResult:
        return SweepResult.of(self.study, self.info, self.config.study)


def _prepare(
    config: SweepConfig, dataset: Dataset, *, source: str, folder: Path | None,
) -> PreparedSweep:
    """Check everything, then create or resume the study: in this order, so that bad input
    leaves no study behind. From here on, freed large blocks go back to the system
    (:func:`~sweeper._allocator.return_large_blocks`: the memory budget of issue 30)."""
    return_large_blocks()
    with _interrupts_held():  # start-up imports swallow interrupts: raise them after
        return _checked_and_created(config, dataset, source=source, folder=folder)


def _automatic_as_stored(
    requested: ModelConfig, fitted: ModelConfig, stored: Mapping[str, Any]
) -> ModelConfig:
    """A resumed study's ``"auto"`` settings as its record resolved them when it was created:
    a later release's meaning of ``"auto"`` (a longer epoch cap, say) must not change the
    epochs of a study whose trials were trained with the earlier one."""
    changes = {
        key: stored[key] for key in ("epochs", "batch_size")
        if getattr(requested, key) is None and isinstance(stored.get(key), int)
    }
    return dataclasses.replace(fitted, **changes) if changes else fitted


def _checked_and_created(
    config: SweepConfig, dataset: Dataset, *, source: str, folder: Path | None,
) -> PreparedSweep:
    choose_backend()
    _import_keras_quietly()
    with logs.held_back():  # warnings are shown only if the input passes every check
        splits = make_splits(dataset, config.data)
        check_search(config.search, splits.train.task, splits.train.n_outputs)
        resolve_average(config.study.average, splits.train.task)  # binary refuses "macro"
        requested = config.model
        model, warning = config.model.fitted_to(splits.rows_per_model)
        if warning is not None:
            logger.warning(warning)
        config = dataclasses.replace(config, model=model)
        factory = _function(config.model, "factory", folder)
        fit = _function(config.model, "fit", folder)
        sampler = resolve_sampler(config.study.sampler, folder)
        config = dataclasses.replace(
            config, study=dataclasses.replace(config.study, sampler=sampler))
        from sweeper.training import build_optimizer, check_fits

        check_fits(config.model, n_features=splits.train.n_features,
                   n_outputs=splits.train.n_outputs, folds=splits.n_folds)
        # An argument the optimizer refuses is the settings' error, before any study exists.
        build_optimizer(config.model, steps_per_epoch=1, epochs=config.model.epochs or 1)
        if factory is not None:
            from sweeper.training import adapt_factory, check_factory

            build = adapt_factory(factory, splits.train.input_shape, splits.train.n_outputs)
            check_factory(build, splits.train.input_shape, splits.train.n_outputs,
                          splits.train.X[:PROBE_ROWS])
        if fit is not None:
            from sweeper.training import check_fit

            check_fit(fit, splits, config.model, factory=factory, seed=config.data.seed,
                      probe_rows=PROBE_ROWS)
        storage = open_storage(config.study.url,
                               reconnect_timeout=config.study.reconnect_timeout)
        name = config.study.name
        assert name is not None  # sweep() derives it; a study file must set it
        stored = stored_model_settings(storage, name)
        # A resumed study keeps its stored deferral length; one stored before it was recorded
        # has none, and StudyInfo.deferral_epochs falls back to its epochs, as its trials did.
        deferral = (requested.deferral_epochs(splits.rows_per_model) if stored is None
                    else stored.get("deferral_epochs"))
        if stored is not None:
            config = dataclasses.replace(
                config, model=_automatic_as_stored(requested, config.model, stored)
            )
        info = study_info(config, splits, source=source, factory=factory, fit=fit,
                          deferral_epochs=deferral)
        study = create_or_resume(config.study, info, storage)
        check_search_unchanged(study, space_distributions(config.search, info.task, info.labels))
    rows = (f"{info.n_train} training rows" if info.folds == 1
            else f"{info.n_train} rows in {info.folds} folds")
    logger.info(
        "study %r in %s: %s, %s, %d test rows", config.study.name,
        redact(config.study.url), info.describe_task(), rows, info.n_test,
    )
    if splits.note is not None:
        logger.info("validation: %s", splits.note)
    return PreparedSweep(config=config, splits=splits, info=info, study=study,
                         factory=None if factory is None else build, fit=fit)


def prepare_study_file(
    path: str | Path, *, storage: str | None = None, trials: int | None = None
) -> PreparedSweep:
    """A study file's sweep, checked and created (or resumed), not yet run; ``storage`` and
    ``trials`` override the file's."""
    study_file = load_study_file(path)
    return _prepare_file(study_file, study_file.config.with_overrides(storage=storage,
                                                                      trials=trials))


def _prepare_file(study_file: StudyFile, config: SweepConfig) -> PreparedSweep:
    with errors_in(study_file.path):  # errors found against the data are the file's too
        dataset = resolve_task(load_source(config.data, study_file.folder), config.data)
        assert config.data.source is not None  # a study file must set [data] source
        return _prepare(config, dataset, source=config.data.source, folder=study_file.folder)


def run_study_file(
    path: str | Path,
    *,
    storage: str | None = None,
    trials: int | None = None,
    progress: bool = True,
    workers: int | None = None,
    gpus: Sequence[str] | None = None,
) -> SweepResult:
    """``sweeper run``: create or resume a study file's sweep and run it to its budget, here or
    in local worker processes (``workers`` of them, or one per GPU in ``gpus``)."""
    if workers is not None and gpus is not None:
        raise ConfigError(
            "`workers` and `gpus` cannot both be given: gpus starts one worker per GPU.",
            key="gpus",
        )
    if workers is not None and workers < 1:
        raise ConfigError(f"workers: expected an integer >= 1, got {workers!r}.", key="workers")
    if gpus is not None and not gpus:
        raise ConfigError("gpus: expected at least one GPU id.", key="gpus")
    study_file = load_study_file(path)
    config = study_file.config.with_overrides(storage=storage, trials=trials)
    if workers in (None, 1) and gpus is None:
        result = _prepare_file(study_file, config).run(progress=progress)
    else:
        environments = worker_environments(workers, gpus)
        check_worker_storage(config.study.url, len(environments), "gpus" if gpus else "workers")
        prepared = _prepare_file(study_file, config)
        _run_workers(prepared.study, study_file.path, config, environments, progress=progress)
        result = prepared.result()
    result.study_file = Path(path)
    return result


def _run_workers(
    study: optuna.Study,
    path: Path,
    config: SweepConfig,
    environments: list[dict[str, str]],
    *,
    progress: bool,
) -> None:
    """Let worker processes train the study; show its global progress."""
    from tqdm.auto import tqdm

    budget = config.study.trials
    complete = (optuna.trial.TrialState.COMPLETE,)
    with tqdm(total=budget, unit="trial", disable=not logs.draws_progress(progress),
              file=sys.stderr, desc=f"{config.study.name} ({len(environments)} workers)") as bar:

        def show() -> None:
            bar.n = min(budget, len(study.get_trials(deepcopy=False, states=complete)))
            bar.refresh()

        code = run_local_workers(
            path, config.study.url, environments, progress=show,
            extra_arguments=["--trials", str(budget)],
        )
    if code != 0:
        raise RunFailedError(
            f"a worker exited with code {code}; see its messages above.", key="workers"
        )


def load(
    study_name: str,
    storage: str | None = None,
    *,
    artifacts: str = StudyConfig.default("artifacts"),
) -> SweepResult:
    """Reopen a finished or running sweep by name (``storage`` defaults to the SQLite file a
    sweep of that name writes, ``sqlite:///.sweeper/NAME.db``). Its front respects the
    ``min_precision`` / ``min_recall`` floors of the study's latest run."""
    config = StudyConfig(name=study_name, storage=storage, artifacts=artifacts)
    study, info = _open(config)
    return SweepResult(study, info, storage_url=config.url, artifacts=config.artifacts)


def open_study_file(path: str | Path, *, storage: str | None = None) -> SweepResult:
    """``sweeper report`` / ``export`` / ``dashboard``: the study file's sweep, reopened, read
    with the file's settings (its floors, artifacts folder)."""
    config = load_study_file(path).config.with_overrides(storage=storage).study
    result = SweepResult.of(*_open(config), config)
    result.study_file = Path(path)
    return result


def _open(config: StudyConfig) -> tuple[optuna.Study, StudyInfo]:
    """An existing study, read-only: a database that is not there is an error, not a new empty
    one left behind by a report or an export."""
    storage = open_storage(config.url, reconnect_timeout=config.reconnect_timeout,
                           read_only=True)
    assert config.name is not None  # load() is given it; a study file must set it
    return load_study(config.name, storage, config.url)
