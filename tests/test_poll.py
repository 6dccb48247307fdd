"""`digest poll` end to end: a loopback server serving real captures, a real database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import Session, select

from digest.cli import main
from digest.clock import utcnow
from digest.config import load_config
from digest.ingest.poll import poll_sources
from digest.sources import PARSERS
from digest.storage.db import open_database
from digest.storage.models import Feed, Paper
from tests.conftest import read_data
from tests.factories import API_100, HF_DAY, RSS_4
from tests.feedserver import FeedServer, Reply

ATOM = "arxiv_atomfeed_cs.AI_2025-08-20.atom.xml"
TLDR = "other/takara_tldr_daily_papers_rss_2026-04-30.xml"


def write_config(tmp_path: Path, db_url: str, sources: list[dict[str, Any]], **extra: Any) -> Path:
    """A config file pointing at the loopback server, fast retries, no politeness delay."""
    doc = {"database": db_url, "sources": sources,
           "fetch": {"retries": 1, "backoff_seconds": 0.01, "max_retry_wait_seconds": 1,
                     "polite_hosts": {}, "max_body_bytes": 1_000_000, "timeout_seconds": 5},
           **extra}
    path = tmp_path / "digest.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run_poll(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> list[dict[str, Any]]:
    assert main(["poll", "-c", str(config), "--json", *args]) == 0
    reports: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return reports


def good_sources(server: FeedServer) -> list[dict[str, Any]]:
    return [
        {"name": "arxiv-rss", "type": "arxiv_rss", "url": server.serve("/rss", Reply(read_data(RSS_4)))},
        {"name": "arxiv-atom", "type": "arxiv_rss", "url": server.serve("/atom", Reply(read_data(ATOM)))},
        {"name": "arxiv-api", "type": "arxiv_api", "query": "all:testing", "max_results": 100,
         "url": server.serve("/api/query", Reply(read_data(API_100)))},
        {"name": "hf", "type": "hf_daily",
         "url": server.serve("/api/daily_papers", Reply(read_data(HF_DAY)))},
        {"name": "tldr", "type": "rss", "url": server.serve("/tldr", Reply(read_data(TLDR)))},
    ]


def expected_ids() -> set[str]:
    ids = set()
    for name, kind in ((RSS_4, "arxiv_rss"), (ATOM, "arxiv_rss"), (API_100, "arxiv_api"),
                       (HF_DAY, "hf_daily"), (TLDR, "rss")):
        ids |= {p.canonical_id for p in PARSERS[kind](read_data(name))}
    return ids


def stored_ids(db_url: str) -> list[str]:
    with Session(open_database(db_url)) as s:
        return list(s.exec(select(Paper.canonical_id)).all())


def test_first_poll_stores_each_paper_once_second_gets_304s(
        tmp_path: Path, db_url: str, feed_server: FeedServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, db_url, good_sources(feed_server))
    first = run_poll(capsys, config)
    assert all(r["status"] == "200" and r["error"] is None for r in first)
    ids = stored_ids(db_url)
    assert sorted(ids) == sorted(expected_ids())
    assert sum(r["new"] for r in first) == len(ids)

    second = run_poll(capsys, config, "--force")
    assert [r["status"] for r in second] == ["304"] * 5
    assert sum(r["new"] + r["updated"] + r["parsed"] for r in second) == 0
    assert len(stored_ids(db_url)) == len(ids)
    assert all("If-None-Match" in feed_server.hits_for(p)[-1].headers
               for p in ("/rss", "/atom", "/api/query", "/api/daily_papers", "/tldr"))


def test_not_due_sources_are_skipped(tmp_path: Path, db_url: str, feed_server: FeedServer,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, db_url, good_sources(feed_server)[:1])
    run_poll(capsys, config)
    assert run_poll(capsys, config) == []
    assert len(feed_server.hits_for("/rss")) == 1


def test_broken_feeds_fail_alone_and_back_off(tmp_path: Path, db_url: str,
                                              feed_server: FeedServer,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    sources = [*good_sources(feed_server)[:1],
        {"name": "down", "type": "rss", "url": feed_server.serve("/500", Reply(status=500))},
        {"name": "limited", "type": "rss",
         "url": feed_server.serve("/429", Reply(status=429, headers={"Retry-After": "120"}))},
        {"name": "garbage", "type": "arxiv_rss",
         "url": feed_server.serve("/garbage", Reply(b"\x89PNG\r\n\x1a\n\x00\x00garbage"))},
        {"name": "huge", "type": "rss",
         "url": feed_server.serve("/huge", Reply(b"<rss>" + b"x" * 2_000_000))},
    ]
    config = write_config(tmp_path, db_url, sources)
    reports = {r["source"]: r for r in run_poll(capsys, config)}
    assert reports["arxiv-rss"]["new"] == 4 and reports["arxiv-rss"]["error"] is None
    assert reports["down"]["status"] == "500" and "HTTP 500" in reports["down"]["error"]
    assert reports["limited"]["status"] == "429"
    assert "not well-formed" in reports["garbage"]["error"]
    assert "larger than" in reports["huge"]["error"]
    assert len(feed_server.hits_for("/500")) == 2  # one capped retry

    with Session(open_database(db_url)) as s:
        feeds = {f.name: f for f in s.exec(select(Feed)).all()}
    now = utcnow()
    for name in ("down", "limited", "garbage", "huge"):
        assert feeds[name].error_count == 1 and feeds[name].last_error
        assert feeds[name].next_check_at is not None and feeds[name].next_check_at > now
    wait = (feeds["limited"].next_check_at - now).total_seconds()  # type: ignore[operator]
    assert 100 < wait <= 121  # Retry-After honoured
    assert feeds["arxiv-rss"].error_count == 0


async def test_failing_feed_backs_off_further_then_recovers(
        tmp_path: Path, db_url: str, feed_server: FeedServer) -> None:
    url = feed_server.serve("/flaky", Reply(status=503), Reply(status=503), Reply(status=503),
                            Reply(status=503), Reply(read_data(RSS_4)))
    config = load_config(write_config(tmp_path, db_url, [
        {"name": "flaky", "type": "arxiv_rss", "url": url}]))
    engine = open_database(config.database)
    now, delays = utcnow(), []
    for _ in range(2):
        report = (await poll_sources(config, engine, now=now))[0]
        assert report.error and report.next_check_at
        delays.append((report.next_check_at - now).total_seconds())
        assert await poll_sources(config, engine, now=now + timedelta(seconds=1)) == []
        now = report.next_check_at + timedelta(seconds=1)
    assert delays[1] > delays[0] * 1.5
    report = (await poll_sources(config, engine, now=now))[0]
    assert report.error is None and report.new == 4
    with Session(engine) as s:
        feed = s.exec(select(Feed)).one()
    assert feed.error_count == 0 and feed.last_error is None


def test_arxiv_api_pages_until_max_results(tmp_path: Path, db_url: str, feed_server: FeedServer,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    page2 = json.loads(read_data("arxiv_api_recordings/q_testing_s10_m10_34e56e15aaac.json"))["body"]
    url = feed_server.serve("/api/query", Reply(read_data(API_100)), Reply(page2.encode()))
    config = write_config(tmp_path, db_url, [{"name": "q", "type": "arxiv_api", "query": "testing",
                                              "max_results": 110, "url": url}])
    report = run_poll(capsys, config)[0]
    queries = [h.query for h in feed_server.hits_for("/api/query")]
    assert len(queries) == 2 and "start=0" in queries[0] and "start=100" in queries[1]
    assert "max_results=10" in queries[1]
    assert report["parsed"] == 110


def test_arxiv_api_400_reports_arxivs_message(tmp_path: Path, db_url: str,
                                              feed_server: FeedServer,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rec = json.loads(read_data("arxiv_api_recordings/id_abc_s0_m100_b79c8dcf6bc3.json"))
    url = feed_server.serve("/api/query", Reply(rec["body"].encode(), status=400))
    config = write_config(tmp_path, db_url, [{"name": "q", "type": "arxiv_api", "query": "id:abc",
                                              "url": url}])
    report = run_poll(capsys, config)[0]
    assert report["status"] == "400" and "incorrect id format for abc" in report["error"]


def test_human_table_names_each_source(tmp_path: Path, feed_server: FeedServer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/t.db", good_sources(feed_server)[:2])
    assert main(["poll", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "arxiv-rss" in out and "arxiv-atom" in out and "new" in out


def test_status_shows_a_failing_feed_and_its_backoff(tmp_path: Path, feed_server: FeedServer,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    url = feed_server.serve("/down", Reply(status=503, headers={"Retry-After": "600"}))
    config = write_config(tmp_path, f"sqlite:///{tmp_path}/s.db",
                          [{"name": "flaky-feed", "type": "rss", "url": url}])
    run_poll(capsys, config)
    run_poll(capsys, config, "--force")
    assert main(["status", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "flaky-feed" in line)
    assert "503" in row and " 2 " in row  # last status and a two-poll error streak


async def test_one_polling_clock_follows_the_schedule_and_its_edits(
        tmp_path: Path, db_url: str, feed_server: FeedServer) -> None:
    from datetime import UTC, datetime

    url = feed_server.serve("/rss", Reply(read_data(RSS_4)))
    source = {"name": "arxiv", "type": "arxiv_rss", "url": url,
              "schedule": {"cron": "5 21 * * *", "timezone": "America/New_York"}}
    config = load_config(write_config(tmp_path, db_url, [source]))
    engine = open_database(config.database)
    noon = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    report = (await poll_sources(config, engine, now=noon))[0]
    assert report.error is None
    assert report.next_check_at == datetime(2026, 6, 2, 1, 5, tzinfo=UTC)  # 21:05 New York
    assert await poll_sources(config, engine, now=datetime(2026, 6, 2, 1, 4, tzinfo=UTC)) == []
    edited = load_config(write_config(tmp_path, db_url, [
        {**source, "schedule": {"every_minutes": 30}}]))
    assert await poll_sources(edited, engine, now=noon + timedelta(minutes=29)) == []
    again = await poll_sources(edited, engine, now=noon + timedelta(minutes=30))
    assert [r.source for r in again] == ["arxiv"]  # the edited schedule counts at once
    assert len(feed_server.hits_for("/rss")) == 2


async def test_an_interrupted_poll_leaves_the_feed_as_it_was(
        tmp_path: Path, db_url: str, feed_server: FeedServer) -> None:
    import asyncio

    url = feed_server.serve("/slow", Reply(read_data(RSS_4), delay=3))
    config = load_config(write_config(tmp_path, db_url, [
        {"name": "slow", "type": "arxiv_rss", "url": url}]))
    engine = open_database(config.database)
    task = asyncio.create_task(poll_sources(config, engine))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with Session(engine) as s:
        feed = s.exec(select(Feed)).one()
    assert feed.last_success_at is None and feed.error_count == 0
    assert feed.next_check_at is None  # still due: the next poll tries it at once


def test_run_once_with_trickling_silent_and_resetting_feeds_stays_bounded(
        tmp_path: Path, feed_server: FeedServer) -> None:
    import time as clock

    timeout = 2.0
    sources = [*good_sources(feed_server)[:2],
               {"name": "trickle", "type": "rss",
                "url": feed_server.serve("/trickle", Reply(b"<rss>" + b" " * 200, trickle=0.5))},
               {"name": "silent", "type": "rss",
                "url": feed_server.serve("/silent", Reply(b"<rss/>", delay=60))},
               {"name": "reset", "type": "rss", "url": feed_server.serve("/reset", Reply(reset=True))}]
    db = f"sqlite:///{tmp_path}/d.db"
    config = write_config(tmp_path, db, sources,
                          subscribers=[{"email": "ada@example.org", "topics": ["language models"]}],
                          delivery={"outbox_dir": "out"})
    doc = yaml.safe_load(config.read_text())
    doc["fetch"].update(timeout_seconds=timeout, retries=2)
    config.write_text(yaml.safe_dump(doc))
    started = clock.monotonic()
    assert main(["run", "-c", str(config), "--once", "--force"]) == 0
    elapsed = clock.monotonic() - started
    print(f"\nrun --once with trickling, silent and resetting feeds: {elapsed:.1f} s "
          f"(fetch timeout {timeout:g} s)")
    assert elapsed < 2 * timeout + 2  # + start-up, ranking and delivery
    with Session(open_database(db)) as s:
        feeds = {f.name: f for f in s.exec(select(Feed)).all()}
    assert all(feeds[n].error_count == 1 for n in ("trickle", "silent", "reset"))
    assert "within 2 s" in (feeds["silent"].last_error or "")
    assert feeds["arxiv-rss"].error_count == 0 and feeds["arxiv-atom"].error_count == 0
    assert len(list((tmp_path / "out").glob("*.eml"))) == 1  # ada got her digest all the same
