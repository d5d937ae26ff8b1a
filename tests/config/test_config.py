"""Config objects: each constraint declared once drives the API, the study file and argparse,
with one message template."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from sweeper.cli import build_parser
from sweeper.config import (
    DataConfig,
    ModelConfig,
    SearchConfig,
    StudyConfig,
    SweepConfig,
    parse_study_file,
)
from sweeper.errors import ConfigError, StudyFileError

CONFIGS = (StudyConfig, DataConfig, ModelConfig, SearchConfig)
EVERY_KEY = [
    (config, field.name)
    for config in CONFIGS
    for field in dataclasses.fields(config)
    if "constraint" in field.metadata
]


def study_file_text(section: str, key: str, value: str) -> str:
    """A minimal study file with ``[section] key = value`` set."""
    tables = {"study": {"name": '"demo"', "trials": "5"},
              "data": {"source": '"builtin:seed-multilabel"'}}
    tables.setdefault(section, {})[key] = value
    return "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in table.items())
        for name, table in tables.items()
    )


def test_defaults_are_valid_and_declared_once():
    config = SweepConfig()
    assert config.model.layers == (100, 100) and config.model.hidden is None
    assert config.study.storage is None and config.study.trials == 60
    assert StudyConfig(name="x").url == "sqlite:///.sweeper/x.db"
    # The default storage follows the name; a factory replaces the default layers.
    renamed = dataclasses.replace(StudyConfig(name="x"), name="y")
    assert renamed.url == "sqlite:///.sweeper/y.db"
    assert dataclasses.replace(ModelConfig(), factory="pkg.mod:build").layers is None
    for kind, key in EVERY_KEY:
        assert kind.help(key), f"{kind.section}.{key} has no help text"


@pytest.mark.parametrize(("kind", "key"), EVERY_KEY, ids=lambda v: getattr(v, "section", v))
def test_every_key_refuses_a_wrong_type_the_same_way_in_the_api_and_the_file(kind, key):
    """A table (a dict) is no valid value of any key: the API's message, and the study file's
    after its path, are the same sentence naming the section and the key."""
    with pytest.raises(ConfigError) as api:
        kind(**{key: {"wrong": 1}})
    assert (api.value.section, api.value.key) == (kind.section, key)
    assert str(api.value).startswith(f"[{kind.section}] {key}: expected ")
    assert str(api.value).endswith("got {'wrong': 1}.")

    text = study_file_text(kind.section, key, "{ wrong = 1 }")
    with pytest.raises(StudyFileError) as file:
        parse_study_file(text, Path("demo.toml"))
    assert str(file.value) == f"demo.toml: {api.value}"
    assert file.value.key == key


@pytest.mark.parametrize(
    ("build", "key", "message"),
    [
        (lambda: ModelConfig(epochs=0), "epochs", 'expected an integer >= 1 or "auto", got 0.'),
        (lambda: ModelConfig(epochs=True), "epochs", "got True."),
        (lambda: ModelConfig(learning_rate=float("nan")), "learning_rate", "expected a number"),
        (lambda: ModelConfig(factory="module_without_colon"), "factory", "expected"),
        (lambda: ModelConfig(factory=lambda a, b: None, hidden=(3,)), "factory",
         "`factory` and `hidden` cannot both be set."),
        (lambda: StudyConfig(heartbeat_interval=40), "grace_period",
         "`grace_period > 2 * heartbeat_interval` must hold"),
        (lambda: DataConfig(label_columns=("a",), label_column="b"), "label_column",
         "cannot both be set"),
        (lambda: SearchConfig(exponent=(2, 1)), "exponent", "expected [low, high]"),
        (lambda: SearchConfig(buckets=2), "buckets", '`buckets` applies to `multipliers = '),
        (lambda: SearchConfig(class_weighting=("cost_matrix",)), "cost_matrix", "missing"),
        (lambda: StudyConfig.from_mapping({"trails": 3}), "trails", "unknown key."),
    ],
)
def test_api_errors_name_their_key(build, key, message):
    with pytest.raises(ConfigError) as caught:
        build()
    assert caught.value.key == key
    assert message in str(caught.value)


def test_values_are_normalised():
    search = SearchConfig(exponent=[0, 1], normalisations=["none"], cost_matrix=None)
    assert search.exponent == (0.0, 1.0) and search.normalisations == ("none",)
    assert search.given == frozenset({"exponent", "normalisations"})
    assert ModelConfig(pack="auto").pack is None
    assert ModelConfig(hidden=[]).layers == ()
    assert StudyConfig(trials=np.int64(7)).trials == 7  # NumPy's integers are integers


def test_command_line_values_use_the_same_constraint(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "demo.toml", "--trials", "0"])
    (trials,) = [f for f in dataclasses.fields(StudyConfig) if f.name == "trials"]
    constraint = trials.metadata["constraint"]
    assert f"--trials: expected {constraint.expected}, got '0'" in capsys.readouterr().err
    assert parser.parse_args(["run", "demo.toml", "--trials", "7"]).trials == 7


@pytest.mark.parametrize(("settings", "rows", "epochs"), [
    ({}, 18_000, 212),                          # batch 256, 71 steps: 15,000 steps with patience
    ({}, 300, 790),                             # batch 16, 19 steps
    ({}, 100, 2000),                            # 7 steps: the cap of 2,000 epochs
    ({"patience": 0}, 18_000, 22),              # no early stopping: about 1,500 steps
    ({"schedule": {"name": "cosine"}}, 18_000, 22),  # a cosine needs its length up front
    ({"epochs": 7}, 18_000, 7),
])
def test_automatic_epochs_follow_the_validation_loss_up_to_a_cap(settings, rows, epochs):
    """With early stopping an automatic budget is a cap that early stopping ends (training goes
    on while the validation loss improves); without it, or with a cosine schedule, a plan."""
    fitted, _ = ModelConfig.from_mapping(settings).fitted_to(rows)
    assert fitted.epochs == epochs
