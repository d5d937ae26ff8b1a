"""Binary targets: a 1-D y with two values is one logit, a scalar pos_weight, a threshold, and
the positive class's recall and precision (never the macro average of both classes).

The fast tests check the data, the weights, the records and the export document; those marked
``slow`` run a real sweep (string labels "ok" / "fraud") and retrain an export in plain Keras.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

import sweeper
from sweeper.config import DataConfig, SweepConfig, Task, derived_study_name
from sweeper.data import dataset_from_arrays, load_source, resolve_task
from sweeper.evaluation import Evaluation
from sweeper.export import export_document, load_export, write_export
from sweeper.search import Candidate, binary_weight_pair
from sweeper.study import StudyInfo, TrialRecord

SMALL_MODEL = {"hidden": [16], "epochs": 6, "batch_size": 64, "learning_rate": 0.01, "pack": 3}


def make_binary_arrays(n_rows: int = 1500, share: float = 0.06, seed: int = 0):
    """Rare positives ("fraud", about 6%) with two noisy informative features and one noise."""
    rng = np.random.default_rng(seed)
    positive = rng.random(n_rows) < share
    X = np.column_stack([
        1.5 * positive + rng.standard_normal(n_rows),
        1.0 * positive + rng.standard_normal(n_rows),
        rng.standard_normal(n_rows),
    ]).astype(np.float32)
    return X, np.where(positive, "fraud", "ok")


def resolved(y, **data):
    return resolve_task(dataset_from_arrays(np.ones((len(y), 2)), y), DataConfig(**data))


# ----------------------------------------------------------------------------- the data


@pytest.mark.parametrize(
    ("y", "label", "classes"),
    [
        (np.array([0] * 90 + [1] * 10), "1", (0, 1)),
        (np.array([1] * 90 + [0] * 10), "0", (1, 0)),  # the rarer value, whichever it is
        (np.array(["ok"] * 90 + ["fraud"] * 10, dtype=object), "fraud", ("ok", "fraud")),
        (np.array([False] * 90 + [True] * 10), "True", (False, True)),
        (np.array([3.0] * 90 + [7.0] * 10), "7", (3, 7)),
    ],
)
def test_a_two_valued_y_is_binary_with_the_rarer_value_positive(y, label, classes):
    dataset = resolved(y)
    assert dataset.task is Task.BINARY and dataset.labels == (label,)
    assert dataset.classes == classes
    assert dataset.y.shape == (100, 1) and dataset.y.dtype == np.uint8
    assert int(dataset.y.sum()) == 10
    assert all(type(value) is type(classes[0]) for value in dataset.classes)


@pytest.mark.parametrize(
    ("y", "positive"),
    [
        (np.array([0, 1] * 50), 1),
        (np.array(["yes", "no"] * 50), "yes"),
        (np.array([True, False] * 50), True),
    ],
)
def test_a_tie_makes_the_second_value_in_sorted_order_positive(y, positive):
    assert resolved(y).classes[1] == positive


@pytest.mark.parametrize(
    ("y", "given", "label", "positive_rows"),
    [
        (np.array(["ok"] * 90 + ["fraud"] * 10), "ok", "ok", 90),  # the frequent one, if named
        (np.array([0] * 90 + [1] * 10), 0, "0", 90),
        (np.array([0] * 90 + [1] * 10), "0", "0", 90),  # a command line's word matches too
        (np.array([False] * 90 + [True] * 10), True, "True", 10),
    ],
)
def test_positive_label_names_the_positive_class(y, given, label, positive_rows):
    dataset = resolved(y, positive_label=given)
    assert dataset.labels == (label,) and int(dataset.y.sum()) == positive_rows


def test_given_class_names_name_the_positive_class():
    dataset = resolve_task(
        dataset_from_arrays(np.ones((100, 2)), np.array([0] * 95 + [1] * 5), labels=["ok", "bad"]),
        DataConfig(positive_label="bad"),
    )
    assert dataset.labels == ("bad",) and dataset.classes == (0, 1)


def test_task_multiclass_keeps_a_two_valued_y_a_two_class_softmax():
    X, y = make_binary_arrays(n_rows=300)
    dataset = resolve_task(dataset_from_arrays(X, y), DataConfig(task="multiclass"))
    assert dataset.task is Task.MULTICLASS and dataset.labels == ("fraud", "ok")
    # ... named as releases before binary tasks named it, so their studies are found again.
    before = dataset_from_arrays(X, y)  # what they swept
    assert derived_study_name(before.fingerprint(), SweepConfig()) == derived_study_name(
        dataset.fingerprint(), SweepConfig(data=DataConfig(task="multiclass"))
    )


def test_the_defaults_change_no_derived_name():
    assert "task" not in DataConfig().canonical() and DataConfig().canonical() == {}
    assert DataConfig(positive_label="fraud").canonical() == {}  # pinned by the data instead
    _, y = make_binary_arrays(n_rows=300)
    rare, named = resolved(y), resolved(y, positive_label="ok")
    assert rare.fingerprint() != named.fingerprint()  # another positive class, another study


def test_a_csv_label_column_and_an_npz_y_of_two_values_are_binary(tmp_path):
    (tmp_path / "d.csv").write_text(
        "f1,f2,kind\n" + "".join(f"{i},{i % 3},{'spam' if i % 10 == 0 else 'ham'}\n"
                                 for i in range(50))
    )
    csv = resolve_task(load_source(DataConfig(source="d.csv", label_column="kind"), tmp_path),
                       DataConfig(label_column="kind"))
    assert csv.task is Task.BINARY and csv.classes == ("ham", "spam") and csv.labels == ("spam",)
    (tmp_path / "n.csv").write_text(
        "f1,y\n" + "".join(f"{i},{int(i % 10 == 0)}\n" for i in range(50))
    )
    numeric = resolve_task(load_source(DataConfig(source="n.csv", label_column="y"), tmp_path),
                           DataConfig())
    assert numeric.classes == (0, 1)  # integers written as text are integers
    np.savez(tmp_path / "d.npz", X=np.ones((50, 2)), y=(np.arange(50) % 10 == 0).astype(int),
             labels=np.array(["ok", "fraud"]))
    npz = resolve_task(load_source(DataConfig(source="d.npz"), tmp_path), DataConfig())
    assert npz.task is Task.BINARY and npz.labels == ("fraud",) and npz.classes == (0, 1)


def test_a_study_file_with_a_two_valued_label_column_is_binary(tmp_path):
    from sweeper.api import prepare_study_file
    from sweeper.report._table import weight_summary

    (tmp_path / "d.csv").write_text("f1,f2,kind\n" + "".join(
        f"{i % 7},{i % 5},{'bad' if i % 8 == 0 else 'good'}\n" for i in range(400)))
    (tmp_path / "s.toml").write_text(
        f'[study]\nname = "b"\nstorage = "sqlite:///{tmp_path / "s.db"}"\ntrials = 2\n'
        '[data]\nsource = "d.csv"\nlabel_column = "kind"\npositive_label = "bad"\nfolds = 1\n'
    )
    prepared = prepare_study_file(tmp_path / "s.toml")
    assert prepared.info.describe_task() == "binary, positive label 'bad'"
    assert prepared.info.classes == ("good", "bad") and prepared.info.train_counts[0] == 30
    assert weight_summary((9.5,)) == "9.5"  # the table's weights column: the pos_weight


def _save_folder(folder, X, y):
    folder.mkdir()
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", y)


def _save_npz(folder, X, y):
    folder.mkdir()
    np.savez(folder / "d.npz", X=X, y=y)


@pytest.mark.parametrize(
    ("save", "source", "y", "positive_label", "classes", "described"),
    [
        (_save_folder, "data", np.where(np.arange(400) % 8 == 0, "malignant", "benign"), None,
         ("benign", "malignant"), "binary, positive label 'malignant'"),
        (_save_npz, "data/d.npz", np.where(np.arange(400) % 8 == 0, "malignant", "benign"),
         "benign", ("malignant", "benign"), "binary, positive label 'benign'"),
        (_save_folder, "data", np.arange(400) % 8 == 0, None, (False, True),
         "binary, positive label 'True'"),
        (_save_npz, "data/d.npz", np.arange(400) % 8 == 0, "false", (True, False),
         "binary, positive label 'False'"),
    ],
)
def test_a_file_y_of_names_or_booleans_is_binary_as_in_python(
    tmp_path, save, source, y, positive_label, classes, described
):
    """A folder of .npy files or an .npz holding a 1-D y of class names or booleans is prepared
    as binary with the user's values, as ``sweeper.sweep(X, y)`` reads the same arrays."""
    from sweeper.api import prepare_study_file

    X = np.column_stack([np.arange(400) % 7, np.arange(400) % 5]).astype(np.float32)
    save(tmp_path / "data", X, y)
    chosen = "" if positive_label is None else f'positive_label = "{positive_label}"\n'
    (tmp_path / "s.toml").write_text(
        f'[study]\nname = "b"\nstorage = "sqlite:///{tmp_path / "s.db"}"\ntrials = 2\n'
        f'[data]\nsource = "{source}"\n{chosen}folds = 1\n'
    )
    prepared = prepare_study_file(tmp_path / "s.toml")
    assert prepared.info.describe_task() == described
    assert prepared.info.classes == classes
    in_python = resolve_task(dataset_from_arrays(X, y),
                             DataConfig(positive_label=positive_label))
    loaded = resolve_task(load_source(DataConfig(source=source), tmp_path),
                          DataConfig(positive_label=positive_label))
    assert loaded.fingerprint() == in_python.fingerprint()  # the same data, the same study


