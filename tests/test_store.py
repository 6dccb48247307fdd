"""One paper, one row — on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Integer, String, column, table
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.clock import utcnow
from digest.compose.schedule import due_date
from digest.sources import arxiv_api, arxiv_rss, hf_daily
from digest.storage.db import make_engine, migrate, session_scope
from digest.storage.models import Paper, Sighting, Subscriber, UTCDateTime
from digest.storage.papers import upsert_papers
from tests.conftest import read_data
from tests.factories import API_100, RSS_4, hf_feed_with, record, rss_feed_with


def papers(engine: Engine) -> list[Paper]:
    with Session(engine) as s:
        return list(s.exec(select(Paper)).all())


def test_rss_v1_api_v2_and_hf_become_one_row(engine: Engine) -> None:
    api_papers = arxiv_api.parse(read_data(API_100))
    target = next(p for p in api_papers if p.version >= 2)
    with session_scope(engine) as s:
        first = upsert_papers(s, "arxiv-rss", arxiv_rss.parse(rss_feed_with(target.canonical_id, 1)))
        upsert_papers(s, "arxiv-api", api_papers)
        hf = upsert_papers(s, "hf", hf_daily.parse(hf_feed_with(target.canonical_id, 42)))
    assert target.canonical_id in first.new
    assert target.canonical_id in hf.updated and target.canonical_id not in hf.new
    rows = [p for p in papers(engine) if p.canonical_id == target.canonical_id]
    assert len(rows) == 1
    row = rows[0]
    assert row.version == target.version and row.title == target.title != "An early title"
    assert row.signals["hf_upvotes"] == 42
    with Session(engine) as s:
        sources = {x.source for x in s.exec(select(Sighting).where(Sighting.paper_id == row.id))}
    assert sources == {"arxiv-rss", "arxiv-api", "hf"}


def test_older_version_never_overwrites_newer(engine: Engine) -> None:
    with session_scope(engine) as s:
        upsert_papers(s, "a", [record("2601.00001", version=3, title="v3 title")])
        result = upsert_papers(s, "b", [record("2601.00001", version=1, title="v1 title")])
    assert result.new == [] and papers(engine)[0].title == "v3 title"


def test_cross_listed_twice_in_one_feed_is_one_row(engine: Engine) -> None:
    recs = [record("2601.00002", categories=["cs.AI"]), record("2601.00002", categories=["cs.CL"])]
    with session_scope(engine) as s:
        result = upsert_papers(s, "feed", recs)
    assert result.new == ["2601.00002"] and result.seen == 1
    assert sorted(papers(engine)[0].categories) == ["cs.AI", "cs.CL"]


def test_same_feed_twice_stores_nothing_new(engine: Engine) -> None:
    with session_scope(engine) as s:
        assert len(upsert_papers(s, "rss", arxiv_rss.parse(read_data(RSS_4))).new) == 4
        again = upsert_papers(s, "rss", arxiv_rss.parse(read_data(RSS_4)))
    assert again.new == [] and again.updated == [] and len(papers(engine)) == 4


def test_growing_upvotes_are_refreshed(engine: Engine) -> None:
    with session_scope(engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(hf_feed_with("2606.00467", 3)))
        later = upsert_papers(s, "hf", hf_daily.parse(hf_feed_with("2606.00467", 17)))
    assert later.updated == ["2606.00467"]
    row = next(p for p in papers(engine) if p.canonical_id == "2606.00467")
    assert row.signals["hf_upvotes"] == 17
    with Session(engine) as s:
        sighting = s.exec(select(Sighting).where(Sighting.paper_id == row.id)).one()
    assert sighting.signals["hf_upvotes"] == 17


def test_doi_only_record_joins_the_arxiv_row(engine: Engine) -> None:
    with session_scope(engine) as s:
        upsert_papers(s, "arxiv", [record("2205.06398", doi="10.1093/bioinformatics/btac431")])
        result = upsert_papers(s, "journal", [record("doi:10.1093/bioinformatics/btac431",
                                                     arxiv_id=None,
                                                     doi="10.1093/bioinformatics/btac431")])
    assert result.new == [] and len(papers(engine)) == 1


def test_first_seen_and_published_are_timezone_aware(engine: Engine) -> None:
    with session_scope(engine) as s:
        upsert_papers(s, "rss", arxiv_rss.parse(read_data(RSS_4)))
    row = papers(engine)[0]
    assert row.first_seen_at.tzinfo is not None and row.published is not None
    assert row.published.utcoffset() is not None
    assert row.published.isoformat() == "2026-09-24T04:00:00+00:00"


def test_migrations_match_the_models_and_rerun_safely(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    migrate(engine)  # second run is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_date_only_and_zoned_published_dates_merge(engine: Engine) -> None:
    from digest.sources import jsonl

    with session_scope(engine) as s:
        upsert_papers(s, "rss", arxiv_rss.parse(read_data(RSS_4)))
        later = jsonl.parse(b'{"id": "2609.26811", "title": "t", "published": "2026-09-01"}')
        assert upsert_papers(s, "jsonl", later).updated == ["2609.26811"]
    row = next(p for p in papers(engine) if p.canonical_id == "2609.26811")
    assert row.published is not None and row.published.isoformat() == "2026-09-01T00:00:00+00:00"


SUBSCRIBERS_0004 = table("subscribers", *(column(n, String()) for n in (
    "email", "origin", "status", "timezone", "send_at", "cadence", "token_nonce")),
    column("interests", JSON()), column("failure_streak", Integer()),
    column("created_at", UTCDateTime()), column("updated_at", UTCDateTime()))


def subscriber_0004(email: str, cadence: str, interests: dict[str, Any]) -> dict[str, Any]:
    """A subscribers row as revision 0004 stored it."""
    return {"email": email, "origin": "web", "status": "active", "timezone": "UTC",
            "send_at": "07:00", "cadence": cadence, "token_nonce": "n", "interests": interests,
            "failure_streak": 0, "created_at": utcnow(), "updated_at": utcnow()}


def test_migration_0005_moves_weekly_day_out_of_interests(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine, "0004")
    with engine.begin() as conn:
        conn.execute(SUBSCRIBERS_0004.insert(), [
            subscriber_0004("fri@example.org", "weekly", {"topics": ["robots"], "weekly_day": "fri"}),
            subscriber_0004("daily@example.org", "daily", {"topics": ["speech"]})])
    migrate(engine)
    with Session(engine) as s:
        rows = {r.email: r for r in s.exec(select(Subscriber)).all()}
    engine.dispose()
    assert (rows["fri@example.org"].weekly_day, rows["fri@example.org"].interests) == \
        ("fri", {"topics": ["robots"]})
    assert (rows["daily@example.org"].weekly_day, rows["daily@example.org"].interests) == \
        ("mon", {"topics": ["speech"]})
    assert due_date(rows["fri@example.org"], datetime(2026, 6, 5, 12, tzinfo=UTC)) is not None


def test_an_up_to_date_schema_opens_without_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from digest.storage.db import MIGRATIONS, newest_revision

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert newest_revision() == ScriptDirectory.from_config(cfg).get_current_head()
    url = f"sqlite:///{tmp_path}/fresh.db"
    probe = ("import sys; from digest.storage.db import open_database; "
             f"open_database({url!r}); print('alembic' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True).stdout.strip() for _ in range(2)]
    assert runs == ["True", "False"]  # the first migrates; the second finds it current


def test_a_postgresql_server_that_never_answers_fails_in_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    from sqlalchemy.exc import OperationalError

    import digest.storage.db as db

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts the TCP connection, never says a word (a half-dead server)
    monkeypatch.setitem(db.PG_CONNECT_ARGS, "connect_timeout", 2)
    engine = db.make_engine(f"postgresql://digest@127.0.0.1:{silent.getsockname()[1]}/x")
    start = time.monotonic()
    with pytest.raises(OperationalError, match="timeout"):
        engine.connect()
    assert time.monotonic() - start < 15  # libpq may try twice (with and without TLS)
    silent.close()
