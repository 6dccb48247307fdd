"""Importing a library: ids resolved, titles matched, the rest kept as text; the CLI on a real
SQLite file; imported papers steer the ranking and are never digest candidates themselves."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.cli import main
from digest.clock import utcnow
from digest.config import load_config
from digest.library import read_library
from digest.library.resolve import store_library
from digest.rank.stored import interest_of, liked_texts, rank_papers
from digest.storage.db import open_database, session_scope
from digest.storage.models import Origin, Subscriber
from digest.storage.papers import LIKED_SOURCE, papers_first_seen, upsert_papers
from digest.storage.subscribers import (
    find_subscriber,
    liked_ids,
    liking_subscribers,
    sync_subscribers,
)
from digest.web.actions import apply_settings
from digest.web.forms import parse_subscription
from tests.factories import record

LIBRARY = Path(__file__).parent / "data" / "library"
NERF = "NeRF: representing scenes as neural radiance fields for view synthesis."


def write_config(tmp_path: Path) -> Path:
    doc = {"database": f"sqlite:///{tmp_path / 'digest.db'}",
           "delivery": {"from": "Paper Digest <digest@lab.example>", "outbox_dir": "sent"},
           "subscribers": [{"email": "ada@example.org", "topics": ["neural rendering"],
                            "liked": ["2106.09685"]}]}
    path = tmp_path / "digest.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def library(engine: Engine, email: str = "ada@example.org") -> dict[str, dict[str, object]]:
    with Session(engine) as session:
        row = find_subscriber(session, email)
        assert row is not None
        return {e["id"]: e for e in row.interests.get("library", [])}


def test_cli_imports_bibtex_then_ris_into_liked_papers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = write_config(tmp_path)
    config = load_config(config_path)
    engine = open_database(config.database)
    with session_scope(engine) as session:  # NeRF is stored (arXiv), with its journal DOI
        upsert_papers(session, "arxiv", [record("2003.08934", title=NERF, doi="10.1145/3503250",
                                                abstract="Volumetric scene functions.")])
    args = ["subscribers", "import-library", "-c", str(config_path), "ada@example.org"]
    assert main([*args, str(LIBRARY / "zotero.bib")]) == 0
    out = capsys.readouterr().out
    assert "zotero.bib (BibTeX): 7 papers added — 4 by arXiv id, 1 by DOI, 1 by title among " \
           "stored papers, 1 kept as text" in out
    assert "2 entries skipped:" in out and "entry empty_2022 (line 75): no title" in out
    assert "the entry at line 63: Unexpected block start" in out
    stored = library(engine)
    assert {"1706.03762", "2308.04079", "hep-th/9711200", "2302.13971",
            "doi:10.1162/089976698300017467"} <= set(stored)
    assert stored["2003.08934"]["via"] == "title"  # matched despite case and the final period
    text = [e for e in stored.values() if e["via"] == "text"]
    assert [e["title"] for e in text] == ["Teoría de la señal: Fundamentos para Ingeniería"]
    assert stored["1706.03762"]["abstract"]  # not stored yet: the file's abstract is kept
    assert "abstract" not in stored["2003.08934"]  # stored: the paper's own text is used

    assert main([*args, str(LIBRARY / "mendeley.ris")]) == 0
    out = capsys.readouterr().out  # NeRF by its journal DOI and Kerbl are known already
    assert "2 papers added — 1 by arXiv id, 0 by DOI, 0 by title among stored papers, " \
           "1 kept as text" in out and "2 already liked" in out
    assert "your library now holds 9 papers" in out

    with session_scope(engine) as session:  # the config file does not own the library
        sync_subscribers(session, config.subscribers)
    with Session(engine) as session:
        row = find_subscriber(session, "ada@example.org")
        assert row is not None and row.origin == Origin.CONFIG
        ids = liked_ids(row.interests)
        assert ids[0] == "2106.09685" and "2005.14165" in ids and len(ids) == 10
        interest = interest_of(row)
        assert set(interest.liked) == set(ids)
        texts = liked_texts(session, [interest])
    assert texts["2003.08934"] == (NERF, "Volumetric scene functions.")
    assert texts["1706.03762"][0] == "Attention Is All You Need"

    assert main([*args, "--replace", str(LIBRARY / "zotero.json")]) == 0
    assert "your library now holds 3 papers" in capsys.readouterr().out
    assert set(library(engine)) >= {"2302.13971", "doi:10.1038/nature14539"}


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path))
    bib = str(LIBRARY / "zotero.bib")
    assert main(["subscribers", "import-library", "-c", config, "nobody@example.org", bib]) == 2
    assert "no subscriber 'nobody@example.org'" in capsys.readouterr().err
    bad = tmp_path / "notes.bib"
    bad.write_text("@article{x, title = {unclosed\n")
    assert main(["subscribers", "import-library", "-c", config, "ada@example.org",
                 str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: cannot read this as BibTeX: no usable entry: the entry at line 1" in err
    assert main(["subscribers", "import-library", "-c", config, "ada@example.org",
                 str(tmp_path / "missing.ris")]) == 2
    assert "No such file" in capsys.readouterr().err


def subscriber(session: Session, email: str = "bo@example.org") -> Subscriber:
    row = Subscriber(email=email, origin=Origin.WEB, token_nonce="n", interests={})
    session.add(row)
    session.flush()
    return row


def test_kept_as_text_steers_ranking_but_is_never_a_candidate(engine: Engine) -> None:
    bib = (b"@article{own, title = {Gaussian splatting of city blocks from drone imagery},"
           b" abstract = {We fit anisotropic gaussian splats to aerial photographs of city "
           b"blocks and render them in real time.}, year = 2024}")
    now = utcnow()
    with session_scope(engine) as session:
        upsert_papers(session, "arxiv", [
            record("2601.00001", title="Real-time gaussian splats for aerial city scenes",
                   abstract="Aerial photographs of city blocks become gaussian splats."),
            record("2601.00002", title="A survey of protein folding",
                   abstract="Proteins fold into structures.")], now=now)
        row = subscriber(session)
        report = store_library(session, row, read_library(bib, "own.bib"), "own.bib")
        assert report.added["text"] == 1
    with Session(engine) as session:
        candidates = papers_first_seen(session, now - timedelta(hours=1))
        row = find_subscriber(session, "bo@example.org")
        assert row is not None
        picks = rank_papers(session, candidates, [interest_of(row)])["bo@example.org"]
    assert sorted(p.canonical_id for p in candidates) == ["2601.00001", "2601.00002"]
    assert [p.id for p in picks] == ["2601.00001"]  # the only profile is the library text
    assert [r.kind for r in picks[0].reasons] == ["liked"]


def test_papers_only_the_liked_lookup_brought_are_not_candidates(engine: Engine) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        upsert_papers(session, LIKED_SOURCE, [record("1706.03762"), record("2601.00003")], now=now)
        upsert_papers(session, "arxiv", [record("2601.00004")], now=now)
        upsert_papers(session, "arxiv", [record("2601.00003")], now=now)  # a feed saw it too
    with Session(engine) as session:
        found = papers_first_seen(session, now - timedelta(hours=1))
    assert [p.canonical_id for p in found] == ["2601.00003", "2601.00004"]


def test_library_survives_a_form_save_and_counts_as_liking(engine: Engine) -> None:
    with session_scope(engine) as session:
        row = subscriber(session)
        subscriber(session, "cy@example.org")  # likes nothing
        store_library(session, row, read_library(
            b"TY  - JOUR\nTI  - T\nUR  - https://arxiv.org/abs/2301.01234\nER  - \n", "a.ris"),
            "a.ris")
    with session_scope(engine) as session:
        assert [s.email for s in liking_subscribers(session)] == ["bo@example.org"]
        row = find_subscriber(session, "bo@example.org")
        assert row is not None
        wanted = parse_subscription(Form(topics="splats"), email=row.email).subscriber
        assert wanted is not None
        apply_settings(row, wanted)  # what the manage page's "Save changes" does
        assert liked_ids(row.interests) == ["2301.01234"] and row.interests["topics"] == ["splats"]


class Form(dict[str, str]):
    """The little of a Starlette form that parse_subscription reads."""

    def getlist(self, name: str) -> list[str]:
        return []