def test_a_file_y_of_ids_keeps_its_labels_and_fingerprint(tmp_path):
    """A 1-D y of ids 0..K-1 in a file reads as before other values were accepted: K is the
    largest id plus one (a class without a sample included), labels label_j or labels.npy."""
    X = np.ones((6, 2))
    np.savez(tmp_path / "d.npz", X=X, y=np.array([0, 1, 3, 0, 1, 3]))
    gap = load_source(DataConfig(source="d.npz"), tmp_path)
    assert gap.labels == ("label_0", "label_1", "label_2", "label_3")
    assert gap.classes == (0, 1, 2, 3) and gap.y.tolist() == [0, 1, 3, 0, 1, 3]
    np.savez(tmp_path / "n.npz", X=X, y=np.array([0, 1, 2] * 2), labels=np.array(["a", "b", "c"]))
    named = load_source(DataConfig(source="n.npz"), tmp_path)
    assert named.labels == ("a", "b", "c") and named.classes == (0, 1, 2)
    same = dataset_from_arrays(X, np.array([0, 1, 2] * 2), labels=["a", "b", "c"])
    assert named.fingerprint() == same.fingerprint()


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([0.0, 0.5] * 3), r"d\.npz: y: row 1 holds 0\.5, which is no class id"),
        (np.array([0.0, np.nan] * 3), r"d\.npz: y: row 1 holds nan, which is no class id"),
    ],
)
def test_a_file_y_of_fractions_is_one_line(tmp_path, y, message):
    np.savez(tmp_path / "d.npz", X=np.ones((6, 2)), y=y)
    with pytest.raises(sweeper.DataError, match=message) as raised:
        load_source(DataConfig(source="d.npz"), tmp_path)
    assert "\n" not in str(raised.value)


