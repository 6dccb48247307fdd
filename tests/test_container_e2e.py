"""The container, built and run for real: what a self-hoster does with it, and what they would notice.

Through the shared containers harness (`../shared/tools/containers`: podman + runc behind Docker's API,
Docker Compose v2, stand-ins for python:3.11-slim-bookworm, postgres:16-alpine and axllent/mailpit):

* `docker run` of the image: without a config it fails fast with a hint (exit 2); with the README's
  `-v ./config:/config` (the shipped config, no network) it goes healthy and SIGTERM stops it (exit 0);
* `docker compose up --wait` on SQLite: a digest with papers arrives in the mail stand-in's API although
  the send time had passed at first start, /healthz answers, SIGHUP reloads the edited config (a new
  subscriber gets a digest), SIGTERM stops cleanly, and a restart does not resend;
* `--profile postgres --scale digest=2`: both replicas wait for PostgreSQL and go healthy; one digest
  arrives, not two; one replica leads (polls), the other serves; when the leader is stopped (exit 0)
  the other reloads on SIGHUP, composes and delivers a new subscriber's digest, and takes the lead.

The feeds are real captures, served by a `feeds` service in the compose network that answers after
3 s (so a first delivery that did not wait for the first poll would send an empty day's note): no
network is needed beyond the package registries the image build installs from.

Runs only with DIGEST_CONTAINER_E2E=1 (.ci/run sets it); skips with the reason where the harness cannot
run, or fails then if DIGEST_REQUIRE_CONTAINERS=1.
Figures (image size, build and run durations) go to test-artifacts/container-e2e.txt.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

ROOT = Path(__file__).parents[1]
HARNESS = Path(os.environ.get("CONTAINERS_HARNESS", ROOT.parent / "shared/tools/containers"))
IMAGE = "localhost/paper-digest:e2e"
FIGURES = ROOT / "test-artifacts" / "container-e2e.txt"
CAPTURES = {"arxiv-cs": ("arxiv_rss", "arxiv_rss_cs_2026-09-24.xml"),
            "hf": ("hf_daily", "hf_daily_2026-06-12.json")}
READER = "you@example.org"
SECOND = "second@example.org"
T = TypeVar("T")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
_figures: dict[str, str] = {}
_projects: list[str] = []


def _unavailable(reason: str) -> None:
    if os.environ.get("DIGEST_REQUIRE_CONTAINERS"):
        pytest.fail(f"container e2e required (DIGEST_REQUIRE_CONTAINERS) but {reason}")
    pytest.skip(f"container e2e: {reason}")


def figure(name: str, value: str) -> None:
    """Keep a measured figure; all of them are written to FIGURES as they come."""
    _figures[name] = value
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text("".join(f"{k}: {v}\n" for k, v in _figures.items()))


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def _service_up(state: Path) -> bool:
    """Does the harness's Docker-API service answer already (started by someone else)?"""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(3)
            s.connect(str(state / "podman.sock"))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            return b" 200 " in s.recv(64)
    except OSError:
        return False


