"""Container files: docker-compose.yml is valid against the compose schema; the Dockerfile is sane."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from digest.cli import main

ROOT = Path(__file__).parents[1]


def test_compose_file_validates_against_the_compose_spec() -> None:
    schema = json.loads((ROOT / "tests/data/compose_spec.json").read_text())
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    jsonschema.Draft201909Validator(schema).validate(doc)
    assert {"digest", "mailpit", "postgres"} <= set(doc["services"])
    assert doc["services"]["postgres"]["profiles"] == ["postgres"]
    assert "8025:8025" in doc["services"]["mailpit"]["ports"]


def test_compose_config_is_a_valid_digest_config() -> None:
    assert main(["check-config", "-c", str(ROOT / "config/docker.yaml")]) == 0


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER digest" in text and "HEALTHCHECK" in text and "/healthz" in text
    assert "python:3.12-slim" in text and 'VOLUME ["/config", "/data"]' in text