# ----------------------------------------------------------------------------- bad inputs


def _one_value(X, y):
    return X, np.full(len(y), "ok")


def _two_positives(X, y):
    return X, np.where(np.arange(len(y)) < 2, "fraud", "ok")


def _three_classes(X, y):
    return X, np.arange(len(y)) % 3


def _multilabel(X, y):
    return X, np.column_stack([y == "fraud", y == "ok"]).astype(int)


@pytest.mark.parametrize(
    ("change", "arguments", "error", "key", "message"),
    [
        (_one_value, {}, sweeper.DataError, "y", r"^arrays: the labels hold one class only"),
        (None, {"data": {"positive_label": "spam"}}, sweeper.ConfigError, "positive_label",
         r"^\[data\] positive_label: 'spam' is not one of y's two values \('fraud', 'ok'\)\.$"),
        (_multilabel, {"data": {"positive_label": "fraud"}}, sweeper.ConfigError,
         "positive_label", r"^\[data\] positive_label: applies to a binary y \(one column of two "
         r"values\), but y is multi-label \(2 labels\)\.$"),
        (_three_classes, {"data": {"positive_label": 1}}, sweeper.ConfigError, "positive_label",
         r"but y has 3 classes\.$"),
        (_three_classes, {"data": {"task": "binary"}}, sweeper.ConfigError, "task",
         r"^\[data\] task: 'binary' needs a y with two values, but y has 3 classes\.$"),
        (_multilabel, {"data": {"task": "multiclass"}}, sweeper.ConfigError, "task",
         r"'multiclass' needs a 1-D y of class values, but y is multi-label"),
        (None, {"data": {"task": "multiclass", "positive_label": "fraud"}}, sweeper.ConfigError,
         "positive_label", r"applies to a binary task, but `task = 'multiclass'` is set"),
        (_two_positives, {}, sweeper.DataError, "positive_label",
         r"^the positive class 'fraud' has no row in the (validation|test) split \(2 positive "
         r"rows in all; each split needs one, so at least 3\); give more positive rows\.$"),
        (None, {"average": "macro"}, sweeper.ConfigError, "average",
         r"^\[study\] average: 'macro' does not apply to a binary task"),
        (None, {"search": {"class_weighting": ["predicted_class"]}}, sweeper.ConfigError,
         "class_weighting", r"applies to multi-class data, but this data is binary"),
        (None, {"search": {"multipliers": "buckets", "buckets": 2}}, sweeper.ConfigError,
         "buckets", r"2 buckets for a binary task"),
    ],
)
def test_bad_binary_inputs_are_one_line_and_leave_no_study(
    tmp_path, monkeypatch, change, arguments, error, key, message
):
    monkeypatch.chdir(tmp_path)  # the default storage would be ./.sweeper/NAME.db
    X, y = make_binary_arrays(n_rows=400)
    if change is not None:
        X, y = change(X, y)
    with pytest.raises(error, match=message) as caught:
        sweeper.prepare(X, y, **arguments)
    assert caught.value.key == key
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_study_file_with_a_bad_positive_label_is_one_line_exit_2(tmp_path, capsys):
    from sweeper.cli import main

    (tmp_path / "d.csv").write_text(
        "f1,kind\n" + "".join(f"{i},{'bad' if i % 10 == 0 else 'good'}\n" for i in range(60))
    )
    (tmp_path / "s.toml").write_text(
        f'[study]\nname = "b"\nstorage = "sqlite:///{tmp_path / "s.db"}"\ntrials = 2\n'
        '[data]\nsource = "d.csv"\nlabel_column = "kind"\npositive_label = "ugly"\n'
    )
    assert main(["run", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"sweeper: error: {tmp_path / 's.toml'}: [data] positive_label: 'ugly' is not "
                   "one of y's two values ('bad', 'good')."]
    assert not (tmp_path / "s.db").exists()


# ----------------------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("normalisation", "pair"),
    [
        ("none", [1.0, 9.0]),
        ("sum_to_one", [0.1, 0.9]),
        ("mean_one", [0.2, 1.8]),
        ("balanced", [100 / 180, 900 / 180]),  # 90 * neg_weight + 10 * pos_weight = 100
    ],
)
def test_binary_weights_normalise_the_pair(normalisation, pair):
    """10 positives in 100 rows: inverse frequency neg/pos = 9, normalised over (neg, pos)."""
    found = binary_weight_pair(positives=10, n_samples=100, normalisation=normalisation,
                               exponent=1.0)
    np.testing.assert_allclose(found, pair)
    candidate = Candidate(exponent=1.0, normalisation=normalisation, threshold=0.5,
                          threshold_rule="global")
    np.testing.assert_allclose(candidate.weights(np.array([10]), 100, Task.BINARY), pair[1:])
    np.testing.assert_allclose(candidate.loss_weights(np.array([10]), 100, Task.BINARY),
                               [[pair[1]], [pair[0]]])  # (2, 1): pos_weight, then neg_weight


