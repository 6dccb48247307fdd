"""A row the database refuses to record fails alone: the other messages of the batch are
recorded sent, the delivery run goes on and raises nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from digest.compose.digests import compose_due
from digest.config import load_config
from digest.deliver.outbox import deliver_queue
from digest.storage.db import open_database
from digest.storage.models import Outbox
from tests.smtpsink import SmtpServer
from tests.test_email import make_config, store_fresh_papers

SUBS = [{"email": f"{n}@lab.example", "topics": ["language models"]}
        for n in ("ada", "bob", "cy")]


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret")


def test_a_row_the_database_refuses_to_mark_sent_fails_alone(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/d.db"
    server = SmtpServer().start()
    try:
        config = load_config(make_config(tmp_path, db, SUBS, transport="smtp", smtp={
            "host": "127.0.0.1", "port": server.port, "security": "none"}))
        store_fresh_papers(db)
        engine = open_database(db)
        compose_due(engine, config, force=True)
        with engine.begin() as conn:  # the database itself refuses bob's row being marked sent
            conn.execute(text("CREATE TRIGGER refuse_bob BEFORE UPDATE OF status ON outbox "
                              "WHEN NEW.recipient = 'bob@lab.example' AND NEW.status = 'sent' "
                              "BEGIN SELECT RAISE(ABORT, 'refused for the test'); END"))
        report = asyncio.run(deliver_queue(engine, config))
    finally:
        server.stop()
    assert sorted(r for m in server.sink.received for r in m.recipients) == \
        ["ada@lab.example", "bob@lab.example", "cy@lab.example"]
    assert report.sent == 2
    with Session(engine) as s:
        status = {r.recipient: r.status for r in s.exec(select(Outbox)).all()}
    assert status == {"ada@lab.example": "sent", "bob@lab.example": "sending",
                      "cy@lab.example": "sent"}
