"""Polling the scholarly APIs end to end: a loopback server serving the real captures (paged,
rate-limited), the real planner, parsers and store; the window follows the last success."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.clock import utcnow
from digest.config import Config, load_config
from digest.ingest.poll import PollReport, poll_sources
from digest.storage.db import open_database
from digest.storage.models import Feed, Paper
from tests.conftest import read_data
from tests.feedserver import FeedServer, Reply
from tests.sources.captures import BIORXIV, EUROPEPMC, OPENALEX, S2

pytestmark = pytest.mark.timeout(60)


def config_for(tmp_path: Path, db_url: str, sources: list[dict[str, Any]]) -> Config:
    """A config pointing at the loopback server: one quick retry, no politeness delay."""
    doc = {"database": db_url, "sources": sources,
           "fetch": {"retries": 1, "backoff_seconds": 0.01, "max_retry_wait_seconds": 2,
                     "polite_hosts": {}, "timeout_seconds": 5}}
    path = tmp_path / "digest.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_config(path)


async def poll(config: Config, now: datetime | None = None) -> tuple[Engine, PollReport]:
    engine = open_database(config.database)
    [report] = await poll_sources(config, engine, force=True, now=now or utcnow())
    return engine, report


def biorxiv_page(interval: str, cursor: int, total: int, tag: str = "", version: int = 0) -> bytes:
    """The bioRxiv capture as the page at `cursor` of `interval`; `tag` makes other postings."""
    doc = json.loads(read_data(BIORXIV))
    doc["messages"][0].update(interval=interval, cursor=cursor, total=total)
    for item in doc["collection"]:
        item["doi"] += tag
        item["version"] = str(version or item["version"])
    return json.dumps(doc).encode()


NOON = datetime(2026, 6, 12, 12, 0, tzinfo=UTC)  # a fixed clock: no date change mid-test


def window(days: int) -> tuple[str, str]:
    today = NOON.date()
    return str(today - timedelta(days=days)), str(today)


def stored(engine: Engine) -> list[Paper]:
    with Session(engine) as s:
        return list(s.exec(select(Paper)).all())


async def test_biorxiv_pages_through_a_429_then_asks_since_the_last_success(
        tmp_path: Path, db_url: str, feed_server: FeedServer) -> None:
    start, end = window(2)  # first poll: days_back 2
    page0, page1 = f"/details/biorxiv/{start}/{end}/0", f"/details/biorxiv/{start}/{end}/30"
    feed_server.serve(page0, Reply(biorxiv_page(f"{start}:{end}", 0, 873)))
    feed_server.serve(page1, Reply(status=429, headers={"Retry-After": "1"}),
                      Reply(biorxiv_page(f"{start}:{end}", 30, 873, tag=".p2")))
    config = config_for(tmp_path, db_url, [{"name": "bio", "type": "biorxiv", "max_results": 60,
                                            "url": feed_server.url("/details")}])
    engine, report = await poll(config, NOON)
    assert (report.error, report.status, report.parsed, report.new) == (None, "200", 20, 20)
    hits = feed_server.hits_for(page1)
    assert len(hits) == 2 and hits[1].at - hits[0].at >= 0.9  # Retry-After honoured
    assert len(feed_server.hits_for(page0)) == 1

    yesterday, today = window(1)  # the next poll: since the last success, a day of overlap
    again = f"/details/biorxiv/{yesterday}/{today}/0"
    feed_server.serve(again, Reply(biorxiv_page(f"{yesterday}:{today}", 0, 10, version=3)))
    _, second = await poll(config, NOON + timedelta(minutes=5))
    assert (second.error, second.parsed, second.new, second.updated) == (None, 10, 0, 10)
    assert len(feed_server.hits_for(again)) == 1
    rows = stored(engine)
    assert len(rows) == 20 and sum(p.version == 3 for p in rows) == 10  # versions update rows


async def test_a_429_that_persists_backs_the_feed_off(tmp_path: Path, db_url: str,
                                                      feed_server: FeedServer) -> None:
    feed_server.serve("/graph/v1/paper/search",
                      Reply(b'{"message": "Too Many Requests"}', status=429,
                            headers={"Retry-After": "300"}))
    config = config_for(tmp_path, db_url, [{"name": "s2", "type": "semantic_scholar",
                                            "query": "transformer",
                                            "url": feed_server.url("/graph/v1/paper/search")}])
    now = utcnow()
    engine, report = await poll(config, now)
    assert report.status == "429" and report.error and "HTTP 429" in report.error
    assert len(feed_server.hits_for("/graph/v1/paper/search")) == 1  # 300 s > max retry wait
    with Session(engine) as s:
        feed = s.exec(select(Feed)).one()
    assert feed.error_count == 1 and feed.next_check_at is not None
    assert 290 < (feed.next_check_at - now).total_seconds() <= 301


def s2_page2() -> bytes:
    doc = json.loads(read_data(S2))
    for paper in doc["data"]:
        paper["externalIds"]["ArXiv"] = paper["externalIds"]["ArXiv"].replace("2", "3", 1)
    doc.update(offset=5)
    del doc["next"]
    return json.dumps(doc).encode()


def europepmc_page2() -> bytes:
    doc = json.loads(read_data(EUROPEPMC))
    doc["request"]["cursorMark"] = doc["nextCursorMark"]
    doc["nextCursorMark"] = "AoJ-last"
    for result in doc["resultList"]["result"]:
        result["doi"] += ".p2"
    return json.dumps(doc).encode()


def openalex_page2() -> bytes:
    doc = json.loads(read_data(OPENALEX))
    doc["meta"]["page"] = 2
    for work in doc["results"]:
        work["doi"] = (work["doi"] or "") + ".p2"
        work["locations"] = []
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("kind", "path", "extra", "page2", "parsed", "asked"), [
    ("semantic_scholar", "/graph/v1/paper/search", {"query": "transformer", "max_results": 50},
     s2_page2, 10, ("offset", ["0", "5"])),
    ("europepmc", "/rest/search", {"query": "tuberculosis", "max_results": 150},
     europepmc_page2, 16, ("cursorMark", ["*", "AoJwgOCVo50DKDU0MzUzMjIz"])),
    ("openalex", "/works", {"search": "tuberculosis", "max_results": 40},
     openalex_page2, 8, ("page", ["1", "2"])),
])
async def test_query_sources_page_through_the_loopback_server(
        tmp_path: Path, db_url: str, feed_server: FeedServer, kind: str, path: str,
        extra: dict[str, Any], page2: Any, parsed: int, asked: tuple[str, list[str]]) -> None:
    first = {"semantic_scholar": S2, "europepmc": EUROPEPMC, "openalex": OPENALEX}[kind]
    feed_server.serve(path, Reply(read_data(first)), Reply(page2()))
    config = config_for(tmp_path, db_url, [{"name": "q", "type": kind, **extra,
                                            "url": feed_server.url(path)}])
    engine, report = await poll(config)
    assert (report.error, report.parsed, report.new) == (None, parsed, parsed)
    param, values = asked
    queries = [parse_qs(h.query) for h in feed_server.hits_for(path)]
    assert [q[param][0] for q in queries] == values
    assert len(stored(engine)) == parsed


async def test_openalex_key_never_reaches_the_feed_error(
        tmp_path: Path, db_url: str, feed_server: FeedServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENALEX_TEST_KEY", "secret-key-123")
    feed_server.serve("/works", Reply(status=503))
    config = config_for(tmp_path, db_url, [{"name": "oa", "type": "openalex", "search": "tb",
                                            "api_key_env": "OPENALEX_TEST_KEY",
                                            "url": feed_server.url("/works")}])
    _, report = await poll(config)
    assert parse_qs(feed_server.hits_for("/works")[0].query)["api_key"] == ["secret-key-123"]
    assert report.error and "secret-key-123" not in report.error
