from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweeper.api import prepare_study_file
from sweeper.config import load_study_file
from sweeper.search import suggest_candidate
from sweeper.study import RECORD_ATTR, run_study
from sweeper.training import PackedTrainer
from tests.support import make_multilabel_arrays
from tests.support.fake_trainer import FakeTrainer, run_fake_study
from tests.support.tiers import trains

# The loop's own tests (asking, telling, requeueing, the budget, what a record stores) run on
# FakeTrainer's instant scores; those of what training gives (packing, divergence, epochs) train
# real models (``trains``: slow, and backend).


class InterruptedTrainer(FakeTrainer):
    """Fault injection: the trainer's third batch (the second packed pass of trials: the
    baselines' batch comes first) is interrupted, as by Ctrl-C, after training."""

    def __init__(self, splits, members, calls):
        super().__init__(splits, members)
        self.record = calls

    def train_and_score(self, weights):
        self.record.append(len(weights["weights"]))
        scores = super().train_and_score(weights)
        if len(self.record) == 3:
            raise KeyboardInterrupt
        return scores


def run(prepared, **options):
    """The trial loop on a prepared sweep, quietly; returns its :class:`RunSummary`."""
    return run_study(
        prepared.study, config=prepared.config, info=prepared.info, splits=prepared.splits,
        progress=False, **options,
    )


def test_interrupt_keeps_finished_trials_and_requeues_the_batch(tmp_path, write_study):
    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=6, pack=2, epochs=1)
    prepared = prepare_study_file(path)  # checked, study created, not run
    study = prepared.study
    calls: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        run(prepared,
            make_trainer=lambda members: InterruptedTrainer(prepared.splits, members, calls))
    assert calls == [7, 2, 2]  # the seven baselines (three weights, four remedies), 2 + 2 trials
    by_state = {s: study.get_trials(states=(s,)) for s in TrialState}
    assert len(by_state[TrialState.COMPLETE]) == 2
    assert len(by_state[TrialState.FAIL]) == 2
    assert not by_state[TrialState.RUNNING]
    failed_params = sorted(t.params["exponent"] for t in by_state[TrialState.FAIL])
    waiting = by_state[TrialState.WAITING]
    waiting_params = sorted(t.system_attrs["fixed_params"]["exponent"] for t in waiting)
    assert waiting_params == failed_params

    summary = run_fake_study(prepared)
    assert summary.complete == 6
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    retried = sorted(t.params["exponent"] for t in complete if "retry_of" in t.user_attrs)
    assert retried == failed_params


def test_budget_counts_running_trials_of_other_workers(tmp_path, write_study):
    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=3, pack=4, epochs=1)
    prepared = prepare_study_file(path)  # checked, study created, not run
    study = prepared.study
    other = study.ask()  # another worker's trial, in flight
    waits = []

    def finish_other(seconds):
        waits.append(seconds)
        study.tell(other, [0.1, 0.1])

    run_fake_study(prepared, sleep=finish_other)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert len(waits) == 1  # it asked for 2, then waited for the other worker's trial


def run_enqueued(folder, write_study, name, pack):
    """A study of 4 enqueued candidates, trained in packs of ``pack``."""
    path = write_study(
        name=name, storage=f"sqlite:///{folder / (name + '.db')}", pack=pack, trials=4, epochs=3
    )
    prepared = prepare_study_file(path)  # checked, study created, not run
    study = prepared.study
    for exponent, normalisation, threshold in (
        (0.0, "none", 0.5),
        (1.0, "none", 0.5),
        (0.5, "balanced", 0.3),
        (1.2, "mean_one", 0.7),
    ):
        study.enqueue_trial(
            {"exponent": exponent, "normalisation": normalisation, "threshold": threshold}
        )
    run(prepared)
    return sorted(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.number)


@trains
def test_packed_study_stores_the_same_records_as_unpacked(tmp_path, write_study):
    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    packed = run_enqueued(tmp_path, write_study, "packed", pack=4)
    alone = run_enqueued(tmp_path, write_study, "alone", pack=1)
    assert len(packed) == len(alone) == 4
    for p_trial, a_trial in zip(packed, alone, strict=True):
        assert p_trial.params == a_trial.params
        p, a = (t.user_attrs[RECORD_ATTR] for t in (p_trial, a_trial))
        assert set(p) == set(a)
        assert p["weights"] == a["weights"]
        assert p["training"]["packed_members"] == 4
        assert a["training"]["packed_members"] == 1
        # Members train as they would alone (scores within 2e-4, tests/training/test_packed.py),
        # so no decision flips: every figure, per-label figure and curve point is the same;
        # the curves' thresholds are score values, equal to within that 2e-4.
        for split in ("validation", "test"):
            assert p[split] == a[split]
            packed_curve, alone_curve = (record["curves"][split] for record in (p, a))
            for key in ("recall", "precision"):
                assert packed_curve[key] == alone_curve[key]
            np.testing.assert_allclose(packed_curve["values"], alone_curve["values"], atol=2e-4)
        assert p_trial.values == a_trial.values


