"""Small real data sets and the study-file template the tests write studies from."""

from __future__ import annotations

import numpy as np


def make_multilabel_arrays(n_rows: int = 1500, n_labels: int = 4, seed: int = 0):
    """Rare labels (about 1 in 8) with a noisy feature per label and one pure-noise feature."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n_rows, n_labels)) < 0.12).astype(np.uint8)
    signal = y * (rng.random((n_rows, n_labels)) < 0.7)
    X = np.column_stack(
        [signal + 0.3 * rng.standard_normal((n_rows, n_labels)), rng.standard_normal(n_rows)]
    ).astype(np.float32)
    return X, y


def make_multiclass_arrays(counts=(60, 130, 210, 80), seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    means = 1.5 * np.eye(len(counts))
    X = (means[y] + rng.standard_normal((y.size, len(counts)))).astype(np.float32)
    return X, y.astype(np.int64)


STUDY_TEMPLATE = """
[study]
name = "{name}"
storage = "{storage}"
trials = {trials}
artifacts = "{artifacts}"

[data]
source = "{source}"
{data_extra}
validation_fraction = 0.25
test_fraction = 0.25
seed = 0

[model]
hidden = [16]
epochs = {epochs}
batch_size = 64
learning_rate = 0.01
pack = {pack}

[search]
exponent = [0.0, 1.5]
threshold = [0.05, 0.95]
"""
