from __future__ import annotations

import pytest

from sweeper.training import (
    MAX_PACK_CPU,
    MAX_PACK_GPU,
    available_memory_bytes,
    choose_pack,
    member_bytes,
)


def test_member_bytes_of_the_seed_mlp_by_hand():
    # parameters: 30*100+100 + 100*100+100 + 100*30+30 = 16,230; widths 100+100+30 = 230
    expected = 4 * (4 * 16_230 + 3 * 256 * 230 + 8192 * 230)
    assert member_bytes(n_features=30, n_outputs=30, hidden=(100, 100), batch_size=256) == expected


@pytest.mark.parametrize(
    ("memory", "on_gpu", "budget", "expected"),
    [
        (24 * 2**30, False, 1000, MAX_PACK_CPU),  # arithmetic limit on a CPU
        (80 * 2**30, True, 10_000, MAX_PACK_GPU),  # arithmetic limit on a GPU
        (24 * 2**30, False, 60, 15),  # feedback: a quarter of the budget
        (24 * 2**30, False, 3, 1),
        (4 * 1_000_000 * 5, False, 1000, 5),  # memory: a quarter of it, 1 MB per member
        (100, False, 1000, 1),  # never below one
    ],
)
def test_choose_pack_takes_the_smallest_limit(memory, on_gpu, budget, expected):
    chosen = choose_pack(
        per_member_bytes=1_000_000, budget=budget, memory_bytes=memory, on_gpu=on_gpu
    )
    assert chosen == expected


def test_available_memory_on_this_machine_is_plausible():
    memory, on_gpu = available_memory_bytes()
    assert 2**26 < memory < 2**44
    assert isinstance(on_gpu, bool)


@pytest.mark.parametrize(
    ("score_bytes", "input_bytes", "folds", "expected"),
    [
        (2**20, 0, 1, MAX_PACK_CPU),  # small scores: the floor leaves the arithmetic limit
        (32 * 2**20, 0, 1, 8),  # 256 MB of floor over 32 MB per member
        (32 * 2**20, 512 * 2**20, 1, 16),  # an input larger than the floor is the share
        (32 * 2**20, 512 * 2**20, 4, 4),  # folds: each trial scores four members
        (2**30, 0, 1, 1),  # never below one
    ],
)
def test_the_pack_holds_its_scores_within_the_floor_or_the_input(score_bytes, input_bytes,
                                                                 folds, expected):
    """At thousands of labels one member's validation and test scores weigh as much as the
    labels: the pack takes as many as fit in 256 MB or the input's bytes, the larger."""
    assert choose_pack(per_member_bytes=1, budget=10_000, memory_bytes=2**40, on_gpu=False,
                       folds=folds, score_bytes=score_bytes, input_bytes=input_bytes) == expected
