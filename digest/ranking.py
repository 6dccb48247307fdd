"""The ranking stage against the database: candidates, corpus statistics, liked papers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from sqlmodel import Session, col, func, select

from digest.config import Config
from digest.rank import Candidate, CorpusStats, Interest, Pick, RankParams, rank
from digest.rank.semantic import Embedder, SemanticInputs, load_embedder, paper_text
from digest.rank.textfeat import doc_terms
from digest.storage.models import Paper, PaperEmbedding

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


_STATS: dict[tuple[str, int, int, datetime | None], CorpusStats] = {}


def corpus_stats(session: Session, sample: int = CORPUS_SAMPLE) -> CorpusStats:
    """Document frequencies over the most recent `sample` stored papers.

    Kept per process until the stored corpus changes (a new or updated paper), so the
    many ranking calls of one delivery run fit it once.
    """
    newest, count, changed = session.exec(
        select(func.max(Paper.id), func.count(), func.max(Paper.changed_at))).one()
    key = (str(session.get_bind().engine.url), int(newest or 0), int(count), changed)
    if key not in _STATS:
        rows = session.exec(select(Paper.title, Paper.abstract)
                            .order_by(col(Paper.id).desc()).limit(sample)).all()
        _STATS.clear()
        _STATS[key] = CorpusStats.fit(doc_terms(t, a, frozenset()) for t, a in rows)
    return _STATS[key]


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
                already_sent: dict[str, set[str]] | None = None,
                embedder: Embedder | None = None,
                liked: dict[str, tuple[str, str]] | None = None) -> dict[str, list[Pick]]:
    """Rank `papers` for every subscriber at once (the path `digest rank` and digests share)."""
    stats = corpus_stats(session)
    candidates = [candidate_of(p) for p in papers]
    semantic = semantic_inputs(session, embedder, papers, interests) \
        if embedder is not None and papers else None
    return rank(candidates, interests, stats=stats,
                liked_texts=liked if liked is not None else liked_texts(session, interests),
                params=params, already_sent=already_sent, semantic=semantic)


@dataclass
class Ranked:
    """Picks per subscriber key, and the titles of the liked papers their reasons name."""

    picks: dict[str, list[Pick]]
    liked_titles: dict[str, str]


def rank_configured(session: Session, config: Config, papers: Sequence[Paper],
                    interests: Sequence[Interest],
                    already_sent: dict[str, set[str]] | None = None) -> Ranked:
    """`rank_papers` with the config's knobs and semantic ranker; liked papers read once."""
    liked = liked_texts(session, interests)
    picks = rank_papers(session, papers, interests, rank_params(config), already_sent,
                        semantic_embedder(config), liked)
    return Ranked(picks, {pid: title for pid, (title, _) in liked.items()})


def cached_embeddings(session: Session, embedder: Embedder,
                      papers: Sequence[Paper]) -> np.ndarray:
    """Unit vectors of `papers` (in order): read from the cache, computing and storing misses."""
    ids = [p.id for p in papers if p.id is not None]
    stored: dict[int, tuple[int, bytes]] = {}
    for start in range(0, len(ids), 500):
        rows = session.exec(select(PaperEmbedding.paper_id, PaperEmbedding.version,
                                   PaperEmbedding.vector)
                            .where(PaperEmbedding.model == embedder.name)
                            .where(col(PaperEmbedding.paper_id).in_(ids[start:start + 500]))).all()
        stored.update({pid: (version, vec) for pid, version, vec in rows})
    missing = [p for p in papers if p.id not in stored or stored[p.id][0] != p.version]
    if missing:
        fresh = embedder.encode([paper_text(p.title, p.abstract) for p in missing])
        for paper, vector in zip(missing, fresh, strict=True):
            _store_embedding(session, embedder.name, paper, vector)
            stored[paper.id or 0] = (paper.version, vector.astype(np.float32).tobytes())
    return np.vstack([np.frombuffer(stored[p.id or 0][1], dtype=np.float32) for p in papers]) \
        if papers else np.zeros((0, 0), dtype=np.float32)


def _store_embedding(session: Session, model: str, paper: Paper, vector: np.ndarray) -> None:
    row = session.exec(select(PaperEmbedding).where(PaperEmbedding.paper_id == paper.id,
                                                    PaperEmbedding.model == model)).first()
    row = row or PaperEmbedding(paper_id=paper.id or 0, model=model, vector=b"")
    row.version, row.vector = paper.version, vector.astype(np.float32).tobytes()
    session.add(row)


def semantic_inputs(session: Session, embedder: Embedder, papers: Sequence[Paper],
                    interests: Sequence[Interest]) -> SemanticInputs:
    """Embeddings of the candidates (cached), of every topic, and of every liked paper."""
    topics = sorted({t for i in interests for t in i.topics})
    liked_ids = sorted({p for i in interests for p in i.liked})
    liked_rows = []
    for start in range(0, len(liked_ids), 500):
        liked_rows += list(session.exec(select(Paper).where(
            col(Paper.canonical_id).in_(liked_ids[start:start + 500]))).all())
    topic_vectors = embedder.encode(topics) if topics else np.zeros((0, 0), np.float32)
    liked_vectors = cached_embeddings(session, embedder, liked_rows)
    return SemanticInputs(
        papers=cached_embeddings(session, embedder, papers),
        topics=dict(zip(topics, topic_vectors, strict=True)),
        liked={p.canonical_id: v for p, v in zip(liked_rows, liked_vectors, strict=True)})


def semantic_embedder(config: Config) -> Embedder | None:
    """The configured embedder, or None when the semantic ranker is off."""
    sem = config.ranking.semantic
    return load_embedder(sem.backend, sem.model) if sem.enabled else None


def rank_params(config: Config) -> RankParams:
    """Ranking knobs from the config (defaults chosen on the dev set)."""
    weight = config.ranking.semantic.weight  # scales both semantic signals together
    defaults = RankParams()
    return RankParams(w_semantic=defaults.w_semantic * weight,
                      w_semantic_liked=defaults.w_semantic_liked * weight)