@dataclass
class Docker:
    """The `docker` CLI (and Compose) against the harness's podman service."""

    env: dict[str, str]
    log: Path

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        with self.log.open("a") as log:
            log.write(f"$ docker {' '.join(args)}\n")
        done = subprocess.run([self.env["DOCKER"], *args], env=self.env, cwd=ROOT, text=True,
                              capture_output=True, timeout=timeout, check=False)
        with self.log.open("a") as log:
            log.write(done.stdout[-4000:] + done.stderr[-4000:])
        if check and done.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def __call__(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        return self.run(*args, check=check, timeout=timeout).stdout

    def logs(self, container: str) -> str:
        """What the container printed, stdout and stderr (the daemon logs on stderr)."""
        done = self.run("logs", container, check=False)
        return done.stdout + done.stderr

    def inspect(self, container: str, fmt: str) -> str:
        return self("inspect", "--format", fmt, container).strip()

    def host_port(self, container: str, port: int) -> int:
        # podman answers ":PORT" or "0.0.0.0:PORT" (one line per address family)
        return int(self("port", container, str(port)).split()[0].rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docker]:
    """The harness up (stand-in bases for what Dockerfile and compose name), torn down if we started it."""
    if not os.environ.get("DIGEST_CONTAINER_E2E"):
        pytest.skip("container e2e: set DIGEST_CONTAINER_E2E=1 to build and run the image (.ci/run does)")
    up = HARNESS / "up.sh"
    if not up.exists():
        _unavailable(f"no containers harness at {HARNESS} (set CONTAINERS_HARNESS)")
    check = subprocess.run(["bash", str(up), "--check"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        _unavailable(f"the harness cannot run on this machine: {check.stderr.strip()[-300:]}")
    if not shutil.which("iptables"):
        _unavailable("iptables is missing (podman's netavark needs it for container networks: "
                     "apt-get install iptables; .ci/run does)")
    state = Path(os.environ.get("CONTAINERS_STATE", Path.home() / ".cache/containers-harness"))
    ours = not _service_up(state)
    logs = tmp_path_factory.mktemp("harness")
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-c", 'E=$(bash "$0" --scan "$1") && eval "$E" && env -0', str(up), str(ROOT)],
        capture_output=True, timeout=1800, check=False, cwd=ROOT)
    (logs / "up.log").write_bytes(done.stderr)
    assert done.returncode == 0, f"up.sh failed:\n{done.stderr.decode(errors='replace')[-3000:]}"
    figure("up.sh (stand-in bases, podman service)", f"{time.monotonic() - started:.0f} s")
    env = dict(line.split("=", 1) for line in done.stdout.decode().split("\0") if "=" in line)
    env["DOCKER"] = shutil.which("docker", path=env["PATH"]) or "docker"
    yield Docker(env, logs / "docker.log")
    if ours:
        subprocess.run(["bash", str(HARNESS / "down.sh")], env=env, capture_output=True, check=False)


@dataclass
class Project:
    """One compose project: the repo's docker-compose.yml plus an override (own name, image tag, config
    folder, host ports picked by the engine so that nothing clashes with other jobs)."""

    docker: Docker
    name: str
    folder: Path
    profiles: list[str] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.folder / "config" / "docker.yaml"

    def compose(self, *args: str, timeout: float = 300) -> str:
        files = ["-f", str(ROOT / "docker-compose.yml"), "-f", str(self.folder / "override.yml")]
        profiles = [a for p in self.profiles for a in ("--profile", p)]
        return self.docker("compose", "-p", self.name, *files, *profiles, *args, timeout=timeout)

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).split()

    def logs(self, container: str) -> list[dict[str, Any]]:
        """The daemon's JSON log lines (the entrypoint's check-config summary is not JSON)."""
        return [json.loads(line) for line in self.docker.logs(container).splitlines()
                if line.startswith("{")]

    def logged(self, container: str, text: str) -> int:
        return sum(text in line.get("msg", "") for line in self.logs(container))

    def url(self, service: str, port: int) -> str:
        return f"http://127.0.0.1:{self.docker.host_port(self.containers(service)[0], port)}"

    def mail(self) -> list[dict[str, Any]]:
        """Every message in the mail stand-in, through its Mailpit-shaped API, oldest first."""
        with urllib.request.urlopen(f"{self.url('mailpit', 8025)}/api/v1/messages", timeout=10) as r:
            return list(reversed(json.load(r)["messages"]))

    def message(self, message_id: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url('mailpit', 8025)}/api/v1/message/{message_id}",
                                    timeout=10) as r:
            return dict(json.load(r))

    def digests_to(self, address: str) -> list[dict[str, Any]]:
        return [m for m in self.mail() if any(t["Address"] == address for t in m["To"])]


