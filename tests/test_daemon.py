"""`digest run` as a real subprocess: loopback feeds, an aiosmtpd sink, signals, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from sqlmodel import Session, select

from digest.compose.digests import compose_due
from digest.config import load_config
from digest.deliver.outbox import deliver_queue
from digest.storage.db import open_database
from digest.storage.models import Outbox
from tests.conftest import POSTGRES_URL, read_data
from tests.factories import HF_DAY, RSS_4
from tests.feedserver import FeedServer, Reply
from tests.smtpsink import SmtpServer, free_port

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo"]
pytestmark = pytest.mark.timeout(300)


def wait_for(check: Callable[[], bool], timeout: float, what: str,
             proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        assert proc is None or proc.poll() is None, f"the daemon exited while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def next_minute_after(seconds: int) -> datetime:
    """The first whole minute at least `seconds` from now (UTC)."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds + 59)
    return moment.replace(second=0, microsecond=0)


def local_hhmm(moment: datetime, zone: str) -> str:
    """`moment` as HH:MM on the wall clock of `zone`."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%H:%M")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def daemon_config(tmp_path: Path, feeds: FeedServer, smtp: SmtpServer,
                  subscribers: list[dict[str, Any]], http_port: int | None = None) -> Path:
    doc = {
        "database": f"sqlite:///{tmp_path}/digest.db",
        "fetch": {"polite_hosts": {}, "retries": 0},
        "sources": [
            {"name": "arxiv", "type": "arxiv_rss", "url": feeds.serve("/rss", Reply(read_data(RSS_4)))},
            {"name": "hf", "type": "hf_daily",
             "url": feeds.serve("/api/daily_papers", Reply(read_data(HF_DAY)))}],
        "subscribers": subscribers,
        "daemon": {"delivery_every_seconds": 1, "shutdown_grace_seconds": 5,
                   "http_port": http_port},
        "delivery": {"transport": "smtp", "from": "Digest <digest@lab.example>",
                     "base_url": "https://digest.lab.example", "claim_timeout_seconds": 3600,
                     "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"}},
    }
    path = tmp_path / "digest.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "digest.cli", "run", "-c", str(config)],
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"),
                            env={**os.environ, "DIGEST_SECRET_KEY": "test"})


def rows(config: Path) -> list[Outbox]:
    with Session(open_database(load_config(config).database)) as s:
        return list(s.exec(select(Outbox)).all())


@pytest.mark.slow
def test_three_time_zones_each_get_one_digest_then_sigterm_exits_cleanly(
        tmp_path: Path, feed_server: FeedServer, smtp: SmtpServer) -> None:
    send_time = next_minute_after(25)
    while any(send_time.astimezone(ZoneInfo(z)).date() != datetime.now(UTC).astimezone(
            ZoneInfo(z)).date() for z in ZONES):  # a send time past a zone's midnight: wait
        time.sleep(20)  # (before it, today's send time is long past, so the digest is due now)
        send_time = next_minute_after(25)
    subs = [{"email": f"reader{n}@example.org", "timezone": zone,
             "send_at": local_hhmm(send_time, zone), "topics": ["large language models"]}
            for n, zone in enumerate(ZONES)]
    config = daemon_config(tmp_path, feed_server, smtp, subs)
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        wait_for(lambda: log.read_text().count("polled ") >= 2, 60, "first polls", proc)
        time.sleep(2.5)  # several delivery cycles with papers stored, before the send time
        assert datetime.now(UTC) < send_time - timedelta(seconds=1)
        assert smtp.sink.received == []  # nothing before their local send time
        wait_for(lambda: len(smtp.sink.received) >= 3, 110, "three digests", proc)
        time.sleep(2.5)  # two more delivery cycles: nothing more may arrive
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
    assert Counter(r.recipients[0] for r in smtp.sink.received) == \
        Counter(s["email"] for s in subs)
    assert sorted(r.status for r in rows(config)) == ["sent"] * 3
    assert "daemon stopped" in log.read_text()


def test_second_daemon_refuses_and_sighup_with_bad_config_keeps_running(
        tmp_path: Path, feed_server: FeedServer, smtp: SmtpServer) -> None:
    port = free_port()
    config = daemon_config(tmp_path, feed_server, smtp, [], http_port=port)
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    try:
        wait_for(lambda: "daemon started" in log.read_text(), 30, "start", proc)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        second = subprocess.run([sys.executable, "-m", "digest.cli", "run", "-c", str(config)],
                                capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode == 3 and "already running" in second.stderr
        good = config.read_text()
        config.write_text(good + "\nbogus_key: 1\n")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in log.read_text(), 20, "reload refusal")
        assert proc.poll() is None
        doc = yaml.safe_load(good)
        secret_smtp = {**doc["delivery"]["smtp"], "username": "digest",
                       "password_env": "DIGEST_TEST_UNSET_PASSWORD"}
        config.write_text(yaml.safe_dump({**doc, "delivery": {**doc["delivery"],
                                                              "smtp": secret_smtp}}))
        proc.send_signal(signal.SIGHUP)  # valid YAML, but its password variable is unset
        wait_for(lambda: log.read_text().count("reload refused") >= 2, 20, "second refusal")
        assert "DIGEST_TEST_UNSET_PASSWORD" in log.read_text()
        config.write_text(yaml.safe_dump({**doc, "web": {"title": "Lab Reading Digest"}}))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "config reloaded" in log.read_text(), 20, "reload")
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)  # the web pages reloaded too
        assert page.status_code == 200 and "Lab Reading Digest" in page.text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()


@pytest.mark.slow
def test_kill_9_during_delivery_then_restart_sends_each_digest_once(
        tmp_path: Path, feed_server: FeedServer, smtp: SmtpServer) -> None:
    smtp.sink.delay = 0.01
    subs = [{"email": f"r{n:03d}@example.org", "send_at": "00:00",
             "topics": ["large language models", "agents"]} for n in range(300)]
    config = daemon_config(tmp_path, feed_server, smtp, subs)
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log)
    wait_for(lambda: len(smtp.sink.received) >= 60, 100, "delivery to start", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    at_kill = len(smtp.sink.received)
    restarted = start_daemon(config, log)
    try:
        wait_for(lambda: len({r.recipients[0] for r in smtp.sink.received}) >= 300, 100,
                 "every digest after restart", restarted)
        time.sleep(2)
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=15) == 0
    finally:
        restarted.kill()
    per_recipient = Counter(r.recipients[0] for r in smtp.sink.received)
    duplicates = sum(n - 1 for n in per_recipient.values())
    print(f"\nkill -9 after {at_kill} accepted messages; duplicates after restart: {duplicates}")
    assert set(per_recipient) == {s["email"] for s in subs}
    assert duplicates <= 2  # at most the messages in flight at the kill
    outbox = rows(config)
    assert len(outbox) == 300 and all(r.status == "sent" for r in outbox)


def test_restart_after_downtime_sends_one_catch_up_digest_not_two(
        tmp_path: Path, feed_server: FeedServer, smtp: SmtpServer) -> None:
    import asyncio

    from digest.sources import hf_daily
    from digest.storage.db import session_scope
    from digest.storage.papers import upsert_papers

    subs = [{"email": "a@example.org", "timezone": "Europe/Berlin", "send_at": "07:30",
             "topics": ["large language models"]},
            {"email": "b@example.org", "timezone": "America/New_York", "send_at": "06:00",
             "topics": ["large language models"]}]
    config = load_config(daemon_config(tmp_path, feed_server, smtp, subs))
    engine = open_database(config.database)
    day1 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with session_scope(engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), day1 - timedelta(hours=2))
    assert len(compose_due(engine, config, day1)) == 2
    asyncio.run(deliver_queue(engine, config, now=day1))
    back = day1 + timedelta(days=2, hours=1)  # down through two more send times
    with session_scope(engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY).replace(b"2606.", b"2699.")),
                      back - timedelta(days=1))
    caught_up = compose_due(engine, config, back)
    assert [(c.email, c.digest_date.isoformat()) for c in caught_up] == \
        [("a@example.org", "2026-06-03"), ("b@example.org", "2026-06-03")]
    assert compose_due(engine, config, back + timedelta(minutes=5)) == []
    asyncio.run(deliver_queue(engine, config, now=back))
    assert Counter(r.recipients[0] for r in smtp.sink.received) == \
        {"a@example.org": 2, "b@example.org": 2}


@pytest.mark.skipif(not POSTGRES_URL, reason="needs DIGEST_TEST_POSTGRES_URL")
def test_postgres_replicas_share_the_sending_and_the_lease_fails_over(
        tmp_path: Path, feed_server: FeedServer, smtp: SmtpServer) -> None:
    import re

    from digest.storage.db import reset_schema

    assert POSTGRES_URL
    reset_schema(POSTGRES_URL)
    smtp.sink.delay = 0.02  # like a remote MTA
    subs = [{"email": f"r{n:03d}@example.org", "send_at": "00:00",
             "topics": ["large language models", "agents"]} for n in range(150)]
    config = daemon_config(tmp_path, feed_server, smtp, subs)
    config.write_text(config.read_text().replace(f"sqlite:///{tmp_path}/digest.db", POSTGRES_URL))
    logs = [tmp_path / f"replica{n}.log" for n in range(3)]
    procs = [start_daemon(config, log) for log in logs]
    try:
        wait_for(lambda: len(smtp.sink.received) >= 150, 120, "every digest", procs[0])
        time.sleep(3)  # a few more cycles on every replica: nothing may repeat
        texts = [log.read_text() for log in logs]
        leaders = [n for n, t in enumerate(texts) if "leading: this replica polls" in t]
        assert len(leaders) == 1, texts
        procs[leaders[0]].send_signal(signal.SIGKILL)
        others = [n for n in range(3) if n != leaders[0]]
        wait_for(lambda: any("leading: this replica polls" in logs[n].read_text()
                             for n in others), 60, "another replica to take the lease")
        for n in others:
            procs[n].send_signal(signal.SIGTERM)
            assert procs[n].wait(timeout=20) == 0
    finally:
        for proc in procs:
            proc.kill()
    per_recipient = Counter(r.recipients[0] for r in smtp.sink.received)
    assert set(per_recipient) == {s["email"] for s in subs}
    assert max(per_recipient.values()) == 1
    sent_by = [sum(int(n) for n in re.findall(r"delivered (\d+),", t)) for t in texts]
    print(f"\ndigests delivered per replica: {sent_by}")
    assert sum(sent_by) == 150 and all(n > 0 for n in sent_by)


def test_run_once_fetches_liked_papers_no_source_brought(
        tmp_path: Path, feed_server: FeedServer, smtp: SmtpServer) -> None:
    from digest.cli import main
    from digest.storage.models import Paper

    api = feed_server.serve("/api/query", Reply(read_data(
        "arxiv_api_query_cs.AI+cs.LG+cs.CL_2026-08-02.atom.xml")))
    path = daemon_config(tmp_path, feed_server, smtp, [
        {"email": "ada@example.org", "topics": ["agents"], "liked": ["2607.28628"]}])
    doc = yaml.safe_load(path.read_text())
    doc["fetch"]["arxiv_api_url"] = api
    path.write_text(yaml.safe_dump(doc))
    assert main(["run", "-c", str(path), "--once"]) == 0
    hits = feed_server.hits_for("/api/query")
    assert len(hits) == 1 and "id_list=2607.28628" in hits[0].query
    with Session(open_database(load_config(path).database)) as s:
        assert s.exec(select(Paper).where(Paper.canonical_id == "2607.28628")).first()
