"""The daemon's cycle delivers while it composes: the first digests reach the mail server
before the last ones are composed, and every subscriber still gets exactly one."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from digest.config import load_config
from digest.daemon.cycle import compose_and_deliver
from tests.smtpsink import SmtpServer
from tests.test_email import make_config, store_fresh_papers

SUBS = [{"email": f"reader{i}@lab.example", "topics": ["language models", "diffusion"],
         "keywords": ["benchmark"]} for i in range(320)]


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret")


def test_delivery_overlaps_compose_and_sends_each_digest_once(
        tmp_path: Path, db_url: str, engine: Engine) -> None:
    server = SmtpServer().start()
    try:
        config = load_config(make_config(tmp_path, db_url, SUBS, transport="smtp", smtp={
            "host": "127.0.0.1", "port": server.port, "security": "none"}))
        store_fresh_papers(db_url)
        started = time.time()
        cycle = asyncio.run(compose_and_deliver(engine, config, force=True))
        composed_at = started + cycle.compose_seconds
    finally:
        server.stop()
    received = server.sink.received
    per_reader = Counter(r for m in received for r in m.recipients)
    assert sorted(per_reader) == sorted(s["email"] for s in SUBS)
    assert set(per_reader.values()) == {1}
    assert cycle.delivery.sent == len(SUBS) and not cycle.delivery.errors
    early = [m for m in received if m.at < composed_at]
    assert early, "nothing was delivered before compose ended"
    assert len(early) < len(SUBS)  # ... and compose really was still running meanwhile
