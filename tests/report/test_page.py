"""The page's facts stay readable at thousands of labels (issue 30)."""

from __future__ import annotations

from sweeper.report._page import COUNTS_LISTED, training_counts


def test_a_few_labels_are_listed_each_with_its_count():
    assert training_counts(("a", "b"), (3, 40)) == "a: 3, b: 40"


def test_many_labels_are_summarised_by_their_extremes_and_median():
    """3,000 labels would be a cell of 3,000 counts: the summary names the rarest and the most
    frequent label and the median, and points to the JSON for the rest."""
    labels = tuple(f"label_{j}" for j in range(3000))
    counts = tuple(50 + (j * 7) % 101 for j in range(3000))
    counts = (*counts[:17], 4, *counts[18:])
    text = training_counts(labels, counts)
    assert text.startswith("3,000 labels: fewest 4 (label_17), median ")
    assert f"most 150 (label_{counts.index(150)})" in text
    assert "train_counts" in text and len(text) < 200
    assert len(training_counts(labels[:COUNTS_LISTED], counts[:COUNTS_LISTED]).split(", ")) \
        == COUNTS_LISTED