def test_binary_weight_families_and_the_sklearn_pair():
    half = binary_weight_pair(positives=10, n_samples=100, normalisation="none", exponent=0.5)
    np.testing.assert_allclose(half, [1.0, 3.0])
    beta = 0.99
    effective = binary_weight_pair(positives=10, n_samples=100, normalisation="none",
                                   family="effective_number", beta=beta)
    np.testing.assert_allclose(effective, [1.0, (1 - beta**90) / (1 - beta**10)])
    doubled = binary_weight_pair(positives=10, n_samples=100, normalisation="none", exponent=1.0,
                                 multiplier=2.0)
    np.testing.assert_allclose(doubled, [1.0, 18.0])
    from sweeper.study import baseline_candidates

    baselines = baseline_candidates(Task.BINARY)
    assert set(baselines) == {"unweighted", "neg_pos", "sklearn_balanced", "deferred_balanced",
                              "focal", "logit_adjusted", "asymmetric"}
    counts = np.array([10])
    np.testing.assert_allclose(
        baselines["sklearn_balanced"].loss_weights(counts, 100, Task.BINARY), [[5.0], [100 / 180]]
    )
    np.testing.assert_allclose(baselines["neg_pos"].loss_weights(counts, 100, Task.BINARY),
                               [[9.0], [1.0]])
    np.testing.assert_allclose(baselines["unweighted"].loss_weights(counts, 100, Task.BINARY),
                               [[1.0], [1.0]])


