"""`digest rank` through the database, with liked papers fetched from a loopback arXiv API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from digest.cli import main
from digest.config import load_config
from digest.storage.db import open_database
from digest.storage.models import Paper
from tests.conftest import read_data
from tests.feedserver import FeedServer, Reply

DEMO = Path(__file__).parents[2] / "config" / "demo"
API = "arxiv_api_query_cs.AI+cs.LG+cs.CL_2026-08-02.atom.xml"


def setup(tmp_path: Path, server: FeedServer, subscriber: dict[str, object]) -> Path:
    lines = [json.loads(x) for x in (DEMO / "2026-06-11.jsonl").read_text().splitlines()]
    data = tmp_path / "day.jsonl"
    data.write_text("".join(json.dumps({**x, "published": "2026-06-11"}) + "\n" for x in lines))
    config = {"database": f"sqlite:///{tmp_path}/d.db",
              "fetch": {"arxiv_api_url": server.serve("/api/query", Reply(read_data(API))),
                        "polite_hosts": {}},
              "sources": [{"name": "day", "type": "jsonl", "path": str(data)}],
              "subscribers": [{"email": "ada@example.org", **subscriber}]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["poll", "-c", str(path), "--json"]) == 0
    return path


def rank_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["rank", *args, "--json"]) == 0
    out: list[dict[str, object]] = json.loads(capsys.readouterr().out)
    return out


def test_rank_json_shape_window_and_top(tmp_path: Path, feed_server: FeedServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, feed_server, {"topics": ["3D Gaussian splatting"], "max_papers": 8})
    picks = rank_json(capsys, "-c", str(config), "--subscriber", "ADA@example.org",
                      "--since", "2026-06-11", "--until", "2026-06-11", "--top", "3")
    assert len(picks) == 3 and set(picks[0]) == {"id", "score", "reasons"}
    # the order is the ranker's (diversity may put a near-duplicate of the first below a
    # lower-scored paper); the best-scored paper leads
    assert picks[0]["score"] == max(p["score"] for p in picks)  # type: ignore[type-var]
    outside = rank_json(capsys, "-c", str(config), "--subscriber", "ada@example.org",
                        "--since", "2026-06-12")
    assert outside == []


def test_liked_ids_not_stored_are_fetched_once(tmp_path: Path, feed_server: FeedServer,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, feed_server, {"liked": ["2607.28628"]})
    picks = rank_json(capsys, "-c", str(config), "--subscriber", "ada@example.org",
                      "--since", "2026-06-11")
    hits = feed_server.hits_for("/api/query")
    assert len(hits) == 1 and "id_list=2607.28628" in hits[0].query
    assert picks and any(r["kind"] == "liked" for p in picks for r in p["reasons"])  # type: ignore[attr-defined]
    rank_json(capsys, "-c", str(config), "--subscriber", "ada@example.org", "--since", "2026-06-11")
    assert len(feed_server.hits_for("/api/query")) == 1  # stored now: not fetched again


def test_unknown_subscriber_exits_2(tmp_path: Path, feed_server: FeedServer) -> None:
    config = setup(tmp_path, feed_server, {"topics": ["x"]})
    assert main(["rank", "-c", str(config), "--subscriber", "who@example.org"]) == 2


def test_json_keeps_the_callers_own_ids(tmp_path: Path, feed_server: FeedServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, feed_server, {"topics": ["ribosome profiling of translation"]})
    own = tmp_path / "own.jsonl"
    own.write_text("".join(json.dumps(x) + "\n" for x in [
        {"id": "lab-note-17", "title": "Ribosome profiling of translation in yeast",
         "abstract": "Ribosome profiling measures translation genome-wide.", "published": "2026-06-11"},
        {"id": "10.1101/2026.06.11.555", "title": "Ribosome profiling of translation in mice",
         "abstract": "Ribosome profiling of translation.", "published": "2026-06-11"}]))
    data = yaml.safe_load(config.read_text())
    data["sources"].append({"name": "own", "type": "jsonl", "path": str(own)})
    config.write_text(yaml.safe_dump(data))
    assert main(["poll", "-c", str(config)]) == 0
    picks = rank_json(capsys, "-c", str(config), "--subscriber", "ada@example.org",
                      "--since", "2026-06-11", "--top", "2")
    by_source = {p["source_id"]: p["id"] for p in picks}
    assert by_source.keys() == {"lab-note-17", "10.1101/2026.06.11.555"}
    assert str(by_source["lab-note-17"]).startswith("sha1:")
    assert by_source["10.1101/2026.06.11.555"] == "doi:10.1101/2026.06.11.555"
    others = rank_json(capsys, "-c", str(config), "--subscriber", "ada@example.org",
                       "--since", "2026-06-11", "--top", "5")
    assert all("source_id" not in p for p in others if not str(p["id"]).startswith(("sha1:", "doi:")))


def test_a_vote_on_a_paper_not_stored_yet_fetches_it_once_and_the_ranker_reads_it(
        tmp_path: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, feed_server, {"topics": ["3D Gaussian splatting"]})
    capsys.readouterr()
    assert main(["feedback", "-c", str(config), "--subscriber", "ada@example.org", "--more",
                 "https://arxiv.org/abs/2607.28628v1"]) == 0
    assert capsys.readouterr().out.split() == ["2607.28628", "more", "recorded"]
    rank_json(capsys, "-c", str(config), "--subscriber", "ada@example.org", "--since", "2026-06-11")
    hits = feed_server.hits_for("/api/query")
    assert len(hits) == 1 and "id_list=2607.28628" in hits[0].query
    with Session(open_database(load_config(config).database)) as session:
        assert session.exec(select(Paper).where(Paper.canonical_id == "2607.28628")).one()
    rank_json(capsys, "-c", str(config), "--subscriber", "ada@example.org", "--since", "2026-06-11")
    assert len(feed_server.hits_for("/api/query")) == 1  # stored now: not fetched again
