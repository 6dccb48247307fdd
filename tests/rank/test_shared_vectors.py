"""Replicas ranking the same new papers on PostgreSQL share their encoding: papers are claimed,
encoded and saved a batch at a time, and a replica waiting for another's papers waits as long
as that one makes progress, so no paper is encoded twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest
from sqlmodel import Session, select

from digest.clock import utcnow
from digest.rank import Interest, stored
from digest.rank.semantic import Embedder, load_embedder
from digest.sources import hf_daily
from digest.storage.db import make_engine, migrate, session_scope
from digest.storage.models import Paper, PaperEmbedding
from digest.storage.papers import upsert_papers
from tests.conftest import read_data
from tests.factories import HF_DAY
from tests.web.test_preview_claims import encoded_ids

SECONDS_PER_TEXT = 0.08  # a slower CPU: 30 papers take ~2.4 s, a batch of 8 ~0.6 s


class Slow:
    """The real model on a slower CPU, counting the texts it encodes."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.encoded = inner, inner.name, 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The inner model's vectors, after SECONDS_PER_TEXT a text."""
        time.sleep(SECONDS_PER_TEXT * len(texts))
        self.encoded += len(texts)
        return self.inner.encode(texts)


def test_two_replicas_ranking_the_same_new_papers_encode_each_once(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database (SQLite has one daemon)")
    monkeypatch.setattr(stored, "EMBED_BATCH", 8)
    monkeypatch.setattr(stored, "CLAIM_WAIT_SECONDS", 1.5)  # longer than a batch, not all
    engine = make_engine(db_url)
    migrate(engine)
    with session_scope(engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), utcnow() - timedelta(hours=1))
    model = load_embedder("onnx", None)
    replicas = [Slow(model), Slow(model)]
    start, got = threading.Barrier(2), []

    def rank(embedder: Slow) -> None:
        replica = make_engine(db_url)  # a replica's own pool
        with Session(replica) as session:
            papers = list(session.exec(select(Paper).order_by(Paper.id)).all())  # type: ignore[arg-type]
            start.wait()
            vectors = stored.claimed_vectors(session, embedder, papers, [])
            got.append(sorted(vectors) == sorted(p.id for p in papers))
        replica.dispose()

    threads = [threading.Thread(target=rank, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with Session(engine) as s:
        stored_count = len(s.exec(select(PaperEmbedding)).all())
    assert got == [True, True] and stored_count == 30
    assert [r.encoded > 0 for r in replicas] == [True, True]  # both did part of the work
    assert sum(r.encoded for r in replicas) == 30  # and none twice


def test_a_liked_paper_in_the_window_is_encoded_once(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    with session_scope(engine) as s:
        upsert_papers(s, "hf", hf_daily.parse(read_data(HF_DAY)), utcnow() - timedelta(hours=1))
    encoded = encoded_ids(monkeypatch)
    with session_scope(engine) as s:
        papers = list(s.exec(select(Paper).order_by(Paper.id)).all())  # type: ignore[arg-type]
        reader = Interest("r@example.org", topics=("language models",),
                          liked=(papers[0].canonical_id, papers[1].canonical_id))
        inputs = stored.semantic_inputs(s, load_embedder("onnx", None), papers, [reader])
    assert sorted(encoded) == sorted(p.id for p in papers)  # each once
    assert inputs.papers.shape[0] == 30 and set(inputs.liked) == set(reader.liked)
    assert np.array_equal(inputs.liked[reader.liked[0]], inputs.papers[0])
