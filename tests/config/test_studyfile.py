from __future__ import annotations

from pathlib import Path

import pytest

from sweeper.config import load_study_file, parse_study_file
from sweeper.errors import StudyFileError

MINIMAL = """
[study]
name = "demo"
trials = 5

[data]
source = "builtin:seed-multilabel"
"""


def parse(text: str):
    return parse_study_file(text, Path("demo.toml")).config


def test_minimal_file_gets_defaults():
    spec = parse(MINIMAL)
    assert spec.study.url == "sqlite:///.sweeper/demo.db"
    assert spec.model.layers == (100, 100)
    assert spec.model.pack is None
    assert spec.search.normalisations == ("none", "sum_to_one", "mean_one", "balanced")


def test_shipped_studies_parse():
    for path in Path(__file__).parents[2].joinpath("studies").glob("*.toml"):
        assert load_study_file(path).config.study.trials >= 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[model]\nepochz = 3", r"\[model\] epochz: unknown key"),
        ("[model]\nepochs = 0",
         r"\[model\] epochs: expected an integer >= 1 or \"auto\", got 0"),
        ("[model]\nepochs = 2.5",
         r"\[model\] epochs: expected an integer >= 1 or \"auto\", got 2.5"),
        ("[model]\nepochs = true",
         r"\[model\] epochs: expected an integer >= 1 or \"auto\", got True"),
        ("[model]\nhidden = [10, -1]", r"\[model\] hidden: expected a list of positive integers"),
        ("[model]\npack = 0", r"\[model\] pack: expected an integer >= 1 or \"auto\""),
        ('[model]\nfactory = "pkg.mod:f"\nhidden = [3]', r"`factory` and `hidden` cannot both"),
        (
            '[model]\nfactory = "pkg.mod"',
            r"\[model\] factory: expected \"package.module:function\"",
        ),
        ("[search]\nexponent = [2, 1]", r"\[search\] exponent: expected \[low, high\]"),
        ("[search]\nthreshold = [0, 0.5]", r"\[search\] threshold: expected \[low, high\] within"),
        ('[search]\nnormalisations = ["l2"]', r"\[search\] normalisations: expected a list drawn"),
        ("[serch]\nexponent = [0, 1]", r"\[serch\]: unknown table"),
    ],
)
def test_bad_values_name_the_key(extra, message):
    with pytest.raises(StudyFileError, match=message):
        parse(MINIMAL + extra)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[data]\nsource = "x.csv"', r"\[study\]: missing required table"),
        (
            '[study]\nname = "a"\n[data]\nsource = "x.csv"',
            r"\[study\] trials: missing required key",
        ),
        (
            '[study]\nname = "a"\ntrials = 3\nstorag = "x"\n[data]\nsource = "x.csv"',
            r"\[study\] storag: unknown key",
        ),
        (
            '[study]\nname = "a"\ntrials = 3\naverage = "weighted"\n[data]\nsource = "x.csv"',
            r"\[study\] average: expected one of",
        ),
        (
            '[study]\nname = "a"\ntrials = 3\n[data]\nsource = "x.csv"\nlabel_column = "c"\n'
            'label_columns = ["a"]',
            r"`label_columns` \(multi-label\) and `label_column`",
        ),
        (
            '[study]\nname = "a"\ntrials = 3\n[data]\nsource = "x.csv"\nvalidation_fraction = 0.6\n'
            "test_fraction = 0.5",
            r"`validation_fraction \+ test_fraction < 1` must hold",
        ),
        (
            '[study]\nname = "a"\ntrials = 3\n[data]\nsource = "x.csv"\ntest_fraction = 1.0',
            r"\[data\] test_fraction: expected a number in \(0, 1\)",
        ),
        ("[study\nname=", "not valid TOML"),
    ],
)
def test_bad_files(text, message):
    with pytest.raises(StudyFileError, match=message):
        parse(text)


def test_missing_study_file():
    with pytest.raises(StudyFileError, match=r"nowhere.toml: study file not found"):
        load_study_file("nowhere.toml")


def test_overrides_replace_storage_and_trials():
    spec = parse(MINIMAL).with_overrides(storage="sqlite:///other.db", trials=9)
    assert (spec.study.url, spec.study.trials) == ("sqlite:///other.db", 9)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("min_precision = 1.5", r"\[study\] min_precision: expected a number in \[0, 1\], got 1.5"),
        ("min_recall = -0.1", r"\[study\] min_recall: expected a number in \[0, 1\]"),
        ('sampler = "cmaes"', r"\[study\] sampler: expected one of \('tpe', 'nsga2', 'gp'\)"),
        ("grace_period = 5\nheartbeat_interval = 10", r"`grace_period > 2 \* heartbeat_interval`"),
        ("max_retries = -1", r"\[study\] max_retries: expected an integer >= 0"),
    ],
)
def test_bad_study_values_name_the_key(line, message):
    with pytest.raises(StudyFileError, match=message):
        parse(MINIMAL.replace("trials = 5", f"trials = 5\n{line}"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('families = ["focal"]', r"\[search\] families: expected a list drawn from"),
        ('multipliers = "per_class"', r"\[search\] multipliers: expected one of \('none', "),
        ("buckets = 0", r"\[search\] buckets: expected an integer >= 1, got 0"),
        ("buckets = 3", r'`buckets` applies to `multipliers = "buckets"`, not to \'none\''),
        ("multiplier = [0, 2]", r"\[search\] multiplier: expected \[low, high\] with 0 < low"),
        ('thresholds = ["best"]', r"\[search\] thresholds: expected a list drawn from"),
        ("fbeta = [0, 2]", r"\[search\] fbeta: expected \[low, high\] with 0.01 <= low"),
        ('class_weighting = ["random"]', r"\[search\] class_weighting: expected a list drawn"),
        ("logit_adjustment = [-1, 1]", r"\[search\] logit_adjustment: expected \[low, high\]"),
        ("cost_matrix = [[0, 1], [1]]", r"\[search\] cost_matrix: expected a square matrix"),
        ("cost_matrix = [[0, -1], [1, 0]]", r"\[search\] cost_matrix: expected a square matrix"),
        ("cost_matrix = [[0, 1], [1, 0]]", r"`cost_matrix` is set but `class_weighting` does not"),
        (
            'class_weighting = ["true_class", "cost_matrix"]',
            r"\[search\] cost_matrix: missing: `class_weighting` lists 'cost_matrix'",
        ),
        ("beta = [0.9, 1.0]", r"\[search\] beta: expected \[low, high\] with 0 < low <= high < 1"),
        ("beta = [0.99, 0.9]", r"\[search\] beta: expected \[low, high\]"),
    ],
)
def test_bad_search_values_name_the_key(line, message):
    with pytest.raises(StudyFileError, match=message):
        parse(MINIMAL + f"[search]\n{line}")
