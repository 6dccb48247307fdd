"""The ranker against the database: stored papers and subscribers in, picks with reasons out."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.clock import utcnow
from digest.errors import SemanticUnavailableError
from digest.rank import Candidate, CorpusStats, Interest, Pick, RankParams, Vote, rank
from digest.rank.semantic import Embedder, SemanticInputs, load_embedder, paper_text
from digest.rank.textfeat import doc_terms
from digest.storage.db import session_scope
from digest.storage.feedback import votes_of
from digest.storage.lock import EMBED_CLASS, claim_ids
from digest.storage.models import Paper, Subscriber
from digest.storage.papers import (
    corpus_sample,
    corpus_version,
    papers_by_canonical_id,
    papers_without_embedding,
    save_embeddings,
    stored_embeddings,
    texts_of,
)
from digest.storage.settings import add_settings, read_setting, read_settings, write_setting
from digest.storage.subscribers import library_texts, liked_ids
from digest.text import one_line

if TYPE_CHECKING:
    from digest.config import Config  # annotations only: config depends on the ranker's limits

CORPUS_SAMPLE = 20_000
# Liked papers the ranker reads per subscriber (the config's first, then the imported library's,
# newest first): each is a query row for every candidate, so a 500-paper library must not
# make every subscriber's score blocks 500 rows wide.
RANKED_LIKED = 50
log = logging.getLogger(__name__)
EMBED_DAYS = 7.0  # papers changed this recently get their embedding right after a poll


def candidate_of(paper: Paper) -> Candidate:
    """The ranker's view of a stored paper."""
    upvotes = paper.signals.get("hf_upvotes")
    return Candidate(id=paper.canonical_id, title=paper.title, abstract=paper.abstract,
                     authors=tuple(paper.authors), categories=tuple(paper.categories),
                     upvotes=int(upvotes) if isinstance(upvotes, int | float) else None,
                     version=paper.version)


def interest_of(row: Subscriber) -> Interest:
    """The ranker's view of a stored subscriber (control characters a row may still hold from
    before they were refused at input become spaces)."""
    i = row.interests

    def strings(name: str) -> tuple[str, ...]:
        return tuple(s for x in i.get(name) or () if (s := one_line(str(x))))

    return Interest(
        key=row.email, topics=strings("topics"), keywords=strings("keywords"),
        authors=strings("authors"), categories=strings("categories"),
        categories_only=bool(i.get("categories_only")), exclude=strings("exclude"),
        liked=tuple(s for x in liked_ids(i) if (s := one_line(x)))[:RANKED_LIKED],
        min_score=float(i.get("min_score") or 0.0),
        max_papers=int(i.get("max_papers") or 10),
        trending_weight=float(i.get("trending_weight", 0.1)),
    )


def interests_with_votes(session: Session, rows: Sequence[Subscriber],
                         now: datetime | None = None) -> list[Interest]:
    """`interest_of` each stored subscriber, with their votes attached (`Interest.votes`, ages
    counted from `now`); the votes are read in one query per chunk of subscribers."""
    now = now or utcnow()
    stored = votes_of(session, [r.id for r in rows if r.id is not None])
    votes = {sid: tuple(Vote(v.paper_id, v.value,
                             max(0.0, (now - v.at).total_seconds() / 86_400)) for v in given)
             for sid, given in stored.items()}
    return [replace(interest_of(r), votes=votes.get(r.id or 0, ())) for r in rows]


_STATS: dict[tuple[str, int, int, datetime | None], CorpusStats] = {}


def corpus_stats(session: Session, sample: int = CORPUS_SAMPLE) -> CorpusStats:
    """Document frequencies over the most recent `sample` stored papers.

    Fitted once per corpus version (a new or updated paper makes a new one) and kept in the
    database, so every later process (`digest rank`, each replica) reads them instead of
    refitting; kept per process too, for the many ranking calls of one delivery run.
    """
    version = corpus_version(session)
    key = (str(session.get_bind().engine.url), *version)
    cached = _STATS.get(key)
    if cached is not None:
        return cached
    stats = _stored_stats(session, version, sample)
    if stats is None:
        rows = corpus_sample(session, sample)
        stats = CorpusStats.fit(doc_terms(t, a, frozenset()) for t, a in rows)
        write_setting(session, STATS_SETTING, json.dumps(
            {"version": _version_key(version, sample), "n_docs": stats.n_docs,
             "avg_len": stats.avg_len, "df": stats.df}, separators=(",", ":")))
    _STATS.clear()  # another thread may clear it too: return our own value
    _STATS[key] = stats
    return stats


