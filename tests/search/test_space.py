"""The search space as Optuna stores it, read from the settings without a study."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution

from sweeper.config import SearchConfig, Task
from sweeper.search import space_distributions, suggest_candidate


def test_every_branch_of_the_space_is_found():
    search = SearchConfig(
        families=("inverse_frequency", "effective_number"), thresholds=("global", "per_label"),
        multipliers="buckets", buckets=2,
    )
    found = space_distributions(search, Task.MULTILABEL, ("a", "b", "c"))
    assert found == {
        "family": CategoricalDistribution(["inverse_frequency", "effective_number"]),
        "exponent": FloatDistribution(0.0, 1.5),
        "one_minus_beta": FloatDistribution(1 - 0.9999, 1 - 0.9, log=True),
        "multiplier_0": FloatDistribution(0.25, 4.0, log=True),
        "multiplier_1": FloatDistribution(0.25, 4.0, log=True),
        "normalisation": CategoricalDistribution(list(search.normalisations)),
        "threshold_rule": CategoricalDistribution(["global", "per_label"]),
        "threshold": FloatDistribution(0.01, 0.99),
        "fbeta": FloatDistribution(0.25, 4.0, log=True),
    }
    classes = space_distributions(SearchConfig(normalisations=("none",)), Task.MULTICLASS)
    assert set(classes) == {"exponent", "tau"}


def test_what_trials_store_is_what_the_space_says(tmp_path):
    """Real trials of a real study draw only parameters the space lists, as it lists them."""
    search = SearchConfig(families=("inverse_frequency", "effective_number"),
                          class_weighting=("true_class", "predicted_class"))
    labels = ("x", "y", "z")
    space = space_distributions(search, Task.MULTICLASS, labels)
    study = optuna.create_study(directions=["maximize"] * 2,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        suggest_candidate(trial, search, Task.MULTICLASS, labels)
        study.tell(trial, [0.5, 0.5])
    drawn = {}
    for trial in study.trials:
        drawn.update(trial.distributions)
    assert drawn == space
