"""Corpus statistics are fitted once per corpus version and kept in the database: a new
process reads them instead of refitting, a new paper makes them refit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

import digest.rank.stored as stored
from digest.clock import utcnow
from digest.rank.textfeat import CorpusStats
from digest.sources import jsonl
from digest.storage.db import session_scope
from digest.storage.papers import upsert_papers
from tests.factories import record

ROOT = Path(__file__).parents[2]


def test_stats_are_stored_reused_by_a_new_process_and_refit_when_the_corpus_changes(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    papers = jsonl.parse((ROOT / "config/demo/2026-06-11.jsonl").read_bytes())
    with session_scope(engine) as s:
        upsert_papers(s, "demo", papers, utcnow() - timedelta(hours=1))
    with session_scope(engine) as s:
        first = stored.corpus_stats(s)
    assert first.n_docs == len({p.canonical_id for p in papers})

    fits: list[int] = []
    real_fit = CorpusStats.fit.__func__  # type: ignore[attr-defined]

    def counting_fit(cls: type[CorpusStats], docs: object) -> CorpusStats:
        fits.append(1)
        return real_fit(cls, docs)

    monkeypatch.setattr(CorpusStats, "fit", classmethod(counting_fit))
    stored._STATS.clear()  # as a new process would start
    with session_scope(engine) as s:
        again = stored.corpus_stats(s)
    assert not fits
    assert (again.n_docs, again.df, again.avg_len) == (first.n_docs, first.df, first.avg_len)

    with session_scope(engine) as s:
        upsert_papers(s, "demo", [record("2601.00001", title="Quasar lensing survey")], utcnow())
    stored._STATS.clear()
    with session_scope(engine) as s:
        refit = stored.corpus_stats(s)
    assert fits and refit.n_docs == first.n_docs + 1 and refit.df["quasar"] == 1
