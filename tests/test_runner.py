from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweeper.data import prepare_splits
from sweeper.runner import run_study
from sweeper.space import suggest_candidate
from sweeper.storage import open_storage
from sweeper.study import create_or_resume, study_info
from sweeper.studyfile import load_study_file
from sweeper.train import PackedTrainer
from tests.conftest import make_multilabel_arrays


def interrupt_second_pass(monkeypatch):
    """Fault injection: the second packed pass of trials (the third pass: the baselines' comes
    first) is interrupted (as by Ctrl-C) after training."""
    real = PackedTrainer.train_and_score
    calls = []

    def train_then_interrupt(self, weights):
        calls.append(len(weights))
        scores = real(self, weights)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return scores

    monkeypatch.setattr(PackedTrainer, "train_and_score", train_then_interrupt)
    return calls


def open_study(path):
    spec = load_study_file(path)
    splits = prepare_splits(spec.data, path.parent)
    storage = open_storage(spec.study.storage)
    info = study_info(spec, splits)
    return spec, splits, info, create_or_resume(spec, info, storage)


def test_interrupt_keeps_finished_trials_and_requeues_the_batch(tmp_path, write_study, monkeypatch):
    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=6, pack=2, epochs=1)
    spec, splits, info, study = open_study(path)
    calls = interrupt_second_pass(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, info, splits, study, progress=False)
    assert calls == [3, 2, 2]  # unweighted, neg/pos and balanced baselines, then 2 + 2 trials
    by_state = {s: study.get_trials(states=(s,)) for s in TrialState}
    assert len(by_state[TrialState.COMPLETE]) == 2
    assert len(by_state[TrialState.FAIL]) == 2
    assert not by_state[TrialState.RUNNING]
    failed_params = sorted(t.params["exponent"] for t in by_state[TrialState.FAIL])
    waiting = by_state[TrialState.WAITING]
    waiting_params = sorted(t.system_attrs["fixed_params"]["exponent"] for t in waiting)
    assert waiting_params == failed_params

    summary = run_study(spec, info, splits, study, progress=False)
    assert summary.complete == 6
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    retried = sorted(t.params["exponent"] for t in complete if "retry_of" in t.user_attrs)
    assert retried == failed_params


def test_budget_counts_running_trials_of_other_workers(tmp_path, write_study):
    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=3, pack=4, epochs=1)
    spec, splits, info, study = open_study(path)
    other = study.ask()  # another worker's trial, in flight
    waits = []

    def finish_other(seconds):
        waits.append(seconds)
        study.tell(other, [0.1, 0.1])

    run_study(spec, info, splits, study, progress=False, sleep=finish_other)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert len(waits) == 1  # it asked for 2, then waited for the other worker's trial


def run_enqueued(folder, write_study, name, pack):
    """A study of 4 enqueued candidates, trained in packs of ``pack``."""
    path = write_study(
        name=name, storage=f"sqlite:///{folder / (name + '.db')}", pack=pack, trials=4, epochs=3
    )
    spec, splits, info, study = open_study(path)
    for exponent, normalisation, threshold in (
        (0.0, "none", 0.5),
        (1.0, "none", 0.5),
        (0.5, "balanced", 0.3),
        (1.2, "mean_one", 0.7),
    ):
        study.enqueue_trial(
            {"exponent": exponent, "normalisation": normalisation, "threshold": threshold}
        )
    run_study(spec, info, splits, study, progress=False)
    return sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number)


