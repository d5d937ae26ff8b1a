"""``[study] stop = "settled"``: a study whose baselines clearly win ends once its remaining
budget could not plausibly change that, says so in one line and in the verdict, and goes on when
resumed with a larger budget; ``stop = "budget"`` runs every trial. The real trial loop and
storage, with instant scores (tests/support/fake_trainer.py)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

import sweeper
from sweeper.errors import ConfigError
from sweeper.study import (
    SETTLE_MIN_TRIALS,
    SETTLED_ATTR,
    finished_records,
    load_baselines,
    settlement,
)
from tests.support import make_multilabel_arrays
from tests.support.fake_trainer import FakeTrainer, run_fake_study


class BaselinesWin(FakeTrainer):
    """The first pass (the baselines) separates the labels well, every later one (the trials)
    poorly: the answer is a baseline from the first batch on."""

    def __init__(self, splits, members, calls):
        super().__init__(splits, members)
        self.shared = calls

    def train_and_score(self, parameters):
        self.separation = 3.0 if not self.shared else 0.8
        self.shared.append(len(parameters["weights"]))
        return super().train_and_score(parameters)


def prepared(tmp_path, trials: int, **options):
    X, y = make_multilabel_arrays(600)
    return sweeper.prepare(X, y, trials=trials, data={"folds": 1}, model={"pack": 4},
                           storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s", **options)


def run(study, calls):
    return run_fake_study(study, make_trainer=lambda m: BaselinesWin(study.splits, m, calls))


def test_a_study_whose_baselines_win_settles_and_says_so(tmp_path, caplog):
    study = prepared(tmp_path, trials=100)
    with caplog.at_level(logging.INFO, logger="sweeper"):
        summary = run(study, [])
    assert summary.settled is not None
    assert SETTLE_MIN_TRIALS <= summary.complete < 100
    assert summary.settled.trials == summary.complete
    assert summary.settled.remaining == 100 - summary.complete
    assert summary.settled.risk < 0.05
    lines = [r.getMessage() for r in caplog.records if "settled after" in r.getMessage()]
    assert len(lines) == 1 and f"settled after {summary.complete} of 100 trials" in lines[0]
    result = study.result()
    assert result.study.user_attrs[SETTLED_ATTR]["budget"] == 100
    verdict = result.verdict
    assert not verdict.weighting_pays
    assert f"settled after {summary.complete} of its 100 trials" in verdict.message
    assert verdict.to_dict()["settled"]["trials"] == summary.complete


def test_stop_budget_runs_every_trial_and_a_larger_budget_goes_on(tmp_path):
    study = prepared(tmp_path, trials=60)
    first = run(study, [])
    assert first.settled is not None and first.complete < 60
    again = run(prepared(tmp_path, trials=60), [1])  # resumed as it was: settled at once
    assert again.told == 0 and again.settled is not None
    larger = run(prepared(tmp_path, trials=80), [1])
    assert larger.told >= 4  # a batch at least before it is judged again
    everything = run(prepared(tmp_path, trials=80, stop="budget"), [1])
    assert everything.settled is None and everything.complete == 80
    result = prepared(tmp_path, trials=80).result()
    assert result.study.user_attrs.get(SETTLED_ATTR) is None
    assert "settled after" not in result.verdict.message


def test_no_settling_before_the_minimum_or_while_a_trial_wins(tmp_path):
    study = prepared(tmp_path, trials=SETTLE_MIN_TRIALS, stop="budget")
    run(study, [])
    records = finished_records(study.study)
    baselines = list(load_baselines(study.study).values())
    assert len(records) == SETTLE_MIN_TRIALS
    assert settlement(records[:-1], baselines, remaining=50) is None  # too few trials
    assert settlement(records, baselines, remaining=0) is None  # nothing left to run
    assert settlement(records, baselines, remaining=5) is not None
    def at(record, f1):
        return dataclasses.replace(record, resampled=dataclasses.replace(
            record.resampled, f1=f1, values=np.full_like(record.resampled.values, f1)))

    weaker = [at(b, 0.5) for b in baselines]  # the trials' best (about 0.7) now wins
    assert settlement(records, weaker, remaining=5) is None
    old = [dataclasses.replace(r, resampled=None) for r in records]
    assert settlement(old, baselines, remaining=5) is None  # stored before: no comparison


def test_an_unknown_stop_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as caught:
        prepared(tmp_path, trials=10, stop="never")
    assert caught.value.key == "stop" and "settled" in str(caught.value)


def test_a_searched_weight_decay_is_drawn_recorded_shown_and_exported(tmp_path):
    """``[search] weight_decay`` on a log range: each trial draws one, its record and the
    table show it, and its export's optimizer decays with it (the trainers:
    tests/training/test_weight_decay.py). Unset, no trial draws it."""
    from sweeper.search import space_distributions

    search = sweeper.SearchConfig(weight_decay=(1e-4, 1e-2))
    assert space_distributions(search, "multilabel", ("a",))["weight_decay"].log
    assert "weight_decay" not in space_distributions(sweeper.SearchConfig(), "multilabel",
                                                     ("a",))
    study = prepared(tmp_path, trials=8, stop="budget", search={"weight_decay": [1e-4, 1e-2]})
    run_fake_study(study)
    records = finished_records(study.study)
    assert all(1e-4 <= r.candidate.weight_decay <= 1e-2 for r in records)
    assert all("wd=" in r.candidate.family_summary() for r in records)
    exported = study.result().export(tmp_path / "e.json", trial=records[0].number)
    assert exported.document["training"]["weight_decay"] == records[0].candidate.weight_decay
    optimizer = exported.optimizer(steps_per_epoch=3)
    assert optimizer.weight_decay == pytest.approx(records[0].candidate.weight_decay)
    baseline = study.result().export(tmp_path / "b.json", baseline="unweighted")
    assert "weight_decay" not in baseline.document["training"]
