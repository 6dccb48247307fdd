"""Delivery over several SMTP connections, a server that refuses extra connections (421), and
send quotas held in the database and shared by deliverers on one database."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.config import Config, load_config
from digest.deliver.outbox import DeliveryReport, deliver_queue
from digest.storage.db import make_engine, open_database, session_scope
from digest.storage.models import Outbox, Subscriber
from tests.smtpsink import Sink, SmtpServer


def smtp_config(tmp_path: Path, db_url: str, port: int, **smtp: Any) -> Config:
    """An SMTP config for the sink on `port`; `smtp` overrides delivery.smtp keys."""
    doc = {"database": db_url,
           "delivery": {"transport": "smtp", "from": "Paper Digest <digest@lab.example>",
                        "base_url": "https://digest.lab.example",
                        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", **smtp}}}
    path = tmp_path / f"digest-{port}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_config(path)


def queue(engine: Engine, count: int, first: int = 0) -> None:
    """`count` queued messages to new subscribers r<first>.. (their bodies are tiny)."""
    with session_scope(engine) as session:
        for i in range(first, first + count):
            sub = Subscriber(email=f"r{i}@example.org")
            session.add(sub)
            session.flush()
            session.add(Outbox(subscriber_id=sub.id or 0, digest_date=date(2026, 6, 12),
                               message_id=f"<m{i}@lab.example>", recipient=sub.email,
                               subject="s", message=b"Subject: s\r\n\r\nhello\r\n"))


def rows(engine: Engine) -> list[Outbox]:
    with Session(engine) as session:
        return list(session.exec(select(Outbox).order_by(Outbox.id)).all())  # type: ignore[arg-type]


def test_four_connections_send_side_by_side_each_message_once(tmp_path: Path,
                                                               db_url: str) -> None:
    server = SmtpServer(Sink(delay=0.1)).start()
    try:
        config = smtp_config(tmp_path, db_url, server.port, connections=4)
        engine = open_database(config.database)
        queue(engine, 24)
        started = time.monotonic()
        report = asyncio.run(deliver_queue(engine, config))
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    got = server.sink.received
    assert report.sent == 24 and report.connections == 4
    assert sorted(r.recipients[0] for r in got) == sorted(f"r{i}@example.org" for i in range(24))
    assert len({r.peer for r in got}) == 4 and server.sink.peak == 4
    assert elapsed < 24 * 0.1 / 2, elapsed  # one connection needs 2.4 s
    assert {r.status for r in rows(engine)} == {"sent"}


def test_too_many_connections_shrinks_the_pool_and_fails_nothing(tmp_path: Path,
                                                                  db_url: str) -> None:
    server = SmtpServer(Sink(delay=0.02, max_sessions=2)).start()
    try:
        config = smtp_config(tmp_path, db_url, server.port, connections=4)
        engine = open_database(config.database)
        queue(engine, 20)
        first = asyncio.run(deliver_queue(engine, config))
        assert server.sink.refused_sessions >= 1 and server.sink.peak <= 2
        queue(engine, 10, first=20)
        refused = server.sink.refused_sessions
        second = asyncio.run(deliver_queue(engine, config))
    finally:
        server.stop()
    assert (first.sent, first.failed, first.server_down) == (20, 0, False)
    assert second.connections == 2 and server.sink.refused_sessions == refused
    stored = rows(engine)
    assert {(r.status, r.attempts) for r in stored} == {("sent", 0)}
    assert Counter(r.recipients[0] for r in server.sink.received).most_common(1)[0][1] == 1


def test_every_connection_refused_keeps_the_queue_uncounted(tmp_path: Path) -> None:
    server = SmtpServer(Sink(max_sessions=0)).start()
    try:
        config = smtp_config(tmp_path, f"sqlite:///{tmp_path}/d.db", server.port, connections=3)
        engine = open_database(config.database)
        queue(engine, 6)
        report = asyncio.run(deliver_queue(engine, config))
    finally:
        server.stop()
    assert report.server_down and report.sent == 0 and report.failed == 0
    assert {(r.status, r.attempts) for r in rows(engine)} == {("queued", 0)}
    assert "busy: 421" in (rows(engine)[0].last_error or "")


def _deliver_in_thread(config: Config, reports: list[DeliveryReport]) -> threading.Thread:
    def work() -> None:
        engine = make_engine(config.database)  # a replica: its own engine and event loop
        reports.append(asyncio.run(deliver_queue(engine, config)))
        engine.dispose()
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_a_send_quota_holds_for_two_deliverers_together(tmp_path: Path, db_url: str) -> None:
    """Two replicas on PostgreSQL (on SQLite, where one daemon runs, its two connections)."""
    deliverers = 2 if db_url.startswith("postgresql") else 1
    server = SmtpServer(Sink()).start()
    try:
        config = smtp_config(tmp_path, db_url, server.port, connections=2,
                             quotas=[{"limit": 10, "per": "second"}])
        engine = open_database(config.database)
        queue(engine, 40)
        reports: list[DeliveryReport] = []
        started = time.time()
        for thread in [_deliver_in_thread(config, reports) for _ in range(deliverers)]:
            thread.join(60)
    finally:
        server.stop()
    got = server.sink.received
    per_second = Counter(int(r.at) for r in got)
    assert len(got) == 40 and max(per_second.values()) <= 10, per_second
    assert len(per_second) >= 4 and time.time() - started >= 2.0  # four windows at least
    assert sum(r.sent for r in reports) == 40 and all(r.sent for r in reports)
    assert {(r.status, r.attempts) for r in rows(engine)} == {("sent", 0)}


def test_a_quota_used_up_for_long_leaves_the_rest_queued(tmp_path: Path) -> None:
    server = SmtpServer(Sink()).start()
    try:
        config = smtp_config(tmp_path, f"sqlite:///{tmp_path}/d.db", server.port,
                             quotas=[{"limit": 3, "per": "hour"}])
        engine = open_database(config.database)
        queue(engine, 5)
        first = asyncio.run(deliver_queue(engine, config))
        second = asyncio.run(deliver_queue(engine, config))
    finally:
        server.stop()
    assert first.quota_full and first.sent == 3 and first.failed == 0
    assert second.quota_full and second.sent == 0 and len(server.sink.received) == 3
    assert sorted((r.status, r.attempts) for r in rows(engine)) == \
        [("queued", 0)] * 2 + [("sent", 0)] * 3
