"""Kubernetes manifests validated offline against the Kubernetes schema (kubernetes-validate's
bundled schemas), the health probes the fleet's services use, and the storage URL read from a
secret file."""

from __future__ import annotations

import http.server
import os
import socket
import threading
import time

import kubernetes_validate
import pytest
import yaml

from sweeper import health
from sweeper.cli import main
from sweeper.fleet import kubernetes_manifests, to_yaml

KUBERNETES_VERSION = "1.30.0"


@pytest.fixture
def manifests(tmp_path, capsys):
    """`sweeper fleet kubernetes` for 4 workers, parsed back from its YAML."""
    study = tmp_path / "study.toml"
    study.write_text('[study]\nname = "fleet"\ntrials = 400\n\n'
                     '[data]\nsource = "builtin:seed-multilabel"\n')
    output = tmp_path / "sweeper.yml"
    assert main(["fleet", "kubernetes", str(study), "--workers", "4", "--namespace", "sweeps",
                 "-o", str(output)]) == 0
    return list(yaml.safe_load_all(output.read_text())), study.read_text()


def test_every_manifest_validates_against_the_kubernetes_schema_strictly(manifests):
    documents, _ = manifests
    assert [d["kind"] for d in documents] == ["ConfigMap", "Job", "Deployment", "Service"]
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_fails_the_schema(manifests):
    documents, _ = manifests
    job = yaml.safe_load(to_yaml(documents[1]))
    job["spec"]["completions"] = "four"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    job = yaml.safe_load(to_yaml(documents[1]))
    job["spec"]["template"]["spec"]["containerz"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def test_each_worker_pod_asks_for_its_own_gpu_and_reads_the_url_from_a_secret(manifests):
    documents, study_text = manifests
    config_map, job, deployment, service = documents
    assert config_map["data"]["study.toml"] == study_text  # the study travels with the manifests
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 4  # four pods at once, one per GPU
    (container,) = spec["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    storage = next(e for e in container["env"] if e["name"] == "SWEEPER_STORAGE")
    assert storage["valueFrom"]["secretKeyRef"] == {"name": "sweeper-storage", "key": "url"}
    assert "value" not in storage
    assert container["livenessProbe"]["exec"]["command"][:3] == ["python", "-m", "sweeper.health"]
    (dashboard,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in str(dashboard.get("resources", {}))
    assert dashboard["image"].startswith("classweight-sweeper-slim")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert all(d["metadata"]["namespace"] == "sweeps" for d in documents)


def test_a_broken_study_file_is_refused_before_any_manifest(tmp_path, capsys):
    study = tmp_path / "study.toml"
    study.write_text("[study]\nname = 'x'\ntrials = 5\nnmae = 'x'\n\n"
                     "[data]\nsource = 'builtin:seed-multilabel'\n")
    output = tmp_path / "sweeper.yml"
    code = main(["fleet", "kubernetes", str(study), "--workers", "2", "-o", str(output)])
    assert code == 2
    assert not output.exists()
    assert "nmae" in capsys.readouterr().err


def test_zero_workers_is_refused():
    with pytest.raises(ValueError):
        kubernetes_manifests(0, study_name="x", study_text="")


def test_the_file_probe_follows_the_heartbeat(tmp_path, monkeypatch):
    path = tmp_path / "alive"
    assert "no heartbeat yet" in health.check("file", str(path), 60)
    monkeypatch.setenv(health.HEALTH_FILE_VARIABLE, str(path))
    health.mark_alive()
    assert health.check("file", str(path), 60) == ""
    old = time.time() - 300
    os.utime(path, (old, old))
    assert "last heartbeat 300 s ago" in health.check("file", str(path), 60)
    assert health.main(["file", str(path), "60"]) == 1
    assert health.main(["file", str(path), "600"]) == 0


def test_a_worker_heartbeat_touches_the_health_file(tmp_path, monkeypatch):
    """The real heartbeat of a real study: each beat that reaches the storage marks alive."""
    import optuna

    from sweeper.study import Liveness, WorkerHeartbeat

    path = tmp_path / "alive"
    monkeypatch.setenv(health.HEALTH_FILE_VARIABLE, str(path))
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}",
                                directions=["maximize", "maximize"])
    long_ago = time.time() - 3600
    with WorkerHeartbeat(study, Liveness(interval=0.2, grace=5, max_retries=1)) as heartbeat:
        assert path.is_file()  # the first beat, on entering
        os.utime(path, (long_ago, long_ago))
        heartbeat.beat()
        assert path.stat().st_mtime > long_ago + 3000
        os.utime(path, (long_ago, long_ago))
        # The beating thread touches it again by itself; the deadline only ends a hang.
        deadline = time.monotonic() + 600
        while path.stat().st_mtime == long_ago:
            assert time.monotonic() < deadline, "the heartbeat thread never beat"
            time.sleep(0.05)
    assert path.stat().st_mtime > long_ago + 3000


def test_the_http_and_tcp_probes_against_real_servers(capsys):
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        assert health.main(["http", f"http://127.0.0.1:{port}/"]) == 0
        assert health.main(["tcp", f"127.0.0.1:{port}"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert health.main(["tcp", f"127.0.0.1:{closed}"]) == 1
    assert health.main(["http", f"http://127.0.0.1:{closed}/"]) == 1
    assert "unhealthy" in capsys.readouterr().err
    assert health.main(["udp", "x"]) == 2


def test_the_storage_url_is_read_from_the_secret_file(tmp_path, monkeypatch, capsys):
    """$SWEEPER_STORAGE_FILE (a Compose or Kubernetes secret) names the storage; an unreadable
    or empty one is one line and exit 2."""
    study = tmp_path / "s.toml"
    study.write_text('[study]\nname = "s"\ntrials = 5\n\n'
                     '[data]\nsource = "builtin:seed-multilabel"\n')
    secret = tmp_path / "storage_url"
    secret.write_text(f"sqlite:///{tmp_path / 'elsewhere.db'}\n")
    monkeypatch.delenv("SWEEPER_STORAGE", raising=False)
    monkeypatch.setenv("SWEEPER_STORAGE_FILE", str(secret))
    assert main(["report", str(study)]) == 2
    assert "elsewhere.db: no such SQLite file" in capsys.readouterr().err
    secret.write_text("  \n")
    assert main(["report", str(study)]) == 2
    err = capsys.readouterr().err
    assert "SWEEPER_STORAGE_FILE" in err and "the file is empty" in err
    monkeypatch.setenv("SWEEPER_STORAGE_FILE", str(tmp_path / "missing"))
    assert main(["report", str(study)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read" in err


def test_a_bad_namespace_is_one_line_and_a_data_file_is_warned_about(tmp_path, capsys):
    study = tmp_path / "study.toml"
    study.write_text("[study]\nname = 'x'\ntrials = 5\n\n[data]\nsource = 'rows.csv'\n"
                     "label_column = 'c'\n")
    with pytest.raises(SystemExit) as exit_:
        main(["fleet", "kubernetes", str(study), "--workers", "2", "--namespace", "Sweeps_1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expected a Kubernetes name" in err
    assert main(["fleet", "kubernetes", str(study), "--workers", "2",
                 "-o", str(tmp_path / "k.yml")]) == 0
    assert "'rows.csv' is a file the ConfigMap does not carry" in capsys.readouterr().err
