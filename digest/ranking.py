"""The ranking stage against the database: candidates, corpus statistics, liked papers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from digest.models import Paper
from digest.rank import Candidate, CorpusStats, Interest, Pick, RankParams, rank
from digest.rank.textfeat import doc_terms

CORPUS_SAMPLE = 20_000


def candidate_of(paper: Paper) -> Candidate:
    """The ranker's view of a stored paper."""
    upvotes = paper.signals.get("hf_upvotes")
    return Candidate(id=paper.canonical_id, title=paper.title, abstract=paper.abstract,
                     authors=tuple(paper.authors), categories=tuple(paper.categories),
                     upvotes=int(upvotes) if isinstance(upvotes, int | float) else None,
                     version=paper.version)


def papers_published(session: Session, since: date, until: date) -> list[Paper]:
    """Stored papers whose `published` date (UTC) falls in [since, until]."""
    start, end = _utc(since), _utc(until + timedelta(days=1))
    stmt = select(Paper).where(col(Paper.published) >= start, col(Paper.published) < end)
    return list(session.exec(stmt.order_by(col(Paper.id))).all())


def papers_first_seen(session: Session, since: datetime, until: datetime | None = None) -> list[Paper]:
    """Stored papers first seen in [since, until)."""
    stmt = select(Paper).where(col(Paper.first_seen_at) >= since)
    if until is not None:
        stmt = stmt.where(col(Paper.first_seen_at) < until)
    return list(session.exec(stmt.order_by(col(Paper.id))).all())


def _utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def corpus_stats(session: Session, sample: int = CORPUS_SAMPLE) -> CorpusStats:
    """Document frequencies over the most recent `sample` stored papers."""
    rows = session.exec(select(Paper.title, Paper.abstract)
                        .order_by(col(Paper.id).desc()).limit(sample)).all()
    return CorpusStats.fit(doc_terms(t, a, frozenset()) for t, a in rows)


def liked_texts(session: Session, interests: Sequence[Interest]) -> dict[str, tuple[str, str]]:
    """Title and abstract of every stored paper some subscriber liked."""
    ids = sorted({p for i in interests for p in i.liked})
    out: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), 500):
        rows = session.exec(select(Paper.canonical_id, Paper.title, Paper.abstract)
                            .where(col(Paper.canonical_id).in_(ids[start:start + 500]))).all()
        out.update({pid: (title, abstract) for pid, title, abstract in rows})
    return out


def missing_liked(session: Session, interests: Sequence[Interest]) -> list[str]:
    """Liked arXiv ids not stored yet (to fetch once from the arXiv API)."""
    wanted = sorted({p for i in interests for p in i.liked})
    have = set(liked_texts(session, interests))
    return [p for p in wanted if p not in have]


def rank_papers(session: Session, papers: Sequence[Paper], interests: Sequence[Interest],
                params: RankParams | None = None,
                already_sent: dict[str, set[str]] | None = None) -> dict[str, list[Pick]]:
    """Rank `papers` for every subscriber at once (the path `digest rank` and digests share)."""
    stats = corpus_stats(session)
    candidates = [candidate_of(p) for p in papers]
    return rank(candidates, interests, stats=stats, liked_texts=liked_texts(session, interests),
                params=params, already_sent=already_sent)


def stored_count(session: Session) -> int:
    """How many papers are stored."""
    return int(session.exec(select(func.count()).select_from(Paper)).one())


def picks_json(picks: Sequence[Pick]) -> list[dict[str, Any]]:
    """The stable `digest rank --json` output."""
    return [p.as_json() for p in picks]
