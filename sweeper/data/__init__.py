"""Data: loading (files, built-ins, arrays in memory), validation, and the stratified split.

Pure NumPy: this package never imports Keras or TensorFlow.
"""

from __future__ import annotations

from sweeper.data._arrays import dataset_from_arrays
from sweeper.data._binary import positive_index, resolve_task
from sweeper.data._builtin import (
    BUILTIN_SOURCES,
    LongtailSpec,
    longtail_spec,
    make_longtail_multilabel,
    make_seed_multiclass,
    make_seed_multilabel,
    make_shapes_longtail,
    seed_multilabel_optimal_hypervolume,
    seed_multilabel_posterior,
)
from sweeper.data._dataset import Dataset, Splits, validated_dataset
from sweeper.data._files import load_source
from sweeper.data._rows import Features, RowView
from sweeper.data._scaling import Standardizer
from sweeper.data._split import assign_folds, make_splits, split_dataset, unevaluable

__all__ = [
    "BUILTIN_SOURCES",
    "Dataset",
    "Features",
    "LongtailSpec",
    "RowView",
    "Splits",
    "Standardizer",
    "assign_folds",
    "dataset_from_arrays",
    "load_source",
    "longtail_spec",
    "make_longtail_multilabel",
    "make_seed_multiclass",
    "make_seed_multilabel",
    "make_shapes_longtail",
    "make_splits",
    "positive_index",
    "resolve_task",
    "seed_multilabel_optimal_hypervolume",
    "seed_multilabel_posterior",
    "split_dataset",
    "unevaluable",
    "validated_dataset",
]