# ----------------------------------------------------------------------------- records, export

INFO = StudyInfo(
    task="binary", labels=("fraud",), average="micro", fingerprint="f" * 16, source="arrays",
    train_counts=(10,), n_features=3, n_train=100, n_validation=20, n_test=20, seed=0,
    model={"hidden": [4], "epochs": 1, "batch_size": 8, "learning_rate": 0.01, "factory": None},
    version="0", classes=("ok", "fraud"),
)


def binary_record(normalisation: str = "sum_to_one", **candidate) -> TrialRecord:
    figures = Evaluation(0.5, 0.4, (0.5,), (0.4,))
    chosen = Candidate(**{"exponent": 1.0, "normalisation": normalisation, "threshold": 0.3,
                          "threshold_rule": "global", **candidate})
    return TrialRecord(
        number=3, candidate=chosen, weights=tuple(chosen.weights(np.array([10]), 100, "binary")),
        validation=figures, test=figures, validation_curve=None, test_curve=None,
        diverged=False, train_seconds=1.0, packed_members=1,
        thresholds=(0.25,) if chosen.threshold_rule == "per_label" else None,
    )


def test_a_binary_study_record_round_trips_and_old_records_read_unchanged():
    stored = INFO.to_dict()
    assert stored["classes"] == ["ok", "fraud"] and StudyInfo.from_dict(stored) == INFO
    assert INFO.describe_task() == "binary, positive label 'fraud'"
    assert (INFO.positive_label, INFO.negative_label) == ("fraud", "ok")
    old = {key: value for key, value in stored.items() if key != "classes"}
    old.update(task="multiclass", labels=["a", "b"], train_counts=[50, 50])
    assert StudyInfo.from_dict(old).classes is None
    assert "classes" not in StudyInfo.from_dict(old).to_dict()  # other tasks' records as before


