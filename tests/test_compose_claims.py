"""Replicas claim subscribers one by one while composing: a replica whose due list differs
from another's (so its chunks differ) still never composes a subscriber the other holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from digest.compose.digests import ComposeStatus, compose_due
from digest.config import load_config
from digest.storage.db import session_scope
from digest.storage.lock import claim_subscribers
from digest.storage.subscribers import find_subscriber
from tests.test_email import make_config, store_fresh_papers

SUBS = [{"email": f"r{i}@lab.example", "topics": ["language models"]} for i in range(6)]


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test-secret")


def test_subscribers_held_by_another_replica_are_left_to_it(
        tmp_path: Path, db_url: str, engine: Engine) -> None:
    config = load_config(make_config(tmp_path, db_url, SUBS))
    store_fresh_papers(db_url)
    compose_due(engine, config, force=True, dry_run=True)  # syncs the config subscribers
    with session_scope(engine) as s:
        held = [row.id for e in ("r1@lab.example", "r4@lab.example")
                if (row := find_subscriber(s, e)) is not None and row.id is not None]
    with claim_subscribers(engine, held) as got:  # "another replica" composing these two
        assert got == sorted(held)
        first = compose_due(engine, config, force=True)
    second = compose_due(engine, config, force=True)
    queued = {c.email for c in first if c.status == ComposeStatus.QUEUED}
    if engine.dialect.name == "postgresql":
        assert queued == {s["email"] for s in SUBS} - {"r1@lab.example", "r4@lab.example"}
        assert {c.email for c in second if c.status == ComposeStatus.QUEUED} \
            == {"r1@lab.example", "r4@lab.example"}
    else:  # one daemon per SQLite file: nothing to share
        assert queued == {s["email"] for s in SUBS} and not second
