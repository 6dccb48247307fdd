"""A liked or voted arXiv id the API does not have is asked for once a day at most (a retry time
per id, in the database), against a real loopback arXiv API."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from digest.cli import main
from digest.clock import utcnow
from digest.config import load_config
from digest.ingest.poll import poll_sources
from digest.storage.db import open_database
from digest.storage.models import Paper, PaperLookup
from tests.conftest import read_data
from tests.feedserver import FeedServer, Reply

EMPTY = json.loads(read_data("arxiv_api_recordings/id_0000.0000_s0_m100_8b51d9633a68.json"))
REFUSED = "arxiv_api_recordings/id_abc_s0_m100_b79c8dcf6bc3.json"  # arXiv's 400 error feed
FOUND = "arxiv_api_query_cs.AI+cs.LG+cs.CL_2026-08-02.atom.xml"  # holds 2607.28628
DEMO = Path(__file__).parents[1] / "config" / "demo"


def setup(tmp_path: Path, server: FeedServer, db_url: str) -> Path:
    """A config: one small local source, a subscriber who liked 2607.28628 (which the server
    does not have at first) and the loopback server as the arXiv API."""
    data = tmp_path / "day.jsonl"
    data.write_text((DEMO / "2026-06-11.jsonl").read_text().splitlines()[0] + "\n")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "database": db_url,
        "fetch": {"arxiv_api_url": server.serve("/api/query", Reply(EMPTY["body"].encode())),
                  "polite_hosts": {}},
        "ranking": {"semantic": {"enabled": False}},
        "sources": [{"name": "day", "type": "jsonl", "path": str(data)}],
        "subscribers": [{"email": "ada@example.org", "topics": ["graphs"],
                         "liked": ["2607.28628"]}]}))
    return path


def test_an_id_arxiv_does_not_have_is_asked_for_once_a_day(
        tmp_path: Path, feed_server: FeedServer, db_url: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    config_path = setup(tmp_path, feed_server, db_url)
    config = load_config(config_path)
    engine = open_database(config.database)
    assert main(["feedback", "-c", str(config_path), "--subscriber", "ada@example.org",
                 "--more", "2601.99999"]) == 0
    start = utcnow()

    def poll(after: timedelta) -> int:
        asyncio.run(poll_sources(config, engine, force=True, now=start + after))
        return len(feed_server.hits_for("/api/query"))

    assert poll(timedelta(0)) == 1  # both ids in one request, neither found
    assert "id_list=2601.99999%2C2607.28628" in feed_server.hits[-1].query
    assert poll(timedelta(hours=1)) == 1
    assert poll(timedelta(hours=23)) == 1
    assert main(["rank", "-c", str(config_path), "--subscriber", "ada@example.org"]) == 0
    assert len(feed_server.hits_for("/api/query")) == 1  # digest rank knows it too
    with Session(engine) as s:
        assert {(r.canonical_id, r.failures) for r in s.exec(select(PaperLookup))} == {
            ("2601.99999", 1), ("2607.28628", 1)}
    feed_server.serve("/api/query", Reply(read_data(FOUND)))  # arXiv has one of them now
    assert poll(timedelta(hours=24, minutes=5)) == 2
    assert poll(timedelta(hours=25)) == 2
    with Session(engine) as s:
        assert s.exec(select(Paper).where(Paper.canonical_id == "2607.28628")).one()
        assert [(r.canonical_id, r.failures) for r in s.exec(select(PaperLookup))] == [
            ("2601.99999", 2)]  # found: forgotten; still missing: counted, asked tomorrow
    assert poll(timedelta(hours=48, minutes=10)) == 3
    assert "id_list=2601.99999&" in feed_server.hits[-1].query + "&"
    capsys.readouterr()


def test_an_id_the_api_refuses_costs_the_others_nothing_and_waits_a_day(
        tmp_path: Path, feed_server: FeedServer, db_url: str) -> None:
    config_path = setup(tmp_path, feed_server, db_url)
    config = load_config(config_path)
    engine = open_database(config.database)
    assert main(["feedback", "-c", str(config_path), "--subscriber", "ada@example.org",
                 "--more", "2613.00001"]) == 0  # month 13: arXiv answers 400 to the whole batch
    refused = Reply(json.loads(read_data(REFUSED))["body"].encode(), status=400)
    feed_server.serve("/api/query", refused, Reply(read_data(FOUND)), refused)
    start = utcnow()
    asyncio.run(poll_sources(config, engine, force=True, now=start))
    asked = [h.query for h in feed_server.hits_for("/api/query")]
    assert len(asked) == 3  # the batch, then each id alone
    assert "id_list=2607.28628&" in asked[1] and "id_list=2613.00001&" in asked[2]
    with Session(engine) as s:
        assert s.exec(select(Paper).where(Paper.canonical_id == "2607.28628")).one()
        assert [r.canonical_id for r in s.exec(select(PaperLookup))] == ["2613.00001"]
    asyncio.run(poll_sources(config, engine, force=True, now=start + timedelta(hours=2)))
    assert len(feed_server.hits_for("/api/query")) == 3


def many_liked(tmp_path: Path, server: FeedServer, db_url: str, liked: list[str]) -> Path:
    """`setup`'s config, its subscriber liking `liked`."""
    path = setup(tmp_path, server, db_url)
    doc = yaml.safe_load(path.read_text())
    doc["subscribers"][0]["liked"] = liked
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_refused_batch_is_asked_again_in_halves(
        tmp_path: Path, feed_server: FeedServer, db_url: str) -> None:
    good = [f"2601.{n:05d}" for n in range(1, 16)]
    config = load_config(many_liked(tmp_path, feed_server, db_url, [*good, "2613.00001"]))
    refused = Reply(json.loads(read_data(REFUSED))["body"].encode(), status=400)
    empty = Reply(EMPTY["body"].encode())
    # sixteen ids, the last one bad: the batch, then each half holding it is refused
    feed_server.serve("/api/query", refused, empty, refused, empty, refused, empty, refused,
                      empty, refused)
    asyncio.run(poll_sources(config, open_database(config.database), force=True))
    asked = [h.query.split("id_list=")[1].split("&")[0].split("%2C")
             for h in feed_server.hits_for("/api/query")]
    assert [len(a) for a in asked] == [16, 8, 8, 4, 4, 2, 2, 1, 1]  # not 1 + 16
    assert asked[-1] == ["2613.00001"] and asked[1] == good[:8]


@pytest.mark.parametrize("status", [403, 404])
def test_an_answer_not_from_the_arxiv_api_records_no_id_as_not_found(
        status: int, tmp_path: Path, feed_server: FeedServer, db_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(setup(tmp_path, feed_server, db_url))
    feed_server.serve("/api/query", Reply(b"<html>Forbidden</html>", status=status))
    engine = open_database(config.database)
    with caplog.at_level(logging.ERROR, logger="digest.ingest.poll"):
        asyncio.run(poll_sources(config, engine, force=True))
    assert len(feed_server.hits_for("/api/query")) == 1  # not asked id by id either
    with Session(engine) as s:
        assert not s.exec(select(PaperLookup)).all()  # asked again at the next poll
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and f"HTTP {status}" in errors[0]
    assert "check fetch.arxiv_api_url" in errors[0]
    asyncio.run(poll_sources(config, engine, force=True))
    assert len(feed_server.hits_for("/api/query")) == 2