STATS_SETTING = "corpus_stats"


def _version_key(version: tuple[int, int, datetime | None], sample: int) -> list[object]:
    newest, count, changed = version
    return [newest, count, changed.isoformat() if changed else None, sample]


def _stored_stats(session: Session, version: tuple[int, int, datetime | None],
                  sample: int) -> CorpusStats | None:
    """The statistics stored for this corpus version, or None (none yet, or stale)."""
    raw = read_setting(session, STATS_SETTING)
    try:
        data = json.loads(raw) if raw else None
        if not data or data["version"] != _version_key(version, sample):
            return None
        return CorpusStats(int(data["n_docs"]), Counter(data["df"]), float(data["avg_len"]))
    except (ValueError, KeyError, TypeError):  # unreadable: refit and overwrite
        return None


def liked_texts(session: Session, interests: Sequence[Interest]) -> dict[str, tuple[str, str]]:
    """Title and abstract of every paper some subscriber liked: the stored paper's, else the
    text their imported library holds for it (kept-as-text entries are never stored papers,
    so they steer the ranking without ever being a digest candidate)."""
    own = library_texts(session, [i.key for i in interests])  # imported, not stored (yet)
    return {**own, **texts_of(session, [p for i in interests for p in i.known_papers])}


def rank_papers(session: Session, papers: Sequence[Paper], interests: Sequence[Interest],
                params: RankParams | None = None,
                already_sent: dict[str, set[str]] | None = None,
                embedder: Embedder | None = None,
                liked: dict[str, tuple[str, str]] | None = None) -> dict[str, list[Pick]]:
    """Rank `papers` for every subscriber at once (the path `digest rank` and digests share)."""
    stats = corpus_stats(session)
    candidates = [candidate_of(p) for p in papers]
    semantic = None
    if embedder is not None and papers:
        try:
            semantic = semantic_inputs(session, embedder, papers, interests)
        except SemanticUnavailableError as exc:  # the model broke on load: lexical-only
            _warn_lexical_only(embedder.name, str(exc))
    return rank(candidates, interests, stats=stats,
                liked_texts=liked if liked is not None else liked_texts(session, interests),
                params=params, already_sent=already_sent, semantic=semantic,
                categories=voted_categories(session, interests)
                if (params or RankParams()).feedback_category else None)


def voted_categories(session: Session, interests: Sequence[Interest]
                     ) -> dict[str, tuple[str, ...]]:
    """Categories of the papers voters voted on or liked (features of their feedback model)."""
    ids = sorted({p for i in interests if i.votes for p in i.known_papers})
    return {p.canonical_id: tuple(p.categories)
            for p in papers_by_canonical_id(session, ids)} if ids else {}


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
    stored = stored_embeddings(session, embedder.name, [p.id for p in papers if p.id is not None])
    missing = [p for p in papers if p.id not in stored or stored[p.id][0] != p.version]
    if missing:
        fresh = encode_papers(embedder, missing)
        save_embeddings(session, embedder.name, list(zip(missing, fresh, strict=True)))
        stored.update({p.id or 0: (p.version, data) for p, data in zip(missing, fresh, strict=True)})
    return np.vstack([np.frombuffer(stored[p.id or 0][1], dtype=np.float32) for p in papers]) \
        if papers else np.zeros((0, 0), dtype=np.float32)


def encode_papers(embedder: Embedder, papers: Sequence[Paper]) -> list[bytes]:
    """float32 bytes of each paper's embedding, computed now."""
    vectors = embedder.encode([paper_text(p.title, p.abstract) for p in papers])
    return [v.astype(np.float32).tobytes() for v in vectors]


