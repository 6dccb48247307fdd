"""Migration 0008 builds its index on PostgreSQL CONCURRENTLY: a replica upgrading never
blocks the papers' writes (a plain CREATE INDEX queues a SHARE lock that every INSERT then
waits behind, for as long as the build and whatever it waits for)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from digest.storage.db import make_engine, migrate, newest_revision

PAPER = ("INSERT INTO papers (canonical_id, version, title, abstract, authors, categories, "
         "signals, first_seen_at, changed_at) VALUES (:c, 1, 't', 'x', '[]', '[]', '{}', "
         "'2020-01-01 00:00:00', '2020-01-01 00:00:00')")


def waiting_migrations(url: str) -> int:
    """Connections of the database waiting for a lock to create an index."""
    probe = create_engine(url, poolclass=NullPool)
    with probe.connect() as conn:
        n = conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type IN ('Lock') AND query ILIKE 'CREATE INDEX%'")).scalar()
    probe.dispose()
    return int(n or 0)


def replica_migrating(url: str, failed: list[BaseException]) -> threading.Thread:
    """A replica's start in a thread: it migrates the database (its error in `failed`)."""
    def start() -> None:
        try:
            migrate(make_engine(url))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=start)
    thread.start()
    return thread


def test_the_changed_at_index_is_built_while_papers_are_written(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one daemon, which migrates before anything else runs")
    engine = make_engine(db_url)
    migrate(engine, "0007")
    writer = engine.connect()
    writer.execute(text(PAPER), {"c": "2601.00001"})  # a poll's transaction, still open
    failed: list[BaseException] = []
    replica = replica_migrating(db_url, failed)
    deadline = time.monotonic() + 20
    while not waiting_migrations(db_url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert waiting_migrations(db_url) == 1  # the build waits for the open transaction
    other = create_engine(db_url, poolclass=NullPool)
    try:
        with other.begin() as conn:  # another write meanwhile goes through
            conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            conn.execute(text(PAPER), {"c": "2601.00002"})
    except DBAPIError as exc:
        pytest.fail(f"a write waited behind the index build: {exc.orig}")
    finally:
        writer.commit()
        writer.close()
        replica.join(30)
        other.dispose()
    assert not replica.is_alive() and failed == []
    assert "ix_papers_changed_at" in {i["name"] for i in inspect(engine).get_indexes("papers")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                                 "'ix_papers_changed_at'::regclass")).scalar() is True
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == newest_revision()


def test_replicas_starting_together_all_migrate(db_url: str) -> None:
    """The ones waiting for the migration lock hold no transaction while they wait (the index
    build waits for every open snapshot: a blocked lock call would deadlock with it)."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one daemon")
    failed: list[BaseException] = []
    replicas = [replica_migrating(db_url, failed) for _ in range(3)]
    for r in replicas:
        r.join(60)
    assert failed == [] and not any(r.is_alive() for r in replicas)
