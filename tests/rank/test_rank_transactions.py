"""Ranking never keeps a transaction open while the model runs or claims are waited for: on
PostgreSQL no connection of the process is idle in a transaction meanwhile (a server's
`idle_in_transaction_session_timeout` would end the cycle), on SQLite nobody holds the
write lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from digest.cli import main
from digest.clock import utcnow
from digest.compose.digests import ComposeStatus, compose_due
from digest.compose.select import rank_window
from digest.config import load_config
from digest.rank import stored
from digest.rank.semantic import Embedder
from digest.storage.db import open_database
from tests.rank.test_minilm import day_config


def blocked(url: str) -> str:
    """What another connection sees now: on PostgreSQL the states of the database's other
    connections that are idle in a transaction, on SQLite whether the write lock is taken."""
    if url.startswith("sqlite"):
        probe = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
            return ""
        except sqlite3.OperationalError as exc:
            return str(exc)
        finally:
            probe.close()
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT state || ': ' || left(query, 80) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state LIKE 'idle in transaction%'")).scalars().all()
    engine.dispose()
    return "; ".join(rows)


class Watching:
    """The real model, noting before each encode what another connection sees."""

    def __init__(self, inner: Embedder, url: str) -> None:
        self.inner, self.url, self.name = inner, url, inner.name
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The inner model's vectors."""
        self.seen.append(blocked(self.url))
        return self.inner.encode(texts)


@pytest.mark.parametrize("entry", ["rank", "compose"])
def test_no_transaction_is_open_while_ranking_encodes(
        entry: str, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "test")
    url = db_url if db_url.startswith("postgresql") else f"sqlite:///{tmp_path}/d.db"
    extra = {"database": url, "delivery": {
        "from": "Digest <digest@lab.example>", "base_url": "https://d.example",
        "outbox_dir": str(tmp_path / "outbox")}}
    (tmp_path / "poll").mkdir()
    lexical = day_config(tmp_path / "poll", 20, {**extra, "ranking": {"semantic": {
        "enabled": False}}})  # the poll embeds nothing: ranking computes every vector
    assert main(["poll", "-c", str(lexical)]) == 0
    config = load_config(day_config(tmp_path, 20, extra))
    engine = open_database(url)
    real = stored.load_embedder
    watching: list[Watching] = []

    def load(backend: str, model: str | None) -> Any:
        watching.append(Watching(real(backend, model), url))
        return watching[-1]

    monkeypatch.setattr(stored, "load_embedder", load)
    if entry == "rank":
        picks = rank_window(engine, config, "ada@example.org", now=utcnow()).picks
        assert any(r.kind == "semantic" for p in picks for r in p.reasons)
    else:
        composed = compose_due(engine, config, utcnow(), force=True, dry_run=True, processes=0)
        assert [c.status for c in composed] == [ComposeStatus.DRY_RUN]
    seen = [s for w in watching for s in w.seen]
    assert len(seen) >= 2  # the topic, then the papers
    assert seen == [""] * len(seen)
