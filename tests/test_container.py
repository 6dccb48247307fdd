"""Container files, checked without a container engine (tests/test_container_e2e.py runs them for real):
docker-compose.yml is valid against the compose spec Docker Compose 2.40.3 ships and keeps secrets and
ports safe; the Dockerfile is the two-stage, non-root, Python-3.11 image with its HEALTHCHECK; and the
daemon's first delivery waits for the first poll (a container started after the send time)."""

from __future__ import annotations

import asyncio
import email
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

from digest.cli import main
from digest.daemon.run import Daemon
from tests.conftest import read_data
from tests.factories import RSS_4
from tests.feedserver import FeedServer, Reply

ROOT = Path(__file__).parents[1]


def compose() -> dict:  # type: ignore[type-arg]
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_file_validates_against_the_compose_spec() -> None:
    # tests/data/compose_spec.json: the schema embedded in Docker Compose v2.40.3 (compose-go)
    schema = json.loads((ROOT / "tests/data/compose_spec.json").read_text())
    doc = compose()
    jsonschema.Draft7Validator(schema).validate(doc)
    assert {"digest", "mailpit", "postgres"} <= set(doc["services"])
    assert doc["services"]["postgres"]["profiles"] == ["postgres"]


def test_compose_publishes_no_default_secret_no_smtp_port_and_waits_for_postgres() -> None:
    services = compose()["services"]
    digest, mailpit, postgres = services["digest"], services["mailpit"], services["postgres"]
    # unset by default: the app then generates a key once and keeps it in the database
    assert digest["environment"]["DIGEST_SECRET_KEY"] == "${DIGEST_SECRET_KEY:-}"
    assert "command" not in digest  # the image's own CMD reads /config/docker.yaml
    assert "./config:/config:ro" in digest["volumes"]
    ports = [p for s in services.values() for p in s.get("ports", [])]
    assert all(p.startswith("127.0.0.1:") for p in ports) and not any("1025" in p for p in ports)
    assert "127.0.0.1:8025:8025" in mailpit["ports"]
    assert ":latest" not in mailpit["image"] and mailpit["image"].split(":")[1][0] == "v"
    assert digest["depends_on"]["postgres"] == {"condition": "service_healthy", "required": False}
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_compose_config_is_a_valid_digest_config_serving_healthz_on_the_published_port() -> None:
    assert main(["check-config", "-c", str(ROOT / "config/docker.yaml")]) == 0
    daemon = yaml.safe_load((ROOT / "config/docker.yaml").read_text())["daemon"]
    assert daemon["http_port"] == 8080 and daemon["http_host"] == "0.0.0.0"
    assert "127.0.0.1:8080:8080" in compose()["services"]["digest"]["ports"]


def test_dockerfile_is_two_stage_python_3_11_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    tested = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["python_version"]
    assert froms == [f"python:{tested}-slim-bookworm"] * 2  # the Python CI checks, pinned by version
    assert "USER digest" in text and "HEALTHCHECK" in text and 'VOLUME ["/config", "/data"]' in text
    assert 'CMD ["run", "-c", "/config/docker.yaml", "--log-json"]' in text
    # .dockerignore is an allowlist: .venv, var/ and .git never go to the build
    rules = [r for r in (ROOT / ".dockerignore").read_text().splitlines() if r and r[0] != "#"]
    assert rules[0] == "*"
    assert {r for r in rules if r[0] == "!"} == {"!pyproject.toml", "!README.md", "!digest/",
                                                   "!templates/", "!docker/"}


def test_entrypoint_without_a_config_says_how_to_mount_one(tmp_path: Path) -> None:
    done = subprocess.run(["sh", str(ROOT / "docker/entrypoint.sh"), "run", "-c",
                           str(tmp_path / "docker.yaml")], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "-v ./config:/config" in done.stderr


def test_healthcheck_names_the_missing_http_port(tmp_path: Path) -> None:
    config = tmp_path / "docker.yaml"
    config.write_text("daemon: {delivery_every_seconds: 60}\n")
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'docker')!r}); import healthcheck; "
            f"from pathlib import Path; healthcheck.daemon_config = lambda: Path({str(config)!r}); "
            "sys.exit(healthcheck.main())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "daemon.http_port is off" in done.stdout


@pytest.mark.timeout(60)
async def test_first_start_after_the_send_time_waits_for_the_first_poll(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """A daemon (a fresh container) started after today's send time, with a slow feed: the first
    digest holds the papers of the first poll, not an empty day's note composed before it landed."""
    outbox = tmp_path / "outbox"
    config = tmp_path / "digest.yaml"
    config.write_text(yaml.safe_dump({
        "database": f"sqlite:///{tmp_path}/digest.db",
        "fetch": {"polite_hosts": {}, "retries": 0},
        "sources": [{"name": "arxiv", "type": "arxiv_rss",
                     "url": feed_server.serve("/rss", Reply(read_data(RSS_4), delay=2.0))}],
        "subscribers": [{"email": "reader@example.org", "timezone": "UTC", "send_at": "00:00",
                         "topics": ["anomaly detection"], "keywords": ["outlier"]}],
        "daemon": {"delivery_every_seconds": 0.5},
        "delivery": {"transport": "file", "outbox_dir": str(outbox), "empty_digest": "note",
                     "from": "Digest <digest@lab.example>", "base_url": "https://digest.lab.example"},
    }))
    daemon = Daemon(config)
    running = asyncio.get_running_loop().create_task(daemon.run())
    for _ in range(200):
        if list(outbox.glob("*.eml")) or running.done():
            break
        await asyncio.sleep(0.1)
    daemon.stop.set()
    assert await asyncio.wait_for(running, 20) == 0
    (sent,) = outbox.glob("*.eml")
    subject = str(email.message_from_bytes(sent.read_bytes())["Subject"])
    assert "nothing new" not in subject and "papers" in subject, subject
