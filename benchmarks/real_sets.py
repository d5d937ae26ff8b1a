"""Small real data sets made long-tailed, and retraining an export by independent code.

The data sets come with scikit-learn (bundled in the package: no download), the benchmark's own
dependency (``pip install -e ".[bench]"``). Each is made long-tailed by keeping a fixed random
share of some classes' rows (seed 0):

- ``digits-longtail``: the 8x8 digits, 10 classes, class c keeps ``0.7^c`` of its rows
  (about 178 down to 7 samples): multi-class;
- ``breast-cancer-rare``: malignant tumours kept at 8% (about 17 of 374 rows): multi-class,
  two classes;
- ``wine-longtail``: the three cultivars, the third kept at 15% (7 of 137 rows), features of
  very different scales (given raw: the sweeper standardises them by default);
- ``digits-attributes``: the digits with five non-exclusive labels (is 0, is 8, prime, even,
  greater than 5), the rows of 0 and 8 kept at 15%: multi-label with two rare labels.

:func:`retrain_f1` trains an exported operating point again without any of the sweeper's
training code: a Keras MLP of the exported layers, its own shuffling seeds, the weighted loss
and the decision rule written out here from the JSON's fields, scored on the test rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["REAL_SETS", "load_real_set", "retrain_f1"]


def _keep(y: np.ndarray, shares: dict[int, float], seed: int = 0) -> np.ndarray:
    """Row indices keeping ``shares[c]`` of class ``c``'s rows (all rows of other classes)."""
    rng = np.random.default_rng(seed)
    keep = np.ones(y.size, dtype=bool)
    for label, share in shares.items():
        rows = np.flatnonzero(y == label)
        dropped = rng.permutation(rows)[max(1, round(share * rows.size)):]
        keep[dropped] = False
    return np.flatnonzero(keep)


def _digits_longtail():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rows = _keep(y, {c: 0.7**c for c in range(10)})
    return X[rows], y[rows], [str(c) for c in range(10)]


def _breast_cancer_rare():
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    rows = _keep(data.target, {0: 0.08})  # 0 is malignant
    return data.data[rows], data.target[rows], list(data.target_names)


def _wine_longtail():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    rows = _keep(y, {2: 0.15})
    return X[rows], y[rows], ["class_0", "class_1", "class_2"]


def _digits_attributes():
    from sklearn.datasets import load_digits

    X, digit = load_digits(return_X_y=True)
    rows = _keep(digit, {0: 0.15, 8: 0.15})
    X, digit = X[rows], digit[rows]
    labels = {
        "is_0": digit == 0, "is_8": digit == 8, "prime": np.isin(digit, (2, 3, 5, 7)),
        "even": digit % 2 == 0, "above_5": digit > 5,
    }
    return X, np.column_stack(list(labels.values())).astype(np.uint8), list(labels)


REAL_SETS = {
    "digits-longtail": _digits_longtail,
    "breast-cancer-rare": _breast_cancer_rare,
    "wine-longtail": _wine_longtail,
    "digits-attributes": _digits_attributes,
}


def load_real_set(name: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    return REAL_SETS[name]()


def _f1(truth: np.ndarray, decided: np.ndarray, multilabel: bool, average: str) -> float:
    """F1 of recall and precision averaged as the study averages them (written out here)."""
    if multilabel:
        tp = (truth & decided).sum(axis=0).astype(float)
        positives, predicted = truth.sum(axis=0), decided.sum(axis=0)
    else:
        classes = np.arange(max(truth.max(), decided.max()) + 1)
        tp = np.array([np.sum((truth == c) & (decided == c)) for c in classes], float)
        positives = np.array([np.sum(truth == c) for c in classes])
        predicted = np.array([np.sum(decided == c) for c in classes])
    if average == "micro":
        recall = tp.sum() / max(positives.sum(), 1)
        precision = tp.sum() / max(predicted.sum(), 1)
    else:
        present = positives > 0
        recall = np.mean(tp[present] / positives[present])
        precision = np.mean(np.divide(tp[present], predicted[present],
                                      out=np.zeros(present.sum()), where=predicted[present] > 0))
    return 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)


