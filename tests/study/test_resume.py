"""Resuming a study: one behaviour whichever path would ask its next trials."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from sweeper.api import prepare_study_file
from sweeper.cli import main
from tests.support import free_port, make_multilabel_arrays
from tests.support.fake_trainer import run_fake_study

OLD = 'normalisations = ["none", "sum_to_one"]\n'
NEW = 'normalisations = ["mean_one", "balanced"]\n'


@pytest.mark.parametrize("path", ["tpe", "nsga2", "queued", "grpc"])
def test_a_changed_search_is_refused_in_one_line_on_every_path(
    tmp_path, write_study, capsys, path
):
    """A study run with two normalisations, resumed with two others: refused before anything
    is asked, whether the batched path (tpe), Optuna's own ask (nsga2, a queued trial) or the
    gRPC proxy would ask next; no trial is left RUNNING, none is added."""
    import numpy as np

    X, y = make_multilabel_arrays(400)
    np.savez(tmp_path / "small.npz", X=X, y=y)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study_file = write_study(trials=2, epochs=2, pack=2)
    text = study_file.read_text().replace("[search]\n", "[search]\n" + OLD)
    if path == "nsga2":
        text = text.replace("[study]\n", '[study]\nsampler = "nsga2"\n')
    study_file.write_text(text)
    run_fake_study(prepare_study_file(study_file))  # the study as a first run leaves it
    study = optuna.load_study(study_name="small", storage=url)
    if path == "queued":
        study.enqueue_trial({"normalisation": "none", "exponent": 1.0, "threshold": 0.5})
    before = len(study.trials)
    study_file.write_text(study_file.read_text().replace(OLD, NEW).replace(
        "trials = 2", "trials = 4"))
    capsys.readouterr()
    server = None
    storage = []
    if path == "grpc":
        pytest.importorskip("grpc")
        from optuna.storages._grpc.server import make_server

        port = free_port()
        server = make_server(optuna.storages.RDBStorage(url), "127.0.0.1", port)
        server.start()
        storage = ["--storage", f"grpc://127.0.0.1:{port}"]
    try:
        code = main(["run", str(study_file), "--quiet", *storage])
    finally:
        if server is not None:
            server.stop(0)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("sweeper: error: ")
    assert ("searched 'normalisation' as CategoricalDistribution(choices=('none', 'sum_to_one')),"
            " but [search] now asks for CategoricalDistribution(choices=('mean_one', "
            "'balanced'))") in lines[0]
    trials = optuna.load_study(study_name="small", storage=url).trials
    assert len(trials) == before
    assert not [t for t in trials if t.state == TrialState.RUNNING]