def test_packed_study_stores_the_same_records_as_unpacked(tmp_path, write_study):
    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    packed = run_enqueued(tmp_path, write_study, "packed", pack=4)
    alone = run_enqueued(tmp_path, write_study, "alone", pack=1)
    assert len(packed) == len(alone) == 4
    for p, a in zip(packed, alone, strict=True):
        assert p.params == a.params
        assert set(p.user_attrs) == set(a.user_attrs)
        assert p.user_attrs["weights"] == a.user_attrs["weights"]
        assert p.user_attrs["training"]["packed_members"] == 4
        assert a.user_attrs["training"]["packed_members"] == 1
        for split in ("validation", "test"):
            for key in ("recall", "precision", "f1"):
                assert p.user_attrs[split][key] == pytest.approx(a.user_attrs[split][key], abs=0.02)
        np.testing.assert_allclose(p.values, a.values, atol=0.02)


def test_constraints_mark_trials_infeasible_and_restrict_the_front(tmp_path, write_study):
    from sweeper.report import build_report

    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=4, pack=4, epochs=6)
    path.write_text(path.read_text().replace("trials = 4", "trials = 4\nmin_precision = 0.5"))
    spec, splits, info, study = open_study(path)
    for threshold in (0.05, 0.5, 0.7, 0.9):
        study.enqueue_trial({"exponent": 1.0, "normalisation": "none", "threshold": threshold})
    run_study(spec, info, splits, study, progress=False)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    for trial in trials:
        precision = trial.user_attrs["validation"]["precision"]
        assert trial.constraints == {"min_precision": pytest.approx(0.5 - precision)}
    report = build_report(study, info)
    feasible = {t.number for t in trials if t.user_attrs["validation"]["precision"] >= 0.5}
    assert feasible and len(feasible) < 4  # threshold 0.05 on rare labels is far below 0.5
    assert {r.number for r in report.front} <= feasible


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_same_study_file_and_seed_give_the_same_trials(tmp_path, write_study, sampler):
    from sweeper.study import make_sampler

    path = write_study()
    path.write_text(path.read_text().replace("trials = 4", f'trials = 4\nsampler = "{sampler}"'))
    spec = load_study_file(path)
    drawn = []
    for _ in range(2):
        study = optuna.create_study(directions=["maximize"] * 2, sampler=make_sampler(spec))
        for _ in range(12):
            trial = study.ask()
            candidate = suggest_candidate(trial, spec.search, "multilabel")
            study.tell(trial, [candidate.exponent / 2, 1 - candidate.threshold])
        drawn.append([t.params for t in study.trials])
    assert drawn[0] == drawn[1]


def test_both_weight_families_are_searched_stored_and_exported(tmp_path, write_study):
    from sweeper.export import export_document
    from sweeper.study import finished_records
    from sweeper.weights import weight_vector

    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=4, pack=2, epochs=1)
    text = path.read_text().replace(
        "[search]\n", '[search]\nfamilies = ["inverse_frequency", "effective_number"]\n'
    )
    path.write_text(text)
    spec, splits, info, study = open_study(path)
    study.enqueue_trial(
        {
            "family": "effective_number",
            "one_minus_beta": 0.001,
            "normalisation": "mean_one",
            "threshold": 0.5,
        }
    )
    study.enqueue_trial(
        {"family": "inverse_frequency", "exponent": 1.0, "normalisation": "none", "threshold": 0.5}
    )
    run_study(spec, info, splits, study, progress=False)
    records = {r.number: r for r in finished_records(study)}
    effective, inverse = records[0], records[1]
    assert effective.candidate.family == "effective_number"
    assert effective.candidate.beta == pytest.approx(0.999)
    assert effective.candidate.exponent is None
    counts = np.asarray(info.train_counts)
    expected = weight_vector(
        counts=counts,
        n_samples=info.n_train,
        task="multilabel",
        normalisation="mean_one",
        family="effective_number",
        beta=0.999,
    )
    np.testing.assert_allclose(effective.weights, expected)
    assert inverse.weights == pytest.approx(tuple((info.n_train - counts) / counts))
    document = export_document(effective, info, study_name="small", storage_url="sqlite://")
    assert document["weights"] == {
        "family": "effective_number",
        "exponent": None,
        "beta": pytest.approx(0.999),
        "normalisation": "mean_one",
    }
