"""Web previews compute missing paper vectors under the claims the poll's embedding step takes
(`stored.claimed_vectors`): a paper another replica is embedding is waited for and read. They
keep the papers' vectors, not the visitor's topics'."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from digest.clock import utcnow
from digest.rank import stored
from digest.rank.semantic import Embedder, load_embedder
from digest.sources import hf_daily
from digest.storage.db import session_scope
from digest.storage.lock import EMBED_CLASS, claim_ids
from digest.storage.models import Paper, PaperEmbedding, Setting
from digest.storage.papers import save_embeddings, upsert_papers
from tests.conftest import read_data
from tests.factories import HF_DAY
from tests.web.conftest import Site

HOLD_SECONDS = 1.5


def encoded_ids(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Row ids of the papers this process encodes from now on (the real encoder still runs)."""
    seen: list[int] = []
    real = stored.encode_papers

    def spy(embedder: Embedder, papers: Sequence[Paper]) -> list[bytes]:
        seen.extend(p.id or 0 for p in papers)
        return real(embedder, papers)

    monkeypatch.setattr(stored, "encode_papers", spy)
    return seen


def other_replica(site: Site, ids: list[int], claimed: threading.Event) -> None:
    """Another replica's embedding step: claims `ids`, encodes and saves them, then lets go."""
    embedder = load_embedder("onnx", None)
    with claim_ids(site.engine, EMBED_CLASS, ids) as held:
        assert held == ids
        claimed.set()
        with session_scope(site.engine) as session:
            papers = list(session.exec(select(Paper).where(Paper.id.in_(ids))).all())  # type: ignore[union-attr]
            time.sleep(HOLD_SECONDS)  # still encoding when the preview asks
            vectors = embedder.encode([stored.paper_text(p.title, p.abstract) for p in papers])
            save_embeddings(session, embedder.name, [(p, v.tobytes()) for p, v in
                                                     zip(papers, vectors, strict=True)])


def test_a_preview_waits_for_the_papers_another_replica_is_embedding(
        make_site: Any, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database (SQLite has one daemon)")
    site: Site = make_site()
    with session_scope(site.engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), utcnow() - timedelta(hours=1))
    with Session(site.engine) as s:
        ids = sorted(p.id or 0 for p in s.exec(select(Paper)).all())
    theirs, claimed = ids[::2], threading.Event()
    holder = threading.Thread(target=other_replica, args=(site, theirs, claimed))
    holder.start()
    assert claimed.wait(30)
    encoded = encoded_ids(monkeypatch)
    started = time.monotonic()
    page = site.client.post("/", data={"csrf_token": site.csrf(), "action": "preview",
                                       "timezone": "UTC", "send_at": "07:00",
                                       "topics": "large language models evaluation"})
    holder.join()
    assert page.status_code == 200 and "<article" in page.text
    assert sorted(encoded) == sorted(set(ids) - set(theirs))  # theirs were read, not redone
    assert time.monotonic() - started >= HOLD_SECONDS * 0.8  # it waited for them
    with Session(site.engine) as s:
        assert len(s.exec(select(PaperEmbedding)).all()) == len(ids)


def test_a_preview_on_its_own_embeds_and_keeps_every_paper(
        make_site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    site: Site = make_site()
    with session_scope(site.engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), utcnow() - timedelta(hours=1))
    encoded = encoded_ids(monkeypatch)
    form = {"csrf_token": site.csrf(), "action": "preview", "timezone": "UTC",
            "send_at": "07:00", "topics": "large language models evaluation"}
    first = site.client.post("/", data=form)
    assert first.status_code == 200 and len(encoded) == 30
    assert site.client.post("/", data=form).text == first.text
    assert len(encoded) == 30  # the second preview read them all


def test_a_preview_keeps_no_vector_of_the_visitors_topics(make_site: Any) -> None:
    site: Site = make_site()
    with session_scope(site.engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), utcnow() - timedelta(hours=1))
    for n in range(3):  # anyone may type anything: nothing of it may pile up in the database
        form = {"csrf_token": site.csrf(), "action": "preview", "timezone": "UTC",
                "send_at": "07:00", "topics": f"large language models evaluation {n}"}
        page = site.client.post("/", data=form)
        assert page.status_code == 200 and "<article" in page.text
    with Session(site.engine) as s:
        assert not s.exec(select(Setting).where(col(Setting.key).like("emb:%"))).all()
        assert len(s.exec(select(PaperEmbedding)).all()) == 30  # the papers' are kept