def retrain_f1(document: dict[str, Any], splits: Any, seed: int) -> float:
    """Train the exported point with plain Keras (seed ``seed`` for weights and shuffling) on
    the training rows (raw features; the exported standardisation applied here) and return its
    test F1. A binary export is one label (its positive class); an export of another remedy
    than plain weights (focal, logit-adjusted, deferred) trains with the export's own Keras
    loss and weight schedule (``ExportedWeights.loss``, ``weight_schedule``), the way back the
    export documents."""
    import keras
    from keras import ops

    multilabel = document["task"] in ("multilabel", "binary")
    model_facts, training = document["training"]["model"], document["training"]
    train, test = splits.train, splits.test
    train_X, test_X = train.X.astype("float64"), test.X.astype("float64")
    if document.get("standardize"):
        mean = np.asarray(document["standardize"]["mean"])
        scale = np.asarray(document["standardize"]["scale"])
        train_X, test_X = (train_X - mean) / scale, (test_X - mean) / scale
    train_X, test_X = train_X.astype("float32"), test_X.astype("float32")
    n_outputs = len(document["labels"])
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((train_X.shape[1],))]
    layers += [keras.layers.Dense(size, activation="relu") for size in model_facts["hidden"]]
    model = keras.Sequential([*layers, keras.layers.Dense(n_outputs)])
    if multilabel:
        positive = np.atleast_1d(np.asarray(document["pos_weight"], "float32"))
        negative = np.atleast_1d(np.asarray(document.get("neg_weight", np.ones(n_outputs)),
                                            "float32"))

        def loss(y_true, logits):  # tf.nn.weighted_cross_entropy_with_logits, both terms weighted
            y_true = ops.cast(y_true, logits.dtype)
            softplus = ops.log1p(ops.exp(-ops.abs(logits))) + ops.relu(-logits)
            per_label = (1 - y_true) * negative * (logits + softplus) + y_true * positive * softplus
            return ops.mean(per_label, axis=-1)
    else:
        class_weight = np.asarray(document["class_weight"], "float32")
        cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                                   reduction=None)

        def loss(y_true, logits):  # softmax cross-entropy times the true class's weight
            ids = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            return cross_entropy(ids, logits) * ops.take(class_weight, ids)

    targets = train.y.astype("float32") if multilabel else train.y
    optimizer = keras.optimizers.Adam(model_facts["learning_rate"])
    switch = 0
    if (document.get("remedy") or {}).get("name", "weights") != "weights":
        import sweeper

        exported = sweeper.ExportedWeights.from_document(document)
        switch = exported.weight_schedule()
        if switch:
            model.compile(optimizer=optimizer, loss=exported.loss(weighted=False))
            model.fit(train_X, targets, epochs=switch, batch_size=model_facts["batch_size"],
                      shuffle=True, verbose=0)
        loss = exported.loss()
    model.compile(optimizer=optimizer, loss=loss)
    model.fit(train_X, targets, epochs=training["epochs"], initial_epoch=switch,
              batch_size=model_facts["batch_size"], shuffle=True, verbose=0)
    logits = np.asarray(keras.ops.convert_to_numpy(model(test_X)), dtype=np.float64)
    if multilabel:
        probabilities = 1 / (1 + np.exp(-logits))
        decided = probabilities >= np.asarray(document["threshold"])
        return _f1(test.y.astype(bool), decided, True, document["metrics"]["average"])
    adjustment = document["logit_adjustment"]
    decided = np.argmax(logits - adjustment["tau"] * np.asarray(adjustment["log_prior"]), axis=1)
    return _f1(test.y, decided, False, document["metrics"]["average"])