def embed_recent_papers(engine: Engine, config: Config, days: float = EMBED_DAYS,
                        batch: int = 256) -> int:
    """Compute and store the embeddings of papers changed in the last `days` that have none
    yet (after a poll, so compose finds them ready); returns how many. Without a semantic
    ranker it does nothing."""
    embedder = semantic_embedder(config)
    if embedder is None:
        return 0
    since, last, done = utcnow() - timedelta(days=days), 0, 0
    while True:
        with session_scope(engine) as session:
            papers = papers_without_embedding(session, embedder.name, since, batch, last)
            if not papers:
                return done
            last = papers[-1].id or last
            with claim_ids(engine, EMBED_CLASS, [p.id or 0 for p in papers]) as ours:
                mine = [p for p in papers if p.id in set(ours)]  # replicas share the work
                save_embeddings(session, embedder.name,
                                list(zip(mine, encode_papers(embedder, mine), strict=True)))
                session.commit()
        done += len(mine)


def text_embeddings(session: Session, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of short texts (topics), cached in the database under the model's
    identity: a ranking with nothing new to encode never loads the model."""
    if not texts:
        return np.zeros((0, 0), np.float32)
    keys = {t: "emb:" + hashlib.sha1(f"{embedder.name}\n{t}".encode()).hexdigest()
            for t in texts}
    stored = read_settings(session, list(keys.values()))
    vectors = {t: np.frombuffer(base64.b64decode(stored[k]), dtype=np.float32)
               for t, k in keys.items() if k in stored}
    missing = [t for t in texts if t not in vectors]
    if missing:
        for text, vector in zip(missing, embedder.encode(missing), strict=True):
            vectors[text] = vector.astype(np.float32)
        add_settings(session, {keys[t]: base64.b64encode(vectors[t].tobytes()).decode()
                               for t in missing})
    return np.vstack([vectors[t] for t in texts])


def semantic_inputs(session: Session, embedder: Embedder, papers: Sequence[Paper],
                    interests: Sequence[Interest]) -> SemanticInputs:
    """Embeddings of the candidates (cached), of every topic, and of every liked paper."""
    topics = sorted({t for i in interests for t in i.topics})
    liked_ids = sorted({p for i in interests for p in i.known_papers})  # voted ones too
    liked_rows = papers_by_canonical_id(session, liked_ids)
    topic_vectors = text_embeddings(session, embedder, topics)
    liked_vectors = cached_embeddings(session, embedder, liked_rows)
    return SemanticInputs(
        papers=cached_embeddings(session, embedder, papers),
        topics=dict(zip(topics, topic_vectors, strict=True)),
        liked={p.canonical_id: v for p, v in zip(liked_rows, liked_vectors, strict=True)})


def semantic_embedder(config: Config) -> Embedder | None:
    """The configured embedder, or None when the semantic ranker is off or cannot load (then
    ranking is lexical-only, and the log says why, once per process)."""
    sem = config.ranking.semantic
    if not sem.enabled:
        return None
    try:
        return load_embedder(sem.backend, sem.model)
    except SemanticUnavailableError as exc:
        _warn_lexical_only(sem.backend, str(exc))
        return None


def ranker_description(config: Config) -> str:
    """What ranks the digests, for `digest status`: lexical + semantic (the model) or
    lexical-only and why."""
    sem = config.ranking.semantic
    if not sem.enabled:
        return "lexical-only (ranking.semantic.enabled is false)"
    try:
        return f"lexical + semantic ({load_embedder(sem.backend, sem.model).name})"
    except SemanticUnavailableError as exc:
        return f"lexical-only: the semantic ranker ({sem.backend}) is unavailable: {exc}"


@lru_cache(maxsize=8)
def _warn_lexical_only(backend: str, reason: str) -> None:
    log.warning("semantic ranker (%s) unavailable, ranking lexical-only: %s", backend, reason)


def rank_params(config: Config) -> RankParams:
    """Ranking knobs from the config (defaults chosen on the dev set)."""
    weight = config.ranking.semantic.weight  # scales both semantic signals together
    defaults = RankParams()
    return RankParams(w_semantic=defaults.w_semantic * weight,
                      w_semantic_liked=defaults.w_semantic_liked * weight)