def healthz(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/healthz", timeout=10) as answer:
        assert answer.status == 200
        return dict(json.load(answer))


# A feed server in the compose network that takes FEED_DELAY seconds per answer (as real feeds may):
# a first delivery that did not wait for the first poll would compose an empty digest.
FEED_DELAY = 3
FEED_SERVER = f"""
import functools, http.server, time
class Slow(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        time.sleep({FEED_DELAY}); self.path = self.path.split("?")[0]; super().do_GET()
handler = functools.partial(Slow, directory="/feeds")
http.server.ThreadingHTTPServer(("", 8000), handler).serve_forever()
"""


def write_config(folder: Path, database: str, subscribers: list[str]) -> None:
    """The shipped config/docker.yaml, with the captured feeds served slowly by the `feeds` service,
    a send time that has passed (00:00 UTC), a 2 s delivery cycle, and a note on empty days (which
    shows an empty first digest)."""
    folder.mkdir(exist_ok=True)
    doc = yaml.safe_load((ROOT / "config/docker.yaml").read_text())
    doc["database"] = database
    doc["sources"] = [{"name": name, "type": kind, "url": f"http://feeds:8000/{file}"}
                      for name, (kind, file) in CAPTURES.items()]
    doc["daemon"]["delivery_every_seconds"] = 2
    doc["delivery"]["empty_digest"] = "note"
    reader = {**doc["subscribers"][0], "timezone": "UTC", "send_at": "00:00"}
    doc["subscribers"] = [{**reader, "email": email} for email in subscribers]
    for _, file in CAPTURES.values():
        shutil.copyfile(ROOT / "config/demo" / file, folder / file)
    (folder / "docker.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    folder.chmod(0o755)  # the daemon runs as uid 10001
    for path in folder.iterdir():
        path.chmod(0o644)


@pytest.fixture(scope="module")
def image(docker: Docker, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image, built the way `docker compose up` builds it (the Dockerfile, the .dockerignore)."""
    folder = tmp_path_factory.mktemp("build")
    (folder / "override.yml").write_text(f"services: {{digest: {{image: {IMAGE}}}}}\n")
    started = time.monotonic()
    Project(docker, f"pdbuild{os.getpid()}", folder).compose("build", "digest", timeout=1200)
    figure("image build (docker compose build)", f"{time.monotonic() - started:.0f} s")
    size = int(docker.inspect(IMAGE, "{{.Size}}"))
    base = int(docker.inspect("python:3.11-slim-bookworm", "{{.Size}}"))
    figure("image size", f"{size / 1e6:.0f} MB ({(size - base) / 1e6:.0f} MB over the "
                         f"python:3.11-slim-bookworm base, {base / 1e6:.0f} MB here)")
    return IMAGE


@pytest.fixture
def project(docker: Docker, image: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Project]:
    _projects.append(request.node.name)
    tmp_path.chmod(0o755)
    (tmp_path / "override.yml").write_text(f"""services:
  digest:
    image: {image}
    ports: !override ["8080"]
    volumes: !override ["{tmp_path / 'config'}:/config:ro", "digest-data:/data"]
    depends_on: {{feeds: {{condition: service_started}}}}
  mailpit:
    ports: !override ["8025"]
  feeds:
    image: python:3.11-slim-bookworm
    command: ["python3", "-c", {json.dumps(FEED_SERVER)}]
    volumes: ["{tmp_path / 'config'}:/feeds:ro"]
""")
    project = Project(docker, f"pde2e{os.getpid()}n{len(_projects)}", tmp_path)
    yield project
    project.profiles = ["postgres"]
    for container in project.compose("ps", "-aq").split():
        (tmp_path / f"{container[:12]}.log").write_text(docker.logs(container))
    project.compose("down", "--volumes", "--timeout", "5")


def test_docker_run_without_config_fails_fast_and_with_the_readme_mount_goes_healthy(
        docker: Docker, image: str) -> None:
    bare = docker("run", "-d", image).strip()
    try:
        assert docker("wait", bare).strip() == "2"
        said = docker.logs(bare)
        assert "/config/docker.yaml: no such config file" in said and "-v ./config:/config" in said
    finally:
        docker("rm", "-f", "-v", bare, check=False)

    started = time.monotonic()
    # The README's line, with the shipped config (real feeds: no network here, so they fail and wait).
    daemon = docker("run", "-d", "--stop-timeout", "20", "--network", "none",
                    "-v", f"{ROOT / 'config'}:/config:ro", image).strip()
    try:
        wait_for(lambda: docker.inspect(daemon, "{{.State.Health.Status}}") == "healthy", 120,
                 "the container to go healthy")
        figure("docker run -v ./config:/config to healthy", f"{time.monotonic() - started:.0f} s")
        docker("stop", "--time", "20", daemon)
        assert docker.inspect(daemon, "{{.State.ExitCode}}") == "0"
        said = docker.logs(daemon)
        assert "/config/docker.yaml: OK" in said and "daemon stopped" in said
    finally:
        docker("rm", "-f", "-v", daemon, check=False)


def test_compose_on_sqlite_delivers_answers_reloads_stops_and_restarts_without_resending(
        project: Project) -> None:
    write_config(project.folder / "config", "sqlite:////data/digest.db", [READER])
    started = time.monotonic()
    project.compose("up", "--detach", "--wait", "--wait-timeout", "180")
    figure("compose up --wait (SQLite)", f"{time.monotonic() - started:.0f} s")
    (digest,) = project.containers("digest")

    # Started after the send time: the first digest waits for the first poll and holds papers.
    (first,) = wait_for(lambda: project.digests_to(READER), 60, "the first digest")
    figure("compose up to the first digest in the mail API", f"{time.monotonic() - started:.0f} s")
    assert "papers" in first["Subject"] and "nothing new" not in first["Subject"], first["Subject"]
    body = project.message(first["ID"])
    assert "ArogyaSutra" in body["Text"] and body["ListUnsubscribe"]["HeaderPost"]
    assert project.logged(digest, "(empty, 0 papers)") == 0
    health = healthz(project.url("digest", 8080))
    assert health["status"] == "ok" and health["scheduler"] == "running"
    assert health["queue"] == {"sent": 1}
    assert docker_env(project, digest).get("DIGEST_SECRET_KEY", "") == ""  # the app's own key

    # SIGHUP: the edited config is read; the new subscriber gets a digest, the first one nothing more.
    write_config(project.folder / "config", "sqlite:////data/digest.db", [READER, SECOND])
    project.compose("kill", "-s", "HUP", "digest")
    wait_for(lambda: project.logged(digest, "config reloaded"), 30, "the reload")
    wait_for(lambda: project.digests_to(SECOND), 60, "a digest for the new subscriber")

    # SIGTERM (compose stop): exit 0 after finishing what is in flight.
    stopped = time.monotonic()
    project.compose("stop", "digest")
    figure("compose stop (SIGTERM) of the daemon", f"{time.monotonic() - stopped:.1f} s")
    assert project.docker.inspect(digest, "{{.State.ExitCode}}") == "0"
    assert project.logged(digest, "received SIGTERM") == 1 and project.logged(digest, "daemon stopped")

    # Started again on the same volume: healthy, a few delivery cycles, nothing is sent again.
    project.compose("start", "digest")
    wait_for(lambda: project.docker.inspect(digest, "{{.State.Health.Status}}") == "healthy", 120,
             "the restarted daemon to go healthy")
    assert project.logged(digest, "daemon started") == 2
    time.sleep(6)
    assert sorted(m["To"][0]["Address"] for m in project.mail()) == sorted([READER, SECOND])
    assert healthz(project.url("digest", 8080))["queue"] == {"sent": 2}


def docker_env(project: Project, container: str) -> dict[str, str]:
    pairs = json.loads(project.docker.inspect(container, "{{json .Config.Env}}"))
    return dict(p.split("=", 1) for p in pairs)


def test_compose_postgres_profile_two_replicas_share_the_work_and_outlive_the_leader(
        project: Project) -> None:
    project.profiles = ["postgres"]
    write_config(project.folder / "config", "postgresql+psycopg://digest@postgres/digest", [READER])
    started = time.monotonic()
    project.compose("up", "--detach", "--wait", "--wait-timeout", "180", "--scale", "digest=2")
    figure("compose --profile postgres up --wait --scale digest=2", f"{time.monotonic() - started:.0f} s")
    replicas = project.containers("digest")
    assert len(replicas) == 2
    # Compose started the daemons once PostgreSQL accepted connections: no failed start, no restart.
    assert [project.docker.inspect(c, "{{.RestartCount}}") for c in replicas] == ["0", "0"]
    urls = {c: f"http://127.0.0.1:{project.docker.host_port(c, 8080)}" for c in replicas}

    # Both started after the send time: one digest, with the papers of the first poll, not two.
    (first,) = wait_for(lambda: project.digests_to(READER), 60, "the first digest")
    assert "papers" in first["Subject"] and "nothing new" not in first["Subject"], first["Subject"]
    roles = wait_for(lambda: _roles(urls), 60, "one replica to lead (poll) and one to serve")
    (leader,) = [c for c, role in roles.items() if role == "leader"]
    (other,) = [c for c in replicas if c != leader]
    time.sleep(4)  # a few delivery cycles on both replicas
    assert len(project.mail()) == 1

    # SIGTERM to the leader: it exits 0; the other reloads on SIGHUP, composes and delivers the
    # digest of a subscriber added to the config, and takes over polling within POLL_CHECK_SECONDS.
    stopped = time.monotonic()
    project.docker("stop", "--time", "20", leader)
    assert project.docker.inspect(leader, "{{.State.ExitCode}}") == "0"
    write_config(project.folder / "config", "postgresql+psycopg://digest@postgres/digest",
                 [READER, SECOND])
    project.docker("kill", "--signal", "HUP", other)
    wait_for(lambda: project.logged(other, "config reloaded"), 30, "the reload on the other replica")
    wait_for(lambda: project.digests_to(SECOND), 60, "a digest for the new subscriber")
    wait_for(lambda: healthz(urls[other])["role"] == "leader", 60, "the other replica to take the lease")
    figure("postgres replicas: leader stopped to the other leading",
           f"{time.monotonic() - stopped:.0f} s")
    assert sorted(m["To"][0]["Address"] for m in project.mail()) == sorted([READER, SECOND])
    project.docker("stop", "--time", "20", other)
    assert project.docker.inspect(other, "{{.State.ExitCode}}") == "0"


def _roles(urls: dict[str, str]) -> dict[str, str] | None:
    """Each replica's /healthz role, once one leads and the other does not."""
    roles = {c: (_try(lambda url=url: healthz(url)) or {}).get("role", "") for c, url in urls.items()}
    return roles if sorted(roles.values()) == ["leader", "replica"] else None


def _try(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except OSError:
        return None
