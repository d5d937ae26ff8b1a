"""Any Optuna sampler: a sampler object through the API, ``"module:attribute"`` in a study file
(a sampler or a function returning one, imported from the study file's folder as a factory is),
run on Optuna's public ask and tell where the batched path is not tested for it, with the same
records, front, verdict and export; anything else is one line naming ``[study] sampler``."""

from __future__ import annotations

import json
import re
import textwrap
import uuid

import optuna
import pytest
from optuna.trial import TrialState

import sweeper
from sweeper.cli import main
from sweeper.errors import ConfigError
from sweeper.study import RECORD_ATTR
from tests.support import make_multilabel_arrays
from tests.support.fake_trainer import run_fake_study
from tests.support.tiers import trains

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SAMPLERS = {
    "qmc": lambda: optuna.samplers.QMCSampler(seed=0),
    "nsga3": lambda: optuna.samplers.NSGAIIISampler(seed=0, population_size=4),
    "random": lambda: optuna.samplers.RandomSampler(seed=0),
}


def prepared_with(tmp_path, sampler, trials: int = 8):
    X, y = make_multilabel_arrays(600)
    return sweeper.prepare(
        X, y, trials=trials, sampler=sampler, data={"folds": 1},
        model={"hidden": [4], "epochs": 2, "pack": 4},
        storage=f"sqlite:///{tmp_path / 's.db'}", study_name="samplers",
    )


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_a_sampler_object_drives_the_study_and_its_results_read_as_any(tmp_path, name):
    sampler = SAMPLERS[name]()
    prepared = prepared_with(tmp_path, sampler)
    assert prepared.study.sampler is sampler
    summary = run_fake_study(prepared)
    assert summary.complete == 8
    study = prepared.study
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 8 and not study.get_trials(states=(TrialState.RUNNING,))
    assert all(RECORD_ATTR in trial.user_attrs and len(trial.values) == 2 for trial in trials)
    assert len({json.dumps(trial.params, sort_keys=True) for trial in trials}) > 4  # searched
    result = prepared.result()
    assert result.front and result.verdict.message
    exported = result.export(tmp_path / "w.json")
    assert exported == sweeper.load_export(tmp_path / "w.json")


def test_the_same_sampler_object_and_seed_give_the_same_trials(tmp_path):
    drawn = []
    for run in range(2):
        folder = tmp_path / str(run)
        folder.mkdir()
        prepared = prepared_with(folder, optuna.samplers.QMCSampler(seed=3))
        run_fake_study(prepared)
        drawn.append([trial.params for trial in prepared.study.get_trials()])
    assert drawn[0] == drawn[1]


def write_module(folder, text: str) -> str:
    """A module of samplers in ``folder`` under a name of its own (modules stay imported)."""
    name = f"samplers_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return name


MODULE = """
    import optuna

    def qmc():
        return optuna.samplers.QMCSampler(seed=0)

    nsga3 = optuna.samplers.NSGAIIISampler(seed=0, population_size=4)

    def broken():
        raise RuntimeError("no sampler today")

    not_a_sampler = 42
"""


@trains
@pytest.mark.parametrize("attribute", ["qmc", "nsga3"])
def test_a_study_file_names_a_sampler_in_its_folder_and_runs_end_to_end(
    tmp_path, write_study, multilabel_npz, capsys, attribute
):
    module = write_module(tmp_path, MODULE)
    path = write_study(trials=4, pack=2, epochs=2)
    path.write_text(path.read_text().replace(
        "trials = 4", f'trials = 4\nsampler = "{module}:{attribute}"'))
    assert main(["run", str(path), "--quiet"]) == 0
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
    assert main(["report", str(path), "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["front"]
    assert main(["export", str(path), "-o", str(tmp_path / "w.json")]) == 0
    sweeper.load_export(tmp_path / "w.json")  # the schema holds
    assert json.loads((tmp_path / "w.json").read_text())["study"]["name"] == "small"


@pytest.mark.parametrize(("reference", "message"), [
    ("nowhere_at_all:qmc", r"\[study\] sampler: cannot import module 'nowhere_at_all'"),
    ("{module}:absent", r"\[study\] sampler: module 'samplers_\w+' has no 'absent'\."),
    ("{module}:broken", r"\[study\] sampler: broken raised RuntimeError: no sampler today\."),
    ("{module}:not_a_sampler", r"\[study\] sampler: samplers_\w+:not_a_sampler is 'int', not "
                               r"an optuna.samplers.BaseSampler \(nor a function returning one\)"),
    ("cmaes", r"\[study\] sampler: expected one of \('tpe', 'nsga2', 'gp'\)"),
])
def test_a_bad_sampler_is_one_line_naming_the_key_and_creates_no_study(
    tmp_path, write_study, multilabel_npz, capsys, reference, message
):
    module = write_module(tmp_path, MODULE)
    path = write_study()
    path.write_text(path.read_text().replace(
        "trials = 4", f'trials = 4\nsampler = "{reference.format(module=module)}"'))
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith("sweeper: error: ")
    assert re.search(message, err[0]), err[0]
    assert not (tmp_path / "study.db").exists()


@pytest.mark.parametrize("sampler", [42, "tpe:", object()])
def test_the_api_refuses_what_is_not_a_sampler(tmp_path, sampler):
    X, y = make_multilabel_arrays(400)
    with pytest.raises(ConfigError, match=r"\[study\] sampler"):
        sweeper.prepare(X, y, trials=2, sampler=sampler,
                        storage=f"sqlite:///{tmp_path / 's.db'}", study_name="bad")
    assert not (tmp_path / "s.db").exists()


def test_a_sampler_object_is_not_wrapped_in_the_window():
    from sweeper.config import StudyConfig
    from sweeper.study import make_sampler

    sampler = optuna.samplers.QMCSampler(seed=0)
    assert make_sampler(StudyConfig(sampler=sampler, sampler_window=10)) is sampler


class LooksLikeASampler:
    """Has a sampler's methods, is no ``optuna.samplers.BaseSampler``."""

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, name, distribution):
        return None


def test_an_object_that_only_looks_like_a_sampler_is_refused_by_the_study():
    from sweeper.config import StudyConfig
    from sweeper.study import make_sampler

    config = StudyConfig(sampler=LooksLikeASampler())  # the config layer knows no Optuna
    with pytest.raises(ConfigError, match=r"\[study\] sampler: expected an "
                                          r"optuna.samplers.BaseSampler, got LooksLikeASampler"):
        make_sampler(config)


def test_a_reference_on_the_path_needs_no_folder(tmp_path, monkeypatch):
    from sweeper.config import StudyConfig
    from sweeper.study import make_sampler

    module = write_module(tmp_path, MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    sampler = make_sampler(StudyConfig(sampler=f"{module}:qmc"))
    assert isinstance(sampler, optuna.samplers.QMCSampler)
