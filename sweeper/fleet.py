"""A fleet's configuration, rendered: Docker Compose for one host with GPUs, Kubernetes for more.

Why rendered instead of written by hand: Compose reserves devices per service, not per replica,
so ``--scale worker=4`` with ``count: 1`` hands every replica the same GPU. The only pattern that
gives each worker its own device on one host is one service per GPU with ``device_ids``, and
those services are generated here from the GPU ids (``sweeper fleet compose --gpus 0,1,2,3``).
On Kubernetes the device plugin gives each pod that asks for one ``nvidia.com/gpu`` its own
device, so the workers are one indexed Job of identical pods.

Credentials reach only the services that use them: the database password (a Compose secret
file) only the database; the storage URL (a secret holding the password) only the dashboard,
the proxy, and the workers when they talk to the database directly. Workers behind the gRPC
proxy (``--proxy``) get no credentials at all.

Images: ``classweight-sweeper-slim`` (Python, the sweeper, PostgreSQL and gRPC clients; no
Keras backend) serves the dashboard and the proxy; ``classweight-sweeper-worker`` adds JAX with
CUDA and trains with ``KERAS_BACKEND=jax`` (the Dockerfile's two targets).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

__all__ = [
    "DASHBOARD_PORT",
    "PROXY_PORT",
    "SLIM_IMAGE",
    "WORKER_IMAGE",
    "compose_config",
    "kubernetes_manifests",
    "to_yaml",
]

SLIM_IMAGE = "classweight-sweeper-slim:latest"
WORKER_IMAGE = "classweight-sweeper-worker:latest"
DASHBOARD_PORT = 8080
PROXY_PORT = 13000
HEALTH_FILE = "/tmp/sweeper-alive"
HEARTBEAT_MAX_AGE = 600
"""Seconds without a heartbeat before a worker counts as unhealthy: longer than a database
outage the worker rides out itself (``reconnect_timeout``, 300 s by default) plus a few
heartbeats (10 s apart by default), so only a hung or stuck worker is restarted."""
GRACE_SECONDS = 120
"""Time a stopped worker gets to fail and requeue its batch in flight."""

_WORKER_ENVIRONMENT = {
    "KERAS_BACKEND": "jax",
    "XLA_PYTHON_CLIENT_PREALLOCATE": "false",  # JAX would take 75% of the GPU up front
    "SWEEPER_HEALTH_FILE": HEALTH_FILE,
    "PYTHONUNBUFFERED": "1",
}


def _probe(*args: str) -> list[str]:
    return ["python", "-m", "sweeper.health", *args]


def _healthcheck(test: list[str], start_period: str = "30s") -> dict[str, Any]:
    return {"test": ["CMD", *test], "interval": "15s", "timeout": "10s", "retries": 4,
            "start_period": start_period}


def compose_config(
    gpus: Sequence[str], *, study: str = "seed-multilabel.toml", proxy: bool = False
) -> dict[str, Any]:
    """The Compose file (as a dict) for one database, one dashboard, one worker per GPU id in
    ``gpus`` (service ``worker-gpuN`` reserving device ``N`` alone), and with ``proxy`` the
    gRPC storage proxy between the workers and the database. ``study`` is a file name under
    ``./studies`` (mounted read-only)."""
    if not gpus:
        raise ValueError("at least one GPU id")
    if len(set(gpus)) != len(gpus):
        raise ValueError(f"each GPU id once (one worker per GPU), got {','.join(gpus)}")
    study_path = str(PurePosixPath("studies") / study)
    studies = "./studies:/app/studies:ro"
    database_url = {"SWEEPER_STORAGE_FILE": "/run/secrets/storage_url"}
    services: dict[str, Any] = {
        "db": {
            "image": "postgres:16",
            "environment": {
                "POSTGRES_USER": "sweeper",
                "POSTGRES_DB": "sweeper",
                "POSTGRES_PASSWORD_FILE": "/run/secrets/db_password",
            },
            "secrets": ["db_password"],
            "volumes": ["sweeper-db:/var/lib/postgresql/data"],
            "healthcheck": {
                # over TCP: during initialisation PostgreSQL listens on its socket only
                "test": ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "sweeper",
                         "-d", "sweeper"],
                "interval": "5s", "timeout": "5s", "retries": 12,
            },
            "restart": "unless-stopped",
        },
        "dashboard": {
            "build": {"context": ".", "target": "slim"},
            "image": SLIM_IMAGE,
            "command": ["sweeper", "dashboard", study_path, "--host", "0.0.0.0",
                        "--port", str(DASHBOARD_PORT)],
            "environment": dict(database_url),
            "secrets": ["storage_url"],
            "volumes": [studies, "sweeper-artifacts:/app/.sweeper/artifacts"],
            "ports": [f"127.0.0.1:{DASHBOARD_PORT}:{DASHBOARD_PORT}"],
            "depends_on": {"db": {"condition": "service_healthy"}},
            "healthcheck": _healthcheck(
                _probe("http", f"http://127.0.0.1:{DASHBOARD_PORT}/api/studies")
            ),
            "restart": "unless-stopped",
        },
    }
    worker_storage: dict[str, str] = dict(database_url)
    worker_needs = {"db": {"condition": "service_healthy"}}
    if proxy:
        services["proxy"] = {
            "build": {"context": ".", "target": "slim"},
            "image": SLIM_IMAGE,
            "command": ["sweeper", "proxy", study_path, "--host", "0.0.0.0",
                        "--port", str(PROXY_PORT)],
            "environment": dict(database_url),
            "secrets": ["storage_url"],
            "volumes": [studies],
            "depends_on": {"db": {"condition": "service_healthy"}},
            "healthcheck": _healthcheck(_probe("tcp", f"127.0.0.1:{PROXY_PORT}")),
            "restart": "unless-stopped",
        }
        worker_storage = {"SWEEPER_STORAGE": f"grpc://proxy:{PROXY_PORT}"}
        worker_needs = {"proxy": {"condition": "service_healthy"}}
    for gpu in gpus:
        worker: dict[str, Any] = {
            "build": {"context": ".", "target": "worker"},
            "image": WORKER_IMAGE,
            "command": ["sweeper", "worker", study_path, "--quiet"],
            "environment": {**_WORKER_ENVIRONMENT, **worker_storage},
            "volumes": [studies, "sweeper-artifacts:/app/.sweeper/artifacts"],
            "depends_on": worker_needs,
            "deploy": {"resources": {"reservations": {"devices": [
                {"driver": "nvidia", "device_ids": [gpu], "capabilities": ["gpu"]}
            ]}}},
            "healthcheck": _healthcheck(
                _probe("file", HEALTH_FILE, str(HEARTBEAT_MAX_AGE)), start_period="10m"
            ),
            "stop_grace_period": f"{GRACE_SECONDS}s",
            "restart": "on-failure",
        }
        if not proxy:
            worker["secrets"] = ["storage_url"]
        services[f"worker-gpu{gpu}"] = worker
    return {
        "services": services,
        "secrets": {
            "db_password": {"file": "./secrets/db_password"},
            "storage_url": {"file": "./secrets/storage_url"},
        },
        "volumes": {"sweeper-db": {}, "sweeper-artifacts": {}},
    }


def kubernetes_manifests(
    workers: int, *, study_name: str, study_text: str, namespace: str | None = None,
    worker_image: str = WORKER_IMAGE, slim_image: str = SLIM_IMAGE,
) -> list[dict[str, Any]]:
    """Kubernetes objects for ``workers`` GPU workers on one study: a ConfigMap holding the
    study file, an indexed Job of worker pods (one ``nvidia.com/gpu`` each), the dashboard's
    Deployment and Service. The database URL comes from the Secret ``sweeper-storage`` (key
    ``url``) the user creates; the database itself is the user's (a managed PostgreSQL)."""
    if workers < 1:
        raise ValueError("at least one worker")
    metadata = {"namespace": namespace} if namespace else {}
    labels = {"app.kubernetes.io/name": "classweight-sweeper"}
    storage_env = [{"name": "SWEEPER_STORAGE", "valueFrom": {"secretKeyRef": {
        "name": "sweeper-storage", "key": "url"}}}]
    study_volume = {"name": "study", "configMap": {"name": "sweeper-study"}}
    study_mount = {"name": "study", "mountPath": "/study", "readOnly": True}
    study_path = "/study/study.toml"
    worker_labels = {**labels, "app.kubernetes.io/component": "worker"}
    dashboard_labels = {**labels, "app.kubernetes.io/component": "dashboard"}
    config_map = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "sweeper-study", "labels": labels, **metadata},
        "data": {"study.toml": study_text},
    }
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "sweeper-workers", "labels": worker_labels, **metadata,
                     "annotations": {"sweeper/study": study_name}},
        "spec": {
            "completionMode": "Indexed",
            "completions": workers,
            "parallelism": workers,
            "backoffLimit": 3 * workers,
            "template": {
                "metadata": {"labels": worker_labels},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "terminationGracePeriodSeconds": GRACE_SECONDS,
                    "containers": [{
                        "name": "worker",
                        "image": worker_image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sweeper", "worker", study_path, "--quiet"],
                        "env": [*storage_env, *({"name": k, "value": v}
                                                for k, v in _WORKER_ENVIRONMENT.items())],
                        "resources": {"limits": {"nvidia.com/gpu": 1}},
                        "volumeMounts": [study_mount],
                        "livenessProbe": {
                            "exec": {"command": _probe("file", HEALTH_FILE,
                                                       str(HEARTBEAT_MAX_AGE))},
                            "initialDelaySeconds": 600, "periodSeconds": 30,
                            "timeoutSeconds": 10, "failureThreshold": 4,
                        },
                    }],
                    "volumes": [study_volume],
                },
            },
        },
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "sweeper-dashboard", "labels": dashboard_labels, **metadata},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dashboard_labels},
            "template": {
                "metadata": {"labels": dashboard_labels},
                "spec": {
                    "containers": [{
                        "name": "dashboard",
                        "image": slim_image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sweeper", "dashboard", study_path, "--host", "0.0.0.0",
                                    "--port", str(DASHBOARD_PORT)],
                        "env": storage_env,
                        "ports": [{"name": "http", "containerPort": DASHBOARD_PORT}],
                        "volumeMounts": [study_mount],
                        "readinessProbe": {"httpGet": {"path": "/api/studies", "port": "http"},
                                           "periodSeconds": 10},
                        "livenessProbe": {"httpGet": {"path": "/api/studies", "port": "http"},
                                          "initialDelaySeconds": 30, "periodSeconds": 30},
                    }],
                    "volumes": [study_volume],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "sweeper-dashboard", "labels": dashboard_labels, **metadata},
        "spec": {"selector": dashboard_labels,
                 "ports": [{"name": "http", "port": DASHBOARD_PORT, "targetPort": "http"}]},
    }
    return [config_map, job, deployment, service]


def to_yaml(documents: dict[str, Any] | list[dict[str, Any]], header: str = "") -> str:
    """YAML text (several documents for a list), keys in the order given, under ``header``
    (comment lines)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # no &id001 anchors: spelled out
            return True

    def _multiline(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
        style = "|" if "\n" in text else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)

    def _short_list(dumper: yaml.SafeDumper, items: list) -> yaml.Node:
        flat = all(isinstance(item, str | int | float) and "\n" not in str(item)
                   for item in items)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat)

    _Dumper.add_representer(str, _multiline)
    _Dumper.add_representer(list, _short_list)
    parts = documents if isinstance(documents, list) else [documents]
    body = "---\n".join(
        yaml.dump(part, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
        for part in parts
    )
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comments + body