def test_constraints_mark_trials_infeasible_and_restrict_the_front(tmp_path, write_study):
    from sweeper.evaluation import Constraints
    from sweeper.report import build_report

    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=4, pack=4, epochs=6)
    path.write_text(path.read_text().replace("trials = 4", "trials = 4\nmin_precision = 0.5"))
    prepared = prepare_study_file(path)  # checked, study created, not run
    study, info = prepared.study, prepared.info
    for threshold in (0.05, 0.5, 0.7, 0.9):
        study.enqueue_trial({"exponent": 1.0, "normalisation": "none", "threshold": threshold})
    run_fake_study(prepared)
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    for trial in trials:
        precision = trial.user_attrs[RECORD_ATTR]["validation"]["precision"]
        assert trial.constraints == {"min_precision": pytest.approx(0.5 - precision)}
    feasible = {t.number for t in trials
                if t.user_attrs[RECORD_ATTR]["validation"]["precision"] >= 0.5}
    assert feasible and len(feasible) < 4  # threshold 0.05 on rare labels is far below 0.5
    report = build_report(study, info, constraints=Constraints(min_precision=0.5))
    # Every front point, a trial's own rule or a point of its curve, meets the constraint.
    assert report.front and all(point.validation[1] >= 0.5 for point in report.front)
    unconstrained = build_report(study, info)
    assert any(point.validation[1] < 0.5 for point in unconstrained.front)


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_same_study_file_and_seed_give_the_same_trials(tmp_path, write_study, sampler):
    from sweeper.study import make_sampler

    path = write_study()
    path.write_text(path.read_text().replace("trials = 4", f'trials = 4\nsampler = "{sampler}"'))
    config = load_study_file(path).config
    drawn = []
    for _ in range(2):
        study = optuna.create_study(directions=["maximize"] * 2, sampler=make_sampler(config.study))
        for _ in range(12):
            trial = study.ask()
            candidate = suggest_candidate(trial, config.search, "multilabel")
            study.tell(trial, [candidate.exponent / 2, 1 - candidate.threshold])
        drawn.append([t.params for t in study.trials])
    assert drawn[0] == drawn[1]


def test_both_weight_families_are_searched_stored_and_exported(tmp_path, write_study):
    from sweeper.export import export_document
    from sweeper.search import weight_vector
    from sweeper.study import finished_records

    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=4, pack=2, epochs=1)
    text = path.read_text().replace(
        "[search]\n", '[search]\nfamilies = ["inverse_frequency", "effective_number"]\n'
    )
    path.write_text(text)
    prepared = prepare_study_file(path)  # checked, study created, not run
    study, info = prepared.study, prepared.info
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
    run_fake_study(prepared)
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
        "multipliers": None,
        "class_weighting": None,
        "cost_matrix": None,
    }


def test_buckets_and_per_label_thresholds_are_searched_stored_and_exported(
    tmp_path, write_study
):
    from sweeper.export import export_document
    from sweeper.search import frequency_buckets, weight_vector
    from sweeper.study import finished_records

    np.savez(tmp_path / "small.npz", **dict(zip("Xy", make_multilabel_arrays(), strict=True)))
    path = write_study(trials=2, pack=2, epochs=2)
    path.write_text(path.read_text().replace(
        "[search]\n",
        '[search]\nmultipliers = "buckets"\nbuckets = 2\nthresholds = ["global", "per_label"]\n',
    ))
    prepared = prepare_study_file(path)  # checked, study created, not run
    study, info = prepared.study, prepared.info
    study.enqueue_trial({
        "exponent": 1.0, "multiplier_0": 3.0, "multiplier_1": 0.5, "normalisation": "none",
        "threshold_rule": "per_label", "fbeta": 2.0,
    })
    study.enqueue_trial({
        "exponent": 0.5, "multiplier_0": 1.0, "multiplier_1": 1.0, "normalisation": "mean_one",
        "threshold_rule": "global", "threshold": 0.4,
    })
    run_fake_study(prepared)
    records = {r.number: r for r in finished_records(study)}
    per_label = records[0]
    counts = np.asarray(info.train_counts)
    # By hand: neg/pos times 3 for the two rarest labels, 0.5 for the two most frequent.
    buckets = frequency_buckets(counts, 2)
    assert sorted(buckets.tolist()) == [0, 0, 1, 1]
    raw = (info.n_train - counts) / counts
    np.testing.assert_allclose(per_label.weights, raw * np.where(buckets == 0, 3.0, 0.5))
    np.testing.assert_allclose(
        per_label.weights,
        weight_vector(counts=counts, n_samples=info.n_train, task="multilabel", exponent=1.0,
                      normalisation="none", multipliers=np.where(buckets == 0, 3.0, 0.5)),
    )
    assert len(per_label.thresholds) == 4 and all(0 < t < 1 for t in per_label.thresholds)
    assert records[1].thresholds is None and records[1].threshold == 0.4
    document = export_document(per_label, info, study_name="small", storage_url="sqlite://")
    assert document["threshold"] == list(per_label.thresholds)
    assert document["threshold_rule"] == {"rule": "per_label", "fbeta": 2.0}
    assert document["weights"]["multipliers"]["values"] == [3.0, 0.5]