def test_a_binary_export_has_scalar_weights_the_user_values_and_decides_them(tmp_path):
    document = export_document(binary_record(), INFO, study_name="s", storage_url="sqlite:///x")
    assert document["task"] == "binary" and document["labels"] == ["fraud"]
    assert (document["positive_label"], document["negative_label"]) == ("fraud", "ok")
    assert document["pos_weight"] == pytest.approx(0.9)  # 9 and 1, summing to one
    assert document["neg_weight"] == pytest.approx(0.1)
    assert document["threshold"] == 0.3 and document["decision"] == "threshold"
    exported = load_export(write_export(document, tmp_path / "w.json"))
    assert exported.weights == pytest.approx((0.9,))
    assert exported.neg_weight == pytest.approx((0.1,))
    decided = exported.decide(np.array([[2.0], [-2.0], [math.log(0.3 / 0.7) + 1e-6]]))
    assert decided.tolist() == ["fraud", "ok", "fraud"] and decided.ndim == 1
    np.testing.assert_array_equal(exported.targets(np.array(["ok", "fraud"])), [[0.0], [1.0]])
    loss = exported.loss()
    assert loss.pos_weight == pytest.approx([0.9]) and loss.neg_weight == pytest.approx([0.1])
    assert exported.summary().startswith("trial 3 at threshold 0.300")


def test_a_binary_export_without_normalisation_has_no_neg_weight_and_one_threshold():
    per_label = binary_record("none", threshold=None, threshold_rule="per_label", fbeta=2.0)
    document = export_document(per_label, INFO, study_name="s", storage_url="sqlite:///x")
    assert "neg_weight" not in document and document["pos_weight"] == pytest.approx(9.0)
    assert document["threshold"] == 0.25  # the positive class's F-beta-optimal threshold
    assert document["threshold_rule"] == {"rule": "per_label", "fbeta": 2.0}
    from sweeper.study import OperatingPoint

    assert OperatingPoint(per_label).decision_summary() == "0.250 (F2)"
    bools = StudyInfo(**{**INFO.__dict__, "classes": (False, True), "labels": ("True",)})
    exported = sweeper.ExportedWeights.from_document(
        export_document(per_label, bools, study_name="s", storage_url="sqlite:///x"))
    assert exported.decide(np.array([3.0, -3.0])).tolist() == [True, False]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(pos_weight=[0.9]), "at pos_weight"),
        (lambda d: d.update(pos_weight=-1.0), "at pos_weight"),
        (lambda d: d.pop("positive_label"), "positive_label"),
        (lambda d: d.update(threshold=[0.3]), "at threshold"),
    ],
)
def test_invalid_binary_documents_are_refused(tmp_path, change, message):
    document = export_document(binary_record(), INFO, study_name="s", storage_url="sqlite:///x")
    change(document)
    (tmp_path / "bad.json").write_text(json.dumps(document))
    with pytest.raises(sweeper.ExportError, match=message):
        load_export(tmp_path / "bad.json")


# ----------------------------------------------------------------------------- real sweeps


class RecordingTrainer:
    """The study's own trainer, keeping every pass's scores: what each trial was scored on."""

    def __init__(self, inner, passes):
        self.inner, self.passes, self.members = inner, passes, inner.members

    def train_and_score(self, weights):
        scores = self.inner.train_and_score(weights)
        self.passes.append(scores)
        return scores


