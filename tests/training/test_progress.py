"""Progress inside a batch: each epoch's state reported by the trainers, shown on the progress
bar and, for a batch that trains for a while, in the log."""

from __future__ import annotations

import io
import logging
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from sweeper.config import ModelConfig
from sweeper.logs import draws_progress
from sweeper.search import multilabel_loss_weights
from sweeper.study._runner import PROGRESS_FIRST_LOG_S, PROGRESS_LOG_EVERY_S, BatchProgress
from sweeper.training import PackedTrainer, TrainingProgress
from tests.training.test_packed import multilabel_splits  # noqa: F401  (the fixture)


class Bar:
    def __init__(self) -> None:
        self.postfixes: list[str] = []

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfixes.append(text)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_long_batch_logs_its_progress_and_a_short_one_only_shows_it(caplog):
    bar, clock = Bar(), Clock()
    progress = BatchProgress(bar, clock=clock)
    progress.start("batch of 8 trials")
    state = TrainingProgress(epoch=3, epochs=212, training=5, members=8, best_loss=0.23101)
    with caplog.at_level(logging.INFO, logger="sweeper"):
        progress(state)  # at once: the bar only
        clock.now += PROGRESS_FIRST_LOG_S
        progress(state)  # five seconds in: the first line
        clock.now += PROGRESS_LOG_EVERY_S / 2
        progress(state)  # too soon for the next
        clock.now += PROGRESS_LOG_EVERY_S
        progress(state)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "batch of 8 trials: epoch 3 of at most 212, 5 of 8 members training, best validation "
        "loss 0.2310 (5 s)",
        "batch of 8 trials: epoch 3 of at most 212, 5 of 8 members training, best validation "
        "loss 0.2310 (28 s)",
    ]
    assert len(bar.postfixes) == 4


@pytest.mark.backend
@pytest.mark.slow
def test_the_packed_trainer_reports_every_epoch_as_members_stop(multilabel_splits):  # noqa: F811
    model = ModelConfig(hidden=(16,), epochs=40, batch_size=64, learning_rate=0.05, patience=2)
    weights = np.stack([multilabel_loss_weights(w) for w in
                        ([1, 1, 1, 1], [9, 9, 9, 9], [0.2, 3, 3, 3])])
    trainer = PackedTrainer(multilabel_splits, model, members=3, seed=3)
    seen: list[TrainingProgress] = []
    trainer.on_progress = seen.append
    epochs = trainer.train({"weights": weights})
    assert [p.epoch for p in seen] == list(range(1, len(seen) + 1))
    assert len(seen) == int(epochs.max()) + 2  # the last member stopped `patience` after its best
    training = [p.training for p in seen]
    assert training == sorted(training, reverse=True) and training[-1] == 0
    best = [p.best_loss for p in seen]
    assert best == sorted(best, reverse=True)  # the lowest so far never rises


class _Stream(io.StringIO):
    """A stderr that is a terminal or not, as the case says."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _closed() -> io.StringIO:
    stream = io.StringIO()
    stream.close()
    return stream


@pytest.mark.parametrize(
    ("progress", "stream", "kernel", "drawn"),
    [
        (True, _Stream(tty=True), None, True),  # a terminal
        (True, _Stream(tty=False), None, False),  # a file, a pipe, a CI log
        (True, _closed(), None, False),
        (False, _Stream(tty=True), None, False),  # progress=False: never
        (True, _Stream(tty=False), {"IPKernelApp": {}}, True),  # a notebook's kernel
        (False, _Stream(tty=False), {"IPKernelApp": {}}, False),
        (True, _Stream(tty=False), {}, False),  # IPython in a terminal, stderr redirected
    ],
)
def test_a_progress_bar_is_drawn_on_a_terminal_or_in_a_notebook_only(
    monkeypatch, progress, stream, kernel, drawn
):
    if kernel is None:
        monkeypatch.delitem(sys.modules, "IPython", raising=False)
    else:  # what tqdm.auto asks too: the running shell's config names the kernel app
        shell = SimpleNamespace(config=kernel)
        monkeypatch.setitem(sys.modules, "IPython", SimpleNamespace(get_ipython=lambda: shell))
    assert draws_progress(progress, stream) is drawn