@trains
def test_multiclass_study_with_cost_matrix_and_logit_adjustment(tmp_path, write_study):
    import keras

    from sweeper.export import export_document, load_export, write_export
    from sweeper.study import finished_records, load_baselines
    from sweeper.training import CostSensitiveSparseCategoricalCrossentropy
    from tests.support import make_multiclass_arrays

    X, y = make_multiclass_arrays()
    np.savez(tmp_path / "small.npz", X=X, y=y)
    path = write_study(trials=3, pack=3, epochs=5)
    costs = "[[0, 1, 1, 1], [4, 0, 1, 1], [1, 1, 0, 1], [4, 1, 1, 0]]"
    text = path.read_text().replace("threshold = [0.05, 0.95]\n", "")
    path.write_text(text.replace(
        "[search]\n",
        "[search]\nclass_weighting = ['true_class', 'predicted_class', 'cost_matrix']\n"
        f"cost_matrix = {costs}\nlogit_adjustment = [0.0, 2.0]\n",
    ))
    prepared = prepare_study_file(path)  # checked, study created, not run
    study, info = prepared.study, prepared.info
    for weighting, tau in (("true_class", 0.0), ("predicted_class", 0.5), ("cost_matrix", 1.0)):
        study.enqueue_trial({"exponent": 1.0, "normalisation": "none",
                             "class_weighting": weighting, "tau": tau})
    run(prepared)
    records = {r.number: r for r in finished_records(study)}
    assert [records[i].candidate.class_weighting for i in range(3)] == [
        "true_class", "predicted_class", "cost_matrix"]
    assert records[2].cost_matrix[1] == (4, 0, 1, 1) and records[0].cost_matrix is None
    # The stored curve over tau starts at the plain argmax: tau 0 is trial 0's own rule.
    curve = records[0].validation_curve
    assert curve.parameter == "tau" and curve.values[0] == 0.0
    assert curve.recall[0] == pytest.approx(records[0].validation.recall)
    assert set(load_baselines(study)) == {"unweighted", "sklearn_balanced",
                                          "deferred_balanced", "focal", "balanced_softmax",
                                          "ldam_drw"}

    document = export_document(records[2], info, study_name="small", storage_url="sqlite://")
    assert document["logit_adjustment"]["tau"] == 1.0
    exported = load_export(write_export(document, tmp_path / "w.json"))
    loss = exported.loss()
    assert isinstance(loss, CostSensitiveSparseCategoricalCrossentropy)
    # Row y = 1 of the loss matrix: w_1 times the cost of each prediction for truth 1.
    np.testing.assert_allclose(
        loss.weight_matrix[1], np.array([4, 0, 1, 1]) * records[2].weights[1], rtol=1e-6
    )
    # decide() applies argmax(logits - tau log prior), tau = 1 here.
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((50, 4))
    log_prior = np.log(np.asarray(info.train_counts) / info.n_train)
    np.testing.assert_array_equal(exported.decide(logits), np.argmax(logits - log_prior, axis=1))
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert restored.weight_matrix == loss.weight_matrix


def test_a_record_is_one_attribute_and_older_records_still_read(finished_study):
    """The record round-trips from its one attribute; a study written before (one attribute
    per part) reads the same."""
    import optuna

    from sweeper.study import TrialRecord

    storage = load_study_file(finished_study).config.study.storage
    trial = optuna.load_study(study_name="small", storage=storage).get_trials()[0]
    record = TrialRecord.from_trial(trial)
    assert TrialRecord.from_attrs(trial.number, record.to_dict()) == record
    legacy = optuna.trial.create_trial(
        params=trial.params, distributions=trial.distributions, values=trial.values,
        user_attrs=trial.user_attrs[RECORD_ATTR],
    )
    assert TrialRecord.from_trial(legacy) == dataclasses.replace(record, number=legacy.number)


