"""`[study] sampler_window`: the sampler learns from the latest N complete trials only."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from sweeper.config import StudyConfig
from sweeper.study import make_sampler
from sweeper.study._study import WindowedSampler


class CountingSampler(optuna.samplers.RandomSampler):
    """Random sampling that records how many complete trials it was shown, and which."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.seen: list[list[int]] = []

    def sample_independent(self, study, trial, param_name, param_distribution):
        complete = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,),
                                     use_cache=True)
        self.seen.append([t.number for t in complete])
        return super().sample_independent(study, trial, param_name, param_distribution)


def study_with(complete: int) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "maximize"])
    distribution = {"x": FloatDistribution(0, 1)}
    study.add_trials([
        create_trial(params={"x": i / complete}, distributions=distribution,
                     values=[i / complete, 1 - i / complete])
        for i in range(complete)
    ])
    return study


def test_the_inner_sampler_sees_only_the_latest_complete_trials():
    study = study_with(30)
    inner = CountingSampler()
    study.sampler = WindowedSampler(inner, window=10)
    first = study.ask({"x": FloatDistribution(0, 1)})
    assert inner.seen[-1] == list(range(20, 30))
    study.tell(first, [0.5, 0.5])  # trial 30 completes: the window moves on
    study.ask({"x": FloatDistribution(0, 1)})
    assert inner.seen[-1] == list(range(21, 31))


def test_a_window_larger_than_the_study_changes_nothing():
    study = study_with(5)
    inner = CountingSampler()
    study.sampler = WindowedSampler(inner, window=10)
    study.ask({"x": FloatDistribution(0, 1)})
    assert inner.seen[-1] == list(range(5))


def test_windowed_multivariate_tpe_asks_and_tells_on_a_large_study():
    study = study_with(300)
    config = StudyConfig(name="s", sampler_window=50)
    sampler = make_sampler(config)
    assert isinstance(sampler, WindowedSampler) and sampler.window == 50
    study.sampler = sampler
    for _ in range(5):
        trial = study.ask({"x": FloatDistribution(0, 1)})
        assert 0 <= trial.params["x"] <= 1
        study.tell(trial, [trial.params["x"], 1 - trial.params["x"]])
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 305


def test_a_window_of_300_by_default_none_when_0_and_none_for_nsga2():
    default = make_sampler(StudyConfig(name="s"))
    assert isinstance(default, WindowedSampler) and default.window == 300
    assert not isinstance(make_sampler(StudyConfig(name="s", sampler_window=0)),
                          WindowedSampler)
    sampler = make_sampler(StudyConfig(name="s", sampler="nsga2", sampler_window=10))
    assert isinstance(sampler, optuna.samplers.NSGAIISampler)


@pytest.mark.parametrize("bad", [-1, 1.5, "ten"])
def test_a_bad_window_is_refused(bad):
    with pytest.raises(Exception, match="sampler_window"):
        StudyConfig(name="s", sampler_window=bad)


def test_running_trials_stay_in_view_however_old():
    """TPE's constant liar reads trials in flight so as not to draw them again."""
    study = optuna.create_study(directions=["maximize", "maximize"])
    space = {"x": FloatDistribution(0, 1)}
    in_flight = study.ask(space)  # trial 0 stays running
    for i in range(20):
        trial = study.ask(space)
        study.tell(trial, [i / 20, 1 - i / 20])
    inner = CountingSampler()
    study.sampler = WindowedSampler(inner, window=5)
    from sweeper.study._optuna import RecentTrials

    seen = RecentTrials(study, 5)._get_trials(deepcopy=False, use_cache=True)
    assert [t.number for t in seen] == [in_flight.number, 16, 17, 18, 19, 20]
