from __future__ import annotations

import keras
import numpy as np
import pytest
from optuna.trial import TrialState

from sweeper.data import prepare_splits
from sweeper.runner import run_study
from sweeper.storage import open_storage
from sweeper.study import create_or_resume, study_info
from sweeper.studyfile import load_study_file
from tests.conftest import make_multilabel_arrays

INTERRUPT = {"after": None}


def interrupting_factory(n_features, n_outputs):
    """Builds a tiny model, or raises KeyboardInterrupt on the call numbered INTERRUPT["after"]."""
    if INTERRUPT["after"] is not None:
        INTERRUPT["after"] -= 1
        if INTERRUPT["after"] < 0:
            INTERRUPT["after"] = None
            raise KeyboardInterrupt
    return keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(n_outputs)])


def open_study(path):
    spec = load_study_file(path)
    splits = prepare_splits(spec.data, path.parent)
    storage = open_storage(spec.study.storage)
    info = study_info(spec, splits)
    return spec, splits, storage, info, create_or_resume(spec, info, storage)


def test_interrupt_keeps_finished_trials_and_requeues_the_batch(tmp_path, write_study):
    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=6, pack=2, epochs=1)
    spec, splits, storage, info, study = open_study(path)
    INTERRUPT["after"] = 3  # the second batch's second member
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, info, splits, study, storage, factory=interrupting_factory, progress=False)
    by_state = {s: study.get_trials(states=(s,)) for s in TrialState}
    assert len(by_state[TrialState.COMPLETE]) == 2
    assert len(by_state[TrialState.FAIL]) == 2
    assert not by_state[TrialState.RUNNING]
    failed_params = sorted(t.params["exponent"] for t in by_state[TrialState.FAIL])
    waiting = by_state[TrialState.WAITING]
    waiting_params = sorted(t.system_attrs["fixed_params"]["exponent"] for t in waiting)
    assert waiting_params == failed_params

    summary = run_study(
        spec, info, splits, study, storage, factory=interrupting_factory, progress=False
    )
    assert summary.complete == 6
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    retried = sorted(t.params["exponent"] for t in complete if "retry_of" in t.user_attrs)
    assert retried == failed_params


def test_budget_counts_running_trials_of_other_workers(tmp_path, write_study):
    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=3, pack=4, epochs=1)
    spec, splits, storage, info, study = open_study(path)
    with pytest.warns(UserWarning, match="Heartbeat"):
        other = study.ask()  # another worker's trial, in flight
    waits = []

    def finish_other(seconds):
        waits.append(seconds)
        study.tell(other, [0.1, 0.1])

    run_study(spec, info, splits, study, storage, progress=False, sleep=finish_other)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert len(waits) == 1  # it asked for 2, then waited for the other worker's trial