@trains
def test_a_diverged_multiclass_trial_is_never_chosen(tmp_path, write_study):
    """Real training where the first member of each batch of trials diverges (its loss weights
    are infinite): its NaN scores take argmax 0 and earn finite macro figures, yet the front,
    the verdict, the default export and every export rule leave it out, and exporting it by
    number is refused by name."""
    from sweeper.errors import ExportError
    from sweeper.report import build_report
    from tests.support import make_multiclass_arrays

    X, y = make_multiclass_arrays()
    np.savez(tmp_path / "small.npz", X=X, y=y)
    path = write_study(trials=4, pack=2, epochs=2)
    path.write_text(path.read_text().replace("threshold = [0.05, 0.95]\n", ""))
    prepared = prepare_study_file(path)

    class FirstMemberDiverges(PackedTrainer):
        def train_and_score(self, parameters):
            weights = np.array(parameters["weights"], dtype=np.float32)
            weights[0] = np.inf
            return super().train_and_score({**parameters, "weights": weights})

    def make_trainer(members):
        kind = FirstMemberDiverges if members == 2 else PackedTrainer  # baselines: 5
        return kind(prepared.splits, prepared.config.model, members=members,
                    seed=prepared.info.seed)

    run(prepared, make_trainer=make_trainer)
    report = build_report(prepared.study, prepared.info)
    diverged = {r.number for r in report.records if r.diverged}
    assert len(diverged) == 2 and set(report.diverged) == diverged
    for record in report.records:
        if record.diverged:  # the trap: finite figures from NaN scores
            assert np.isfinite([record.validation.recall, record.validation.precision]).all()
    assert not {p.record.number for p in report.front if p.baseline is None} & diverged
    assert report.recommendation.point.record.number not in diverged
    result = prepared.result()
    chosen = [result.export(), *(result.export(**rule) for rule in (
        {"min_recall": 0.0}, {"min_precision": 0.0}, {"best_fbeta": 1.0}, {"best_fbeta": 8.0},
    ))]
    assert all(exported.trial not in diverged for exported in chosen)
    with pytest.raises(ExportError, match=f"trial {min(diverged)} diverged"):
        result.export(trial=min(diverged))


@trains
def test_trials_the_epoch_budget_cut_short_are_named_in_a_warning_and_the_report(
    tmp_path, caplog
):
    """Two epochs at a small learning rate: every trial is still improving at its last epoch
    (early stopping kept it), which the run warns about and the report counts; the same
    sweep with early stopping off cannot tell, and says nothing."""
    import logging

    import sweeper
    from tests.support import make_multilabel_arrays

    X, y = make_multilabel_arrays(n_rows=400)
    model = {"hidden": [8], "epochs": 2, "batch_size": 64, "learning_rate": 0.001,
             "patience": 5}
    with caplog.at_level(logging.WARNING, logger="sweeper"):
        result = sweeper.sweep(X, y, trials=4, model=model, data={"folds": 1},
                               storage=f"sqlite:///{tmp_path / 'a.db'}", progress=False)
    report = result.report()
    numbers = sorted(r.number for r in report.records)
    assert sorted(report.cut_short) == numbers
    assert report.to_dict()["cut_short_trials"] == list(report.cut_short)
    warned = [r.getMessage() for r in caplog.records if "kept their last epoch" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("4 of the 4 trials")
    assert "[model] epochs = 2" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sweeper"):
        off = sweeper.sweep(X, y, trials=2, model={**model, "patience": 0}, data={"folds": 1},
                            storage=f"sqlite:///{tmp_path / 'b.db'}", progress=False)
    assert off.report().cut_short == ()
    assert not [r for r in caplog.records if "kept their last epoch" in r.getMessage()]


@trains
def test_automatic_epochs_train_each_trial_until_its_validation_loss_stops_improving(tmp_path):
    """The same small learning rate with ``epochs = "auto"``: the budget is a cap (15,000
    steps), early stopping ends every trial well before it, and no trial is cut short; the
    packed pass ends when its last member stops, not at the cap."""
    import sweeper
    from tests.support import make_multilabel_arrays

    X, y = make_multilabel_arrays(n_rows=400)
    model = {"hidden": [8], "batch_size": 64, "learning_rate": 0.01, "patience": 3}
    result = sweeper.sweep(X, y, trials=4, model=model, data={"folds": 1},
                           storage=f"sqlite:///{tmp_path / 'a.db'}", progress=False)
    cap = result.info.model["epochs"]
    assert cap == 2000  # 240 training rows, 4 steps an epoch: the most epochs the cap allows
    report = result.report()
    epochs = [record.epochs for record in report.records]
    assert report.cut_short == ()
    assert all(2 < e < cap for e in epochs), epochs
