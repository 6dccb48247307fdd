"""Digests are saved in batches (one transaction each); a batch the database refuses is saved
row by row, so a digest composed meanwhile (another replica) is skipped alone and a row the
database refuses fails alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

import digest.compose.digests as digests
from digest.clock import utcnow
from digest.compose.digests import ComposeStatus, compose_due
from digest.config import load_config
from digest.storage.db import open_database
from digest.storage.models import Outbox, OutboxPaper
from tests.test_email import SUBS, make_config, store_fresh_papers


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret")


def counts(db: str) -> tuple[int, int]:
    with Session(open_database(db)) as s:
        return (s.exec(select(func.count()).select_from(Outbox)).one(),
                s.exec(select(func.count()).select_from(OutboxPaper)).one())


def test_a_batch_with_a_digest_composed_meanwhile_saves_the_others(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store_fresh_papers(db_url)
    config = load_config(make_config(tmp_path, db_url, SUBS))
    first = compose_due(open_database(db_url), config, force=True, only="bob@example.org")
    assert [c.status for c in first] == [ComposeStatus.QUEUED]
    before = counts(db_url)
    # another replica composed bob's digest after this one looked: the batch conflicts
    monkeypatch.setattr(digests, "composed_pairs", lambda *_: set())
    monkeypatch.setattr(digests, "last_digest_at", lambda *_: {})
    monkeypatch.setattr(digests, "already_sent", lambda *_: {})
    monkeypatch.setattr(digests, "SAVE_BATCH", 2)
    done = {c.email: c for c in compose_due(open_database(db_url), config, force=True)}
    assert done["bob@example.org"].status == ComposeStatus.EXISTS
    assert {done[e].status for e in done if e != "bob@example.org"} == {ComposeStatus.QUEUED}
    rows, papers = counts(db_url)
    assert rows == before[0] + len(SUBS) - 1
    assert papers == before[1] + sum(done[e].papers for e in done if e != "bob@example.org")
    with Session(open_database(db_url)) as s:
        for row in s.exec(select(Outbox)).all():
            placed = s.exec(select(OutboxPaper).where(OutboxPaper.outbox_id == row.id)).all()
            assert len(placed) == row.paper_count
            assert {p.subscriber_id for p in placed} <= {row.subscriber_id}


def test_a_row_the_database_refuses_fails_alone(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store_fresh_papers(db_url)
    config = load_config(make_config(tmp_path, db_url, SUBS))
    real_many, real_one = digests.save_digests, digests.save_digest

    def refuse_bob_many(engine: Any, items: Sequence[tuple[Outbox, Any]]) -> list[int] | None:
        if any(row.recipient == "bob@example.org" for row, _ in items):
            return None
        return real_many(engine, items)

    def refuse_bob_one(engine: Any, row: Outbox, papers: Any) -> bool:
        if row.recipient == "bob@example.org":
            raise ValueError("the database refuses this row")
        return real_one(engine, row, papers)

    monkeypatch.setattr(digests, "save_digests", refuse_bob_many)
    monkeypatch.setattr(digests, "save_digest", refuse_bob_one)
    done = {c.email: c for c in compose_due(open_database(db_url), config, force=True,
                                            now=utcnow())}
    assert done["bob@example.org"].status == ComposeStatus.FAILED
    assert "refuses" in done["bob@example.org"].error
    assert {done[e].status for e in done if e != "bob@example.org"} == {ComposeStatus.QUEUED}
    with Session(open_database(db_url)) as s:
        rows = {r.recipient: r for r in s.exec(select(Outbox)).all()}
    assert rows["bob@example.org"].status == "failed" and rows["bob@example.org"].message is None
    assert all(rows[e].status == "queued" for e in rows if e != "bob@example.org")
