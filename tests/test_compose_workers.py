"""Compose in child processes: the same digests as in-process; a worker that dies or raises
fails only its own chunk's subscribers, with the reason recorded; workers die with their
parent; few subscribers are composed in-process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.compose import digests
from digest.compose.digests import Composed, ComposeStatus, compose_due
from digest.config import load_config
from digest.storage.db import open_database
from digest.storage.models import Outbox, OutboxPaper, OutboxStatus
from digest.storage.subscribers import active_by_ids
from tests.test_email import make_config, store_fresh_papers

SUBS = [{"email": f"r{i}@lab.example", "topics": ["language models", "diffusion"],
         "keywords": ["benchmark"]} for i in range(8)]
DOOMED = "r4@lab.example"  # its chunk (r3, r4, r5 with chunks of 3) is the one that fails


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret")
    monkeypatch.setattr(digests, "COMPOSE_CHUNK", 3)


def _holds_doomed(engine: Engine, members: list[tuple[int, date]]) -> bool:
    with Session(engine) as s:
        return DOOMED in {r.email for r in active_by_ids(s, [sid for sid, _ in members]).values()}


def die_in_doomed_chunk(engine: Engine, config: Any, members: list[tuple[int, date]],
                        since: datetime, now: datetime, dry_run: bool) -> list[Composed]:
    """A worker's job that kills its own process on the doomed chunk."""
    if _holds_doomed(engine, members):
        os.kill(os.getpid(), signal.SIGKILL)
    return digests._compose_chunk(engine, config, members, since, now, dry_run)


def raise_in_doomed_chunk(engine: Engine, config: Any, members: list[tuple[int, date]],
                          since: datetime, now: datetime, dry_run: bool) -> list[Composed]:
    """A worker's job that raises (outside any one digest) on the doomed chunk."""
    if _holds_doomed(engine, members):
        raise RuntimeError("the worker's chunk broke")
    return digests._compose_chunk(engine, config, members, since, now, dry_run)


def digests_by_reader(engine: Engine) -> dict[str, tuple[str, int, list[tuple[int, float, str]]]]:
    """Subject, status and placed papers (paper, score, why) of each queued digest."""
    with Session(engine) as s:
        rows = s.exec(select(Outbox)).all()
        papers = s.exec(select(OutboxPaper).order_by(OutboxPaper.position)).all()  # type: ignore[arg-type]
        placed: dict[int, list[tuple[int, float, str]]] = {}
        for p in papers:
            placed.setdefault(p.outbox_id, []).append((p.paper_id, p.score, p.why))
        return {r.recipient: (r.subject, r.paper_count, placed.get(r.id or 0, [])) for r in rows}


def test_workers_compose_the_same_digests_as_this_process(tmp_path: Path, db_url: str,
                                                          engine: Engine) -> None:
    config = load_config(make_config(tmp_path, db_url, SUBS))
    store_fresh_papers(db_url)
    composed = compose_due(engine, config, force=True, processes=2)
    assert [c.status for c in composed] == [ComposeStatus.QUEUED] * len(SUBS)
    assert [c.email for c in composed] == [s["email"] for s in SUBS]  # in chunk order
    alone = f"sqlite:///{tmp_path / 'alone.db'}"
    (tmp_path / "alone").mkdir()
    store_fresh_papers(alone)
    here = open_database(alone)
    compose_due(here, load_config(make_config(tmp_path / "alone", alone, SUBS)), force=True,
                processes=0)
    assert digests_by_reader(engine) == digests_by_reader(here)
    assert all(papers for _, _, papers in digests_by_reader(engine).values())


@pytest.mark.parametrize(("job", "reason"), [
    (die_in_doomed_chunk, "the compose worker process died (exit code -9)"),
    (raise_in_doomed_chunk, "RuntimeError(\"the worker's chunk broke\")")])
def test_a_failing_worker_fails_only_its_chunk_with_the_reason(
        tmp_path: Path, db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        job: Any, reason: str) -> None:
    monkeypatch.setattr(digests, "CHILD_COMPOSE", job)
    config = load_config(make_config(tmp_path, db_url, SUBS))
    store_fresh_papers(db_url)
    composed = {c.email: c for c in compose_due(engine, config, force=True, processes=2)}
    failed = {"r3@lab.example", "r4@lab.example", "r5@lab.example"}
    assert {e for e, c in composed.items() if c.status == ComposeStatus.FAILED} == failed
    assert {e for e, c in composed.items() if c.status == ComposeStatus.QUEUED} \
        == {s["email"] for s in SUBS} - failed
    assert all(reason in composed[e].error for e in failed)
    with Session(engine) as s:
        rows = {r.recipient: r for r in s.exec(select(Outbox)).all()}
    assert {e for e, r in rows.items() if r.status == OutboxStatus.FAILED} == failed
    assert all(reason in (rows[e].last_error or "") for e in failed)
    # a new worker took the dead one's place: the chunk after it was composed too
    assert composed["r7@lab.example"].status == ComposeStatus.QUEUED


def test_few_subscribers_are_composed_in_this_process(tmp_path: Path, db_url: str,
                                                      engine: Engine,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_workers(*_: object) -> None:
        raise AssertionError("a child process for a handful of subscribers")

    monkeypatch.setattr(digests, "Workers", no_workers)
    config = load_config(make_config(tmp_path, db_url, SUBS))
    store_fresh_papers(db_url)
    assert len(SUBS) < digests.PROCESS_MIN
    composed = compose_due(engine, config, force=True)
    assert [c.status for c in composed] == [ComposeStatus.QUEUED] * len(SUBS)


PARENT = textwrap.dedent("""
    import sys, time
    from digest.compose.workers import Workers
    from digest.config import load_config
    from tests.test_compose_workers import sleep_job
    workers = Workers(load_config(sys.argv[1]), 2, sleep_job)
    workers.submit("busy", (60,))  # one worker busy with a job, the other idle
    print(" ".join(str(p.pid) for p, _ in [*workers.idle, *workers.busy.values()]), flush=True)
    time.sleep(60)
""")


def sleep_job(engine: Engine, config: Any, seconds: float) -> None:
    """A job that takes its time."""
    time.sleep(seconds)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", SUBS)
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(config)],
                              stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).parents[1])
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        time.sleep(1.5)  # both started for real (the busy one is in its job)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)
