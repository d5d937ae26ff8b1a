"""How many trials to train together in one pass (the pack size ``P``).

Four limits, the smallest wins:

- **memory**: a member costs its parameters four times over (weights, gradients, Adam's two
  moments) plus its activations for one training batch and for one scoring chunk; members may use
  a quarter of the memory at hand (GPU memory on a GPU, available RAM otherwise);
- **arithmetic**: on a CPU the cores are saturated by about 32 members of a small MLP (more only
  adds memory, see ``benchmarks/throughput.py``); a GPU keeps gaining up to a few hundred;
- **feedback**: at most a quarter of the budget, so the sampler learns from at least four rounds;
- **host scores**: a pass's validation and test probabilities (float32, per member) wait on the
  host until each member is scored, and may take :data:`SCORES_FLOOR_BYTES` or the input's own
  bytes, whichever is more: at thousands of labels one member's scores weigh as much as the
  labels themselves, and 32 of them would pass the memory budget of issue 30 (1 GB plus three
  times the input) many times over.

Under K-fold cross-validation a trial is K members, so the memory and arithmetic limits count
trials of K members each. The study file's ``[model] pack`` (trials per pass) overrides all
three. Whatever ``P`` is, the budget and every
stored figure stay the same: members train exactly as they would alone.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from sweeper.config import ModelConfig

__all__ = [
    "MAX_PACK_CPU",
    "MAX_PACK_GPU",
    "available_memory_bytes",
    "check_fits",
    "choose_pack",
    "member_bytes",
    "pack_size",
]

MAX_PACK_CPU = 32
MAX_PACK_GPU = 256
MEMORY_SHARE = 0.25
SCORES_FLOOR_BYTES = 256 * 2**20
SCORING_CHUNK = 8192
BYTES_PER_FLOAT = 4


def member_bytes(
    *, n_features: int, n_outputs: int, hidden: Sequence[int], batch_size: int
) -> int:
    """Memory one packed member of the built-in MLP needs while training and scoring."""
    sizes = (n_features, *hidden, n_outputs)
    parameters = sum(a * b + b for a, b in itertools.pairwise(sizes))
    widths = sum(sizes[1:])
    activations = 3 * batch_size * widths + SCORING_CHUNK * widths
    return BYTES_PER_FLOAT * (4 * parameters + activations)


def _gpu_memory_bytes() -> int | None:
    """Free memory of the first visible GPU, or ``None`` when there is none."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return None
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return int(float(lines[0])) * 2**20 if lines else None


def _ram_bytes() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def available_memory_bytes() -> tuple[int, bool]:
    """Memory the members may draw on, and whether it is a GPU's."""
    gpu = _gpu_memory_bytes()
    if gpu is not None:
        return gpu, True
    return _ram_bytes(), False


def choose_pack(
    *,
    per_member_bytes: int,
    budget: int | None,
    memory_bytes: int,
    on_gpu: bool,
    folds: int = 1,
    score_bytes: int = 0,
    input_bytes: int = 0,
) -> int:
    """The pack size in trials (of ``folds`` members each): the smallest of the memory,
    arithmetic, feedback and host-scores limits, at least 1. ``score_bytes`` is what one
    member's validation and test scores take on the host; ``budget=None``: no feedback limit
    (a pass that no sampler waits on, the baselines')."""
    by_memory = int(memory_bytes * MEMORY_SHARE) // max(per_member_bytes * folds, 1)
    by_arithmetic = (MAX_PACK_GPU if on_gpu else MAX_PACK_CPU) // folds
    by_feedback = math.ceil(budget / 4) if budget is not None else by_arithmetic
    by_scores = max(SCORES_FLOOR_BYTES, input_bytes) // max(score_bytes * folds, 1)
    return max(1, min(by_memory, by_arithmetic, by_feedback, by_scores))


def check_fits(model: ModelConfig, *, n_features: int, n_outputs: int, folds: int = 1) -> None:
    """Refuse a built-in MLP whose one trial (``folds`` members) cannot fit in the memory at
    hand, naming ``[model] hidden``, before a study exists (TensorFlow would fail mid-batch
    with an allocation error)."""
    if model.factory is not None or model.fit is not None or model.batch_size is None:
        return
    assert model.layers is not None  # no factory: the built-in MLP's layers
    needed = folds * member_bytes(
        n_features=n_features, n_outputs=n_outputs, hidden=model.layers,
        batch_size=model.batch_size,
    )
    memory, on_gpu = available_memory_bytes()
    if needed > memory * MEMORY_SHARE * 2:
        raise ModelConfig.fail(
            "hidden",
            f"one trial of layers {list(model.layers)} needs about {needed / 2**30:.1f} GiB, "
            f"more than the {memory / 2**30:.1f} GiB of {'GPU memory' if on_gpu else 'memory'} "
            "at hand allows; use smaller layers.",
        )


def pack_size(
    model: ModelConfig,
    *,
    n_features: int,
    n_outputs: int,
    budget: int | None,
    factory: Callable[..., Any] | None = None,
    folds: int = 1,
    input_shape: tuple[int, ...] | None = None,
    scored_rows: int = 0,
    input_bytes: int = 0,
) -> int:
    """Trials per training pass: ``model.pack`` if set, else the smallest of the four limits
    for this model, the memory at hand, the budget, the folds per trial and the rows each
    member scores (validation and test) against the input's bytes. A training step of
    the user's own (``[model] fit``) trains one model at a time: one trial per batch, so the
    sampler learns from every trial before the next."""
    if model.pack is not None:
        return model.pack
    if model.fit is not None:
        return 1
    if factory is None:
        hidden = model.layers
        assert hidden is not None  # no factory: the built-in MLP's layers
    else:
        # A user's model: size it as an MLP of one hidden layer with as many parameters.
        parameters = factory(input_shape or (n_features,), n_outputs).count_params()
        hidden = (max(1, parameters // (n_features + n_outputs + 2)),)
    assert model.batch_size is not None  # a prepared sweep's model is fitted (fitted_to)
    per_member = member_bytes(
        n_features=n_features, n_outputs=n_outputs, hidden=hidden, batch_size=model.batch_size
    )
    memory, on_gpu = available_memory_bytes()
    return choose_pack(
        per_member_bytes=per_member, budget=budget, memory_bytes=memory, on_gpu=on_gpu,
        folds=folds, score_bytes=BYTES_PER_FLOAT * scored_rows * n_outputs,
        input_bytes=input_bytes,
    )
