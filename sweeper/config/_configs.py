"""The settings of a sweep, as four config objects that know nothing about TOML.

:class:`StudyConfig` (name, storage, budget, sampler, constraints, worker liveness),
:class:`DataConfig` (where the data comes from and how it is split), :class:`ModelConfig` (the
built-in MLP or a factory, and how it trains) and :class:`SearchConfig` (what the sampler
searches). Each field is declared once with its constraint, default and help
(:func:`~sweeper.config._options.option`); construction validates every field, so a bad value
fails where it is written, naming its key. :class:`SweepConfig` holds the four.

The study file (:mod:`sweeper.config._studyfile`), the command line and
:func:`sweeper.sweep` all build these objects; nothing below them reads TOML or arguments.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from sweeper.config._options import (
    MAX_SEED,
    AnyOf,
    AutoCount,
    Config,
    CostMatrix,
    Factory,
    Flag,
    Integer,
    LabelValue,
    LayerSizes,
    Named,
    NamedChoice,
    Number,
    OneOf,
    Range,
    SamplerChoice,
    Text,
    Texts,
    option,
)
from sweeper.config._rules import RECOMMENDED, ExportRule, parse_export_rule
from sweeper.config._vocabulary import (
    AVERAGES,
    CLASS_WEIGHTINGS,
    FAMILIES,
    MULTIPLIER_MODES,
    NORMALISATIONS,
    SAMPLERS,
    TASK_SETTINGS,
    THRESHOLD_RULES,
)
from sweeper.remedies import REMEDIES, searched_options

__all__ = [
    "AUTO_FOLDS",
    "CLIP_KEYS",
    "DEVICE_DATA",
    "MEMBER_LAYOUTS",
    "MIN_VALIDATION_POSITIVES",
    "MULTICLASS_KEYS",
    "MULTILABEL_KEYS",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "STOPS",
    "DataConfig",
    "ModelConfig",
    "SearchConfig",
    "StudyConfig",
    "SweepConfig",
    "default_storage_url",
]

MLP_HIDDEN = (100, 100)
"""Hidden layers of the built-in MLP when neither ``hidden`` nor ``factory`` is set (seed 000)."""
TARGET_STEPS = 1500
"""Gradient steps an automatic ``epochs`` gives without early stopping (``patience = 0``) or
with a cosine schedule, whose length must be known before training starts."""
AUTO_CAP_STEPS = 15_000
"""With early stopping, an automatic ``epochs`` is a cap, not a plan: training goes on while
the validation loss improves, up to this many gradient steps (10x :data:`TARGET_STEPS`). A
budget of 1,500 steps cut short small conv nets that were still improving (every trial's best
epoch was its last); early stopping ends a trial ``patience`` epochs after its best."""
MIN_AUTO_EPOCHS, MAX_AUTO_EPOCHS = 10, 300
MAX_AUTO_CAP_EPOCHS = 2000
"""The most epochs an automatic cap allows (tiny data sets have few steps per epoch)."""
MIN_AUTO_BATCH, MAX_AUTO_BATCH = 16, 256


def planned_epochs(steps_per_epoch: int) -> int:
    """Epochs of about :data:`TARGET_STEPS` gradient steps (:data:`MIN_AUTO_EPOCHS` to
    :data:`MAX_AUTO_EPOCHS`): ``"auto"`` epochs where the length must be known before training
    starts (no early stopping, a cosine schedule, a deferred remedy's switch)."""
    epochs = math.ceil(TARGET_STEPS / steps_per_epoch)
    return int(min(max(epochs, MIN_AUTO_EPOCHS), MAX_AUTO_EPOCHS))

MIN_STEPS = 300
"""Fewer gradient steps than this in a trial draw a warning naming ``epochs``/``batch_size``."""
AUTO_FOLDS = 5
"""Folds when ``[data] folds = "auto"`` turns cross-validation on."""
MIN_VALIDATION_POSITIVES = 20
"""Below this many validation positives of its rarest label or class, one validation split
ranks trials by noise (a front point moves by several points of recall between splits), so
``"auto"`` cross-validates."""
DEFAULT_SAMPLER_WINDOW = 300
"""TPE learns from the latest 300 complete trials, so that the trial loop costs about 10 ms a
trial besides training at any study size (issue 30: ``benchmarks/storage.py`` at the CLI's
defaults, pack 32: 6.9 to 10.6 ms on SQLite and PostgreSQL at 1,000 and 10,000 trials, against
17.6 to 27.7 ms with a window of 1000). What it costs in search: on the sweeper's own problem
(``benchmarks/sampler_window.py --problem sweeper``: the seed multi-label study's response on
trained models, 3 seeds) the validation hypervolume found at 1,000 trials is 0.1412 against
0.1416 with a window of 1000 (batches of 32), and 0.1418 against 0.1421 learning from every
trial at 3,000 trials: 0.2%, and none below 300 trials. Where a trial trains for seconds, the
loop's milliseconds matter less than that: ``sampler_window = 1000`` (or 0, every trial) then
buys the last 0.2% (see the storage benchmark's page)."""
OPTIMIZERS = (
    "adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "ftrl", "lion",
)
"""Keras optimizers a study may name (``keras.optimizers.get`` knows each). Each updates every
variable element by element (its moments, momentum and decay are per element), so a packed
member trains exactly as its lone model would; a test holds each to that."""
WITHHELD_OPTIMIZERS = {
    name: f"Keras's {title} {how} over a whole variable, so the members packed into one "
          "variable would train coupled, not each as its lone model, until it is computed per "
          "member."
    for name, title, how in (
        ("adafactor", "Adafactor", "factors its second moments and scales by the RMS"),
        ("lamb", "Lamb", "takes its trust ratio's norms"),
    )
}
"""Keras optimizers the sweeper does not offer, each with its reason (a one-line refusal)."""
STOPS = ("settled", "budget")
"""``[study] stop``: end once the answer is settled, or run the whole budget."""
SCHEDULES = ("constant", "cosine", "exponential")
"""Learning-rate schedules over a trial's epochs (``[model] schedule``)."""
MEMBER_LAYOUTS = ("auto", "copies", "vmapped")
"""``[model] members``: a factory's packed members as copies in one graph, or vmapped."""
DEVICE_DATA = ("auto", "resident", "streamed")
"""``[model] device_data``: the training rows resident on the device, or streamed to it."""
PRECISIONS = ("float32", "mixed_bfloat16")
"""``[model] precision``: Keras's dtype policies a study may train under. ``mixed_bfloat16``
computes in bfloat16 and keeps float32 variables (GPUs from NVIDIA's Ampere on, and TPUs, run it
natively); float16 would need loss scaling, which a packed network's per-member updates do not
have, so it is not offered."""
CLIP_KEYS = ("clipnorm", "global_clipnorm", "clipvalue")
"""Gradient clipping settings; Keras takes at most one."""
MULTILABEL_KEYS = ("thresholds", "threshold", "fbeta")
"""``SearchConfig`` keys that only a multi-label task uses."""
MULTICLASS_KEYS = ("class_weighting", "cost_matrix", "logit_adjustment")
"""``SearchConfig`` keys that only a multi-class task uses."""


def code_fingerprint(function: Callable[..., Any]) -> str | None:
    """A short hash of a function's source: a factory edited in a notebook under the same name
    is another model. The source text is the same in every process and Python version (a
    notebook cell's too); without source at hand, the bytecode with its constants (frozensets
    sorted, so the hash seed does not matter). ``None`` for a callable without Python code."""
    try:
        text = inspect.getsource(function)
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        if code is None:
            return None
        text = _code_text(code)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _code_text(code: CodeType) -> str:
    def constant(value: Any) -> str:
        if isinstance(value, CodeType):
            return _code_text(value)
        if isinstance(value, frozenset):
            return "{" + ",".join(sorted(constant(item) for item in value)) + "}"
        return repr(value)

    parts = [code.co_code.hex(), repr(code.co_names), *map(constant, code.co_consts)]
    return "|".join(parts)


def function_name(function: Any) -> str | None:
    """A factory or training step as ``"module:function"`` text (given text stays as it is)."""
    if function is None or isinstance(function, str):
        return function
    module = getattr(function, "__module__", None) or "?"
    return f"{module}:{getattr(function, '__qualname__', repr(function))}"


def default_storage_url(study_name: str) -> str:
    """SQLite next to where the user runs the sweeper: the embedded, zero-setup default."""
    return f"sqlite:///.sweeper/{study_name}.db"


@dataclass(frozen=True)
class StudyConfig(Config):
    """The Optuna study: its name, storage and budget, the sampler, and worker liveness."""

    section = "study"

    name: str | None = option(
        Text("a non-empty name of at most 512 characters", longest=512), None,
        "Optuna study name (the API derives one if unset)", pins=False,
    )
    storage: str | None = option(
        Text("an SQLAlchemy URL"), None,
        "SQLAlchemy URL or grpc://HOST:PORT; default sqlite:///.sweeper/NAME.db", pins=False,
    )
    trials: int = option(
        Integer(1, maximum=10_000_000), 60, "total budget of complete trials, all workers together",
        pins=False,
    )
    average: str = option(
        OneOf(AVERAGES), "auto",
        "auto: micro for multi-label and binary (the positive class's figures), macro for "
        "multi-class; binary refuses macro",
    )
    stop: str = option(
        OneOf(STOPS), "settled",
        "settled: end early once the remaining budget cannot plausibly change the verdict "
        "(a baseline's, by the paired comparison; never before 20 trials); budget: run every "
        "trial",
        pins=False,
    )
    sampler: Any = option(
        SamplerChoice(SAMPLERS), "tpe",
        "tpe (multivariate TPE), nsga2, gp (needs PyTorch), \"module:attribute\" naming any "
        "Optuna sampler or a function returning one, or (the API) a sampler object",
        pins=False,
    )
    sampler_window: int = option(
        Integer(0, maximum=10_000_000), DEFAULT_SAMPLER_WINDOW,
        f"tpe and gp learn from the latest N complete trials only (default "
        f"{DEFAULT_SAMPLER_WINDOW}; 0: all), which caps each ask's cost in a large study",
        pins=False,
    )
    sampler_seed: int = option(
        Integer(0, maximum=MAX_SEED), 0,
        "the same settings and seed give the same trials on one worker", pins=False,
    )
    min_precision: float | None = option(
        Number(0, 1), None, "trials below this validation precision are infeasible", pins=False,
    )
    min_recall: float | None = option(
        Number(0, 1), None, "trials below this validation recall are infeasible", pins=False,
    )
    heartbeat_interval: float = option(
        Number(0, 3600, open_low=True, expected="seconds in (0, 3600]"), 10.0,
        "seconds between a worker's heartbeats", pins=False,
    )
    grace_period: float = option(
        Number(0, 86400, open_low=True, expected="seconds in (0, 86400]"), 60.0,
        "seconds without a heartbeat after which a worker's trials are failed and retried",
        pins=False,
    )
    max_retries: int = option(
        Integer(0), 2, "how often the parameters of a trial whose worker died are tried again",
        pins=False,
    )
    reconnect_timeout: float = option(
        Number(0, 86400, expected="seconds in [0, 86400]"), 300.0,
        "seconds a worker keeps retrying a database (or proxy) that is away", pins=False,
    )
    artifacts: str = option(
        Text("a folder path"), ".sweeper/artifacts",
        "folder of the study's Optuna artifacts (uploads of your own) the dashboard serves",
        pins=False,
    )
    export: str = option(
        ExportRule(), RECOMMENDED,
        "the rule of an export that names none: recommended (the verdict's point), or e.g. "
        "min_precision=0.9", pins=False,
    )

    @property
    def export_rule(self) -> dict[str, Any]:
        """:attr:`export` as keyword arguments of the export functions."""
        return parse_export_rule(self.export)

    @property
    def url(self) -> str:
        """The storage URL: ``storage``, else the default SQLite file of the study's name."""
        if self.storage is not None:
            return self.storage
        if self.name is None:
            raise self.fail("name", "a study needs a name to find its default storage.")
        return default_storage_url(self.name)

    def check(self) -> None:
        if self.grace_period <= 2 * self.heartbeat_interval:
            raise self.fail(
                "grace_period",
                "`grace_period > 2 * heartbeat_interval` must hold, but got "
                f"(grace_period={self.grace_period}, "
                f"heartbeat_interval={self.heartbeat_interval}).",
            )


@dataclass(frozen=True)
class DataConfig(Config):
    """Where the data comes from (study files) and how it is split (always)."""

    section = "data"

    source: str | None = option(
        Text('a path or "builtin:NAME"'), None,
        "a .csv or .npz path, or builtin:NAME (study files; the API takes arrays)",
    )
    label_columns: tuple[str, ...] | None = option(
        Texts(), None, "CSV, multi-label: one 0/1 column per label"
    )
    label_column: str | None = option(
        Text("a column name"), None, "CSV, multi-class: one column of class names or ids"
    )
    feature_columns: tuple[str, ...] | None = option(
        Texts(), None, "CSV: the feature columns (default: every other column)"
    )
    validation_fraction: float = option(
        Number(0, 1, open_low=True, open_high=True), 0.2, "share of rows for validation"
    )
    test_fraction: float = option(
        Number(0, 1, open_low=True, open_high=True), 0.2, "share of rows held out for test"
    )
    seed: int = option(
        Integer(0, maximum=MAX_SEED), 0,
        "the split, the built-in data and every model's initial weights"
    )
    folds: int | None = option(
        AutoCount(), None,
        "K-fold cross-validation on the non-test rows (K >= 2), 1 for one validation split, or "
        f'"auto" (None): {AUTO_FOLDS} folds when one validation split would hold fewer than '
        f"{MIN_VALIDATION_POSITIVES} positives of the rarest label or class",
    )
    standardize: bool = option(
        Flag(), True,
        "scale each feature (flat features) or channel (the last axis of sequences and images) "
        "to mean 0 and variance 1, fitted on the training rows (exported, so production "
        "applies the same); integer features (token ids, uint8 pixels) are never scaled",
    )
    # task and positive_label do not pin through the settings: what they decide (the task, the
    # positive class, the 0/1 column) is part of the data's fingerprint, which pins the study.
    # So `task = "multiclass"` on a 2-valued y finds the two-class studies of earlier releases.
    task: str = option(
        OneOf(TASK_SETTINGS), "auto",
        'auto: a 1-D y with two values is binary, with more multi-class, a 2-D y multi-label; '
        '"binary" insists on two values; "multiclass" keeps a 2-valued y a two-class softmax',
        pins=False,
    )
    positive_label: str | int | bool | None = option(
        LabelValue(), None,
        "binary: the class whose recall and precision are searched (default: the rarer value; "
        "on a tie, the second in sorted order)",
        pins=False,
    )

    def check(self) -> None:
        if self.label_columns is not None and self.label_column is not None:
            raise self.fail(
                "label_column",
                "`label_columns` (multi-label) and `label_column` (multi-class) cannot both be "
                "set.",
            )
        if self.positive_label is not None and self.task == "multiclass":
            raise self.fail(
                "positive_label",
                "applies to a binary task, but `task = 'multiclass'` is set (a two-class "
                "softmax has no positive class).",
            )
        if self.validation_fraction + self.test_fraction >= 1:
            raise self.fail(
                "test_fraction",
                "`validation_fraction + test_fraction < 1` must hold, but got "
                f"{self.validation_fraction} + {self.test_fraction}.",
            )


@dataclass(frozen=True)
class ModelConfig(Config):
    """The model each trial trains: the built-in MLP (``hidden``) or a ``factory``, and how."""

    section = "model"

    hidden: tuple[int, ...] | None = option(
        LayerSizes(), None,
        f"hidden layer sizes of the built-in MLP (default {list(MLP_HIDDEN)}; [] is linear)",
    )
    factory: Any = option(
        Factory(), None,
        "function(input_shape, n_outputs) -> uncompiled keras.Model with logit outputs "
        "(input_shape: one sample's shape, a tuple)",
    )
    fit: Any = option(
        Factory(), None,
        "a training step of your own: function(model, loss, arguments) -> the trained "
        "keras.Model (sweeper.training.FitArguments); its trials are not packed",
    )
    epochs: int | None = option(
        AutoCount(), None,
        'the most epochs per trial (early stopping ends sooner), or "auto" (None): with early '
        "stopping, train while the validation loss improves, up to "
        f"{AUTO_CAP_STEPS:,} gradient steps ({MIN_AUTO_EPOCHS} to {MAX_AUTO_CAP_EPOCHS} "
        f"epochs); without it (patience = 0) or with a cosine schedule, about {TARGET_STEPS:,} "
        f"steps ({MIN_AUTO_EPOCHS} to {MAX_AUTO_EPOCHS} epochs)",
    )
    batch_size: int | None = option(
        AutoCount(), None,
        'rows per gradient step, or "auto" (None): a power of two near rows / 64, '
        f"{MIN_AUTO_BATCH} to {MAX_AUTO_BATCH}",
    )
    learning_rate: float = option(
        Number(0, 10, open_low=True), 1e-3,
        "the optimizer's learning rate (the schedule's peak)",
    )
    patience: int = option(
        Integer(0), 10,
        "epochs without a lower validation loss before a trial stops and keeps its best epoch "
        "(Keras's EarlyStopping, per trial); 0: train every epoch",
    )
    pack: int | None = option(
        AutoCount(), None,
        'trials trained together per pass, or "auto" (None) to let the sweeper choose',
        pins=False,
    )
    optimizer: Named = option(
        NamedChoice(OPTIMIZERS, refused={
            "learning_rate": "[model] learning_rate", "clipnorm": "[model] clipnorm",
            "global_clipnorm": "[model] global_clipnorm", "clipvalue": "[model] clipvalue",
        }, withheld=WITHHELD_OPTIMIZERS),
        Named("adam"),
        'a Keras optimizer by name, alone or with its arguments: "adam" (default), '
        '{name = "sgd", momentum = 0.9, nesterov = true}, {name = "adamw", weight_decay = 1e-4}',
    )
    schedule: Named = option(
        NamedChoice(SCHEDULES, arguments={
            "constant": {},
            "cosine": {"warmup_epochs": Integer(0), "alpha": Number(0, 1)},
            "exponential": {"decay_rate": Number(0, 1, open_low=True)},
        }),
        Named("constant"),
        "the learning rate over a trial's epochs: constant (default); cosine (decay to alpha x "
        "learning_rate at the last epoch, after warmup_epochs of linear warm-up from 0); "
        "exponential (learning_rate x decay_rate ** epoch)",
    )
    clipnorm: float | None = option(
        Number(0, math.inf, open_low=True, expected="a finite number > 0"), None,
        "clip each variable's gradient to this norm (Keras's clipnorm), each trial on its own",
    )
    global_clipnorm: float | None = option(
        Number(0, math.inf, open_low=True, expected="a finite number > 0"), None,
        "clip each trial's whole gradient to this norm (Keras's global_clipnorm)",
    )
    clipvalue: float | None = option(
        Number(0, math.inf, open_low=True, expected="a finite number > 0"), None,
        "clip every gradient entry to [-clipvalue, clipvalue] (Keras's clipvalue)",
    )

    members: str = option(
        OneOf(MEMBER_LAYOUTS), "auto",
        "how a factory's packed members run: copies (one copy of the model per member in one "
        "graph), vmapped (one model, its variables stacked and its forward pass mapped over "
        "the members with jax.vmap: one batched convolution; JAX only), or auto: vmapped on a "
        "JAX accelerator, copies elsewhere (XLA's CPU backend runs a vmapped convolution "
        "slowly)",
        pins=False,
    )
    device_data: str = option(
        OneOf(DEVICE_DATA), "auto",
        "where the training rows live while a batch trains: resident (on the device, one "
        "compiled call per epoch), streamed (host memory or a memory map, sent to the device "
        "in blocks of batches, the same batch order), or auto: resident when they take at most "
        "a quarter of the device's memory",
        pins=False,
    )
    precision: str = option(
        OneOf(PRECISIONS), "float32",
        "float32, or mixed_bfloat16: layers compute in bfloat16 with float32 variables "
        "(Keras's mixed precision; fast on GPUs with bfloat16 and on TPUs, slow on a CPU); "
        "losses are computed in float32",
    )

    def check(self) -> None:
        if self.factory is not None and self.hidden is not None:
            raise self.fail("factory", "`factory` and `hidden` cannot both be set.")
        clips = [key for key in CLIP_KEYS if getattr(self, key) is not None]
        if len(clips) > 1:
            raise self.fail(clips[-1], f"`{clips[0]}` and `{clips[1]}` cannot both be set "
                                       "(Keras takes one of them).")

    @property
    def layers(self) -> tuple[int, ...] | None:
        """The built-in MLP's hidden layers (``hidden``, else the default); ``None`` with a
        factory."""
        if self.factory is not None:
            return None
        return MLP_HIDDEN if self.hidden is None else self.hidden

    @property
    def factory_name(self) -> str | None:
        """The factory as ``"module:function"`` text: what the study stores and exports."""
        return function_name(self.factory)

    @property
    def fit_name(self) -> str | None:
        """The training step as ``"module:function"`` text (``None``: the packed trainer)."""
        return function_name(self.fit)

    def auto_epochs(self, steps_per_epoch: int) -> int:
        """What ``epochs = "auto"`` means for ``steps_per_epoch``: with early stopping (and a
        schedule that needs no length), a cap of :data:`AUTO_CAP_STEPS` steps that early
        stopping ends ``patience`` epochs after each trial's best; otherwise about
        :data:`TARGET_STEPS` steps."""
        if self.patience and self.schedule.name != "cosine":
            epochs = math.ceil(AUTO_CAP_STEPS / steps_per_epoch)
            return int(min(max(epochs, MIN_AUTO_EPOCHS), MAX_AUTO_CAP_EPOCHS))
        return planned_epochs(steps_per_epoch)

    def deferral_epochs(self, n_rows: int) -> int:
        """The epochs of which a deferred remedy's switch is a share, for ``n_rows`` training
        rows: ``epochs`` when it is a number; with ``"auto"``, the planned length
        (:func:`planned_epochs`, about :data:`TARGET_STEPS` steps), not the early-stopping cap.

        A share of the cap (15,000 steps) would train a deferred member unweighted for most of
        a budget early stopping is there to cut: on a 110-row set the 75% baseline waited 1,500
        of 2,000 epochs for its weights, long after every other member had stopped."""
        fitted, _ = self.fitted_to(n_rows)
        assert fitted.epochs is not None and fitted.batch_size is not None  # fitted_to
        if self.epochs is not None:
            return fitted.epochs
        return min(fitted.epochs, planned_epochs(math.ceil(n_rows / fitted.batch_size)))

    def fitted_to(self, n_rows: int) -> tuple[ModelConfig, str | None]:
        """``epochs`` and ``batch_size`` chosen for ``n_rows`` training rows where unset, and a
        warning (naming the keys) when the values set give fewer than :data:`MIN_STEPS`
        gradient steps: a model trained so little ranks by chance, and every figure of the
        sweep with it."""
        batch_size = self.batch_size
        if batch_size is None:
            batch_size = 2 ** round(math.log2(max(n_rows, 1) / 64))
            batch_size = int(min(max(batch_size, MIN_AUTO_BATCH), MAX_AUTO_BATCH))
        steps_per_epoch = math.ceil(n_rows / batch_size)
        epochs = self.epochs if self.epochs is not None else self.auto_epochs(steps_per_epoch)
        fitted = dataclasses.replace(self, epochs=epochs, batch_size=batch_size)
        steps = epochs * steps_per_epoch
        if steps >= MIN_STEPS or (self.epochs is None and self.batch_size is None):
            return fitted, None
        keys = " and ".join(
            f"{key} = {getattr(fitted, key)}" for key in ("epochs", "batch_size")
            if getattr(self, key) is not None
        )
        return fitted, (
            f"[model] {keys} give {steps} gradient steps on {n_rows} training rows (fewer than "
            f"{MIN_STEPS}): the models will barely train; raise epochs, lower batch_size, or "
            'leave them out ("auto").'
        )

    def settings(self) -> dict[str, Any]:
        """The pinning settings (:meth:`Config.settings`), the model named as it is built:
        ``hidden`` the built-in MLP's layers (``None`` with a factory), ``factory`` as
        ``"module:function"`` and, for a callable factory, its code (``factory_code``)."""
        facts = super().settings()
        facts["hidden"] = None if self.layers is None else list(self.layers)
        facts["factory"] = self.factory_name
        if callable(self.factory):
            facts["factory_code"] = code_fingerprint(self.factory)
        facts["fit"] = self.fit_name
        if callable(self.fit):
            facts["fit_code"] = code_fingerprint(self.fit)
        return facts

    def describe(
        self, factory: Callable[..., Any] | None = None, fit: Callable[..., Any] | None = None
    ) -> dict[str, Any]:
        """What a study pins and an export records: resuming with another model is refused.

        A factory (and a training step) is pinned by its name and its code (``factory``,
        ``fit``: the functions ``"module:function"`` names were imported as; a callable
        speaks for itself).
        """
        facts = self.settings()
        if factory is not None and "factory_code" not in facts:
            facts["factory_code"] = code_fingerprint(factory)
        if fit is not None and "fit_code" not in facts:
            facts["fit_code"] = code_fingerprint(fit)
        return facts


def _with_remedy_options(cls: type[Config]) -> type[Config]:
    """Add each registered remedy's searched ranges (:data:`sweeper.remedies.REMEDIES`) to
    ``[search]`` as options of their own, before ``given``: a remedy declares them once, in its
    module, and the study file, the API and the reference read them from here."""
    annotations = dict(inspect.get_annotations(cls))
    given = annotations.pop("given")
    for key, searched in searched_options().items():
        bounds = Number(searched.low, searched.high, open_low=searched.open_low,
                        open_high=searched.open_high)
        annotations[key] = "tuple[float, float]"
        setattr(cls, key, option(Range(bounds, searched.bounds_text), searched.default,
                                 searched.help))
    annotations["given"] = given
    cls.__annotations__ = annotations
    return cls


@dataclass(frozen=True)
@_with_remedy_options
class SearchConfig(Config):
    """What the sampler searches. Ranges are ``(low, high)``; lists are the choices offered."""

    section = "search"

    families: tuple[str, ...] = option(
        AnyOf(FAMILIES), ("inverse_frequency",), "weight families, searched as a choice"
    )
    exponent: tuple[float, float] = option(
        Range(Number(0, 10), "[low, high] with 0 <= low <= high <= 10"), (0.0, 1.5),
        "inverse frequency ** exponent: 0 is unweighted, 1 is neg/pos",
    )
    beta: tuple[float, float] = option(
        Range(Number(0, 1, open_low=True, open_high=True),
              "[low, high] with 0 < low <= high < 1"),
        (0.9, 0.9999), "effective number's beta, searched as log(1 - beta)",
    )
    multipliers: str = option(
        OneOf(MULTIPLIER_MODES), "none",
        "none, buckets (one multiplier per frequency bucket) or per_label (<= 12 labels)",
    )
    buckets: int = option(
        Integer(1), 3, 'frequency buckets (tail to head) with multipliers = "buckets"'
    )
    multiplier: tuple[float, float] = option(
        Range(Number(0, 1000, open_low=True), "[low, high] with 0 < low <= high <= 1000"),
        (0.25, 4.0), "range of each multiplier, searched on a log scale",
    )
    normalisations: tuple[str, ...] = option(
        AnyOf(NORMALISATIONS), NORMALISATIONS, "normalisations of the weight vector"
    )
    thresholds: tuple[str, ...] = option(
        AnyOf(THRESHOLD_RULES), ("global",),
        "multi-label decision rules: global (one searched threshold) and/or per_label "
        "(each label's F-beta-optimal threshold on validation)",
    )
    threshold: tuple[float, float] = option(
        Range(Number(0.0001, 0.9999), "[low, high] within (0, 1)"), (0.01, 0.99),
        "range of the global threshold",
    )
    fbeta: tuple[float, float] = option(
        Range(Number(0.01, 100), "[low, high] with 0.01 <= low <= high <= 100"), (0.25, 4.0),
        "range of the per-label rule's beta, log scale",
    )
    class_weighting: tuple[str, ...] = option(
        AnyOf(CLASS_WEIGHTINGS), ("true_class",),
        "multi-class: weight a row by its true class, its predicted class, or a cost matrix",
    )
    cost_matrix: tuple[tuple[float, ...], ...] | None = option(
        CostMatrix(), None, "cost_matrix[y][k]: the cost of predicting k when the truth is y"
    )
    logit_adjustment: tuple[float, float] = option(
        Range(Number(0, 10), "[low, high] with 0 <= low <= high <= 10"), (0.0, 2.0),
        "multi-class: range of tau in argmax(log p - tau log prior)",
    )
    weight_decay: tuple[float, float] | None = option(
        Range(Number(0, 1, open_low=True), "[low, high] with 0 < low <= high <= 1"), None,
        "searched weight decay, log scale, e.g. [1e-5, 1e-2]: Keras's decoupled decay of each "
        "member's variables (the optimizer's weight_decay; it replaces the optimizer's own); "
        "off unless set",
    )
    remedies: tuple[str, ...] = option(
        AnyOf(tuple(REMEDIES)), ("weights",),
        "how the weights train, searched as a choice: "
        + ", ".join(f"{name} ({remedy.title})" for name, remedy in REMEDIES.items()),
    )
    # Each remedy's searched ranges follow, from the registry (see _with_remedy_options).
    given: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """The keys the user set; task-specific keys are checked against the data with it. A
    study file's table gives the keys it holds; left empty (the API), every key whose value
    differs from its default counts as given."""

    def check(self) -> None:
        if not self.given:
            changed = frozenset(
                key for key in self.keys() if getattr(self, key) != self.default(key)
            )
            object.__setattr__(self, "given", changed)
        if "buckets" in self.given and self.multipliers != "buckets":
            raise self.fail(
                "buckets", f'`buckets` applies to `multipliers = "buckets"`, not to '
                f"{self.multipliers!r}.",
            )
        for key in searched_options().keys() & self.given:
            owners = [name for name, remedy in REMEDIES.items() if key in remedy.keys]
            if not set(owners) & set(self.remedies):
                owner = " or ".join(repr(name) for name in owners)
                raise self.fail(
                    key, f"`{key}` applies to the {owner} remedy, but `remedies` does not "
                    f"list it (it lists {list(self.remedies)}).",
                )
        wants_matrix = "cost_matrix" in self.class_weighting
        if wants_matrix and self.cost_matrix is None:
            raise self.fail(
                "cost_matrix", "missing: `class_weighting` lists 'cost_matrix', which needs it."
            )
        if self.cost_matrix is not None and not wants_matrix:
            raise self.fail(
                "cost_matrix",
                "`cost_matrix` is set but `class_weighting` does not list 'cost_matrix'.",
            )

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> SearchConfig:
        """From a study file's table: the keys it holds are the keys given."""
        unknown = sorted(set(values) - set(cls.keys()))
        if unknown:
            raise cls.fail(unknown[0], "unknown key.")
        return cls(**values, given=frozenset(values))


@dataclass(frozen=True)
class SweepConfig:
    """Everything a sweep is set up with, validated: the four groups of settings."""

    study: StudyConfig = field(default_factory=StudyConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def canonical(self) -> dict[str, dict[str, Any]]:
        """What pins a study, per section, without the settings left at their defaults
        (:meth:`Config.canonical`); a section with nothing set is left out."""
        parts = {part.section: part.canonical()
                 for part in (self.study, self.data, self.model, self.search)}
        return {section: settings for section, settings in parts.items() if settings}

    def with_overrides(
        self, *, storage: str | None = None, trials: int | None = None
    ) -> SweepConfig:
        """The config with command-line or API overrides applied (validated like the rest)."""
        changes: dict[str, Any] = {
            key: value for key, value in (("storage", storage), ("trials", trials))
            if value is not None
        }
        if not changes:
            return self
        study = dataclasses.replace(self.study, **changes)
        return dataclasses.replace(self, study=study)