@pytest.fixture(scope="module")
def binary_sweep(tmp_path_factory):
    """A binary sweep of 6 trials (3 per pass) on string labels, one validation split (an
    export then trains as its trial did), every pass's scores kept."""
    from sweeper.study import run_study
    from sweeper.training import PackedTrainer

    folder = tmp_path_factory.mktemp("binary")
    X, y = make_binary_arrays(n_rows=2000)
    prepared = sweeper.prepare(
        X, y, model=SMALL_MODEL, trials=6, storage=f"sqlite:///{folder / 'b.db'}",
        study_name="binary", search={"thresholds": ["global", "per_label"]}, data={"folds": 1},
        artifacts=str(folder / "artifacts"),
    )
    passes: list = []

    def make_trainer(members):
        return RecordingTrainer(PackedTrainer(prepared.splits, prepared.config.model,
                                              members=members, seed=prepared.info.seed), passes)

    run_study(prepared.study, config=prepared.config, info=prepared.info, splits=prepared.splits,
              progress=False, make_trainer=make_trainer)
    return prepared, prepared.result(), passes


def _figures(truth: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Brute force: the positive class's recall and precision, counted row by row."""
    tp = sum(1 for t, p in zip(truth, positive, strict=True) if t and p)
    predicted = sum(1 for p in positive if p)
    return tp / sum(1 for t in truth if t), (tp / predicted if predicted else 0.0)


def _macro_of_both(truth: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    both = [_figures(truth, positive), _figures(~truth, ~positive)]
    return float(np.mean([b[0] for b in both])), float(np.mean([b[1] for b in both]))


@pytest.mark.slow
def test_front_points_are_the_positive_class_figures(binary_sweep):
    """Every front point's validation recall and precision are the positive class's, counted
    by brute force from the scores its trial was scored on; never the macro average of both
    classes (which the same decisions give differently)."""
    prepared, result, passes = binary_sweep
    assert result.info.task is Task.BINARY and result.info.average == "micro"
    baselines_pass, *trial_passes = passes
    names = list(sweeper.study.baseline_candidates(Task.BINARY))
    assert baselines_pass.validation.shape[0] == len(names) and len(trial_passes) == 2
    truth = prepared.splits.validation.y[:, 0].astype(bool)
    scores = {number: trial_passes[number // 3].validation[number % 3, :, 0]
              for number in range(6)}
    scores.update({name: baselines_pass.validation[j, :, 0] for j, name in enumerate(names)})
    report = result.report()
    assert report.front
    differs = False
    for point in report.front:
        key = point.record.baseline or point.record.number
        threshold = point.threshold[0] if isinstance(point.threshold, tuple) else point.threshold
        if point.index is not None:  # a curve's thresholds (score values) are stored to 6
            threshold -= 5e-7  # decimals: the score it was cut at may lie just below
        positive = scores[key] >= np.float32(threshold)
        # Stored figures are rounded to 6 decimals too; one row more or less moves them by 1/24.
        assert point.validation == pytest.approx(_figures(truth, positive), abs=1e-6)
        differs |= _macro_of_both(truth, positive) != pytest.approx(point.validation, abs=1e-3)
    assert differs


@pytest.mark.slow
def test_the_report_and_the_verdict_say_binary_and_the_positive_label(binary_sweep, tmp_path):
    from sweeper.report import dashboard_note, format_table, named_figures

    _, result, _ = binary_sweep
    report = result.report(json=tmp_path / "r.json", html=tmp_path / "r.html")
    assert "binary, positive label 'fraud'" in format_table(report, width=100)
    assert "positive class 'fraud'" in result.verdict.message
    assert "binary, positive label 'fraud'" in dashboard_note(report)
    written = json.loads((tmp_path / "r.json").read_text())
    assert (written["task"], written["positive_label"], written["negative_label"]) == (
        "binary", "fraud", "ok")
    assert set(result.baselines) == {"unweighted", "neg_pos", "sklearn_balanced",
                                     "deferred_balanced", "focal", "logit_adjusted",
                                     "asymmetric"}
    figures = dict(named_figures(report))
    heatmap = figures["per-label"].data[0]
    assert list(heatmap.x) == ["fraud"]  # one column: the positive class
    assert "positive class 'fraud'" in figures["per-label"].layout.annotations[0].text
    for name in ("unweighted", "neg_pos", "sklearn_balanced"):
        exported = result.export(baseline=name)
        assert exported.document["task"] == "binary" and len(exported.weights) == 1


@pytest.mark.slow
@pytest.mark.backend
def test_a_binary_export_retrained_in_plain_keras_reproduces_its_figures(binary_sweep):
    """A trial's export, retrained through exported.loss() on a one-logit Keras model with the
    sweeper's batch order, decides the user's labels and reaches the exported validation
    figures within 0.02 (the packed and the plain model agree to about 2e-4 in their scores,
    so a row near the threshold may flip)."""
    import keras

    from sweeper.training import build_mlp, fit_plain

    prepared, result, _ = binary_sweep
    # The best trial whose normalisation gives the negatives a weight too (neg_weight), if any.
    records = sorted(result.report().records, key=lambda r: (r.candidate.normalisation != "none",
                                                              r.validation.f1))
    exported = result.export(trial=records[-1].number)
    document = exported.document
    assert ("neg_weight" in document) == (records[-1].candidate.normalisation != "none")
    spec, seed = document["training"]["model"], document["training"]["seed"]
    splits = prepared.splits
    user_y = np.where(splits.train.y[:, 0] == 1, "fraud", "ok")  # the user's own labels
    keras.utils.set_random_seed(seed)
    model = build_mlp(splits.train.X.shape[1], 1, spec["hidden"], seed)
    steps = math.ceil(splits.train.X.shape[0] / spec["batch_size"])
    model.compile(optimizer=exported.optimizer(steps_per_epoch=steps), loss=exported.loss())
    fit_plain(model, splits.train.X, exported.targets(user_y),
              epochs=document["training"]["epochs"], batch_size=spec["batch_size"], seed=seed)
    decided = exported.decide(keras.ops.convert_to_numpy(model(splits.validation.X)))
    assert decided.ndim == 1 and set(decided.tolist()) <= {"ok", "fraud"}
    truth = splits.validation.y[:, 0] == 1
    recall, precision = _figures(truth, decided == "fraud")
    assert recall == pytest.approx(exported.validation["recall"], abs=0.02)
    assert precision == pytest.approx(exported.validation["precision"], abs=0.02)


def test_a_two_class_study_of_an_earlier_release_resumes_with_task_multiclass(tmp_path):
    X, y = make_binary_arrays(n_rows=400)
    options = {"storage": f"sqlite:///{tmp_path / 'o.db'}", "study_name": "old",
               "data": {"folds": 1}}
    sweeper.prepare(X, y, **{**options, "data": {"folds": 1, "task": "multiclass"}})
    with pytest.raises(sweeper.DataError, match=r"created as a two-class softmax .* set "
                       r"`\[data\] task = \"multiclass\"` to resume it") as caught:
        sweeper.prepare(X, y, **options)
    assert caught.value.key == "task"
    again = sweeper.prepare(X, y, **{**options, "data": {"folds": 1, "task": "multiclass"}})
    assert again.info.task is Task.MULTICLASS


@pytest.mark.slow
def test_the_log_line_says_binary_and_the_positive_label(tmp_path, caplog):
    X, y = make_binary_arrays(n_rows=600)
    with caplog.at_level(logging.INFO, logger="sweeper"):
        prepared = sweeper.prepare(X, y, storage=f"sqlite:///{tmp_path / 'l.db'}",
                                   data={"positive_label": "ok"})
    assert prepared.info.labels == ("ok",) and prepared.info.classes == ("fraud", "ok")
    assert any("binary, positive label 'ok'" in r.getMessage() for r in caplog.records)
    old = sweeper.prepare(X, y, storage=f"sqlite:///{tmp_path / 'm.db'}",
                          data={"task": "multiclass"})
    assert old.info.task is Task.MULTICLASS and old.info.labels == ("fraud", "ok")
    assert old.info.average == "macro"
