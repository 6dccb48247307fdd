"""The ranker against the database: stored papers and subscribers in, picks with reasons out."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from digest.clock import utcnow
from digest.errors import SemanticUnavailableError
from digest.rank import Candidate, CorpusStats, Interest, Pick, RankParams, Vote, rank
from digest.rank.semantic import Embedder, SemanticInputs, load_embedder, paper_text
from digest.rank.textfeat import doc_terms
from digest.storage.db import IN_CHUNK, session_scope
from digest.storage.feedback import votes_of
from digest.storage.lock import EMBED_CLASS, claim_ids
from digest.storage.models import Paper, Subscriber
from digest.storage.papers import (
    corpus_sample,
    corpus_version,
    delete_other_embeddings,
    papers_by_canonical_id,
    papers_by_id,
    papers_without_embedding,
    save_embeddings,
    stored_embeddings,
    texts_of,
)
from digest.storage.settings import (
    add_settings,
    delete_settings,
    drop_settings,
    read_setting,
    read_settings,
    setting_keys,
    write_setting,
)
from digest.storage.subscribers import library_texts, liked_ids, subscriber_topics
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
EMBED_BUDGET_SECONDS = 120.0  # at most this long per poll (a first start's backlog spreads)


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
    strings = partial(interest_strings, i)
    return Interest(
        key=row.email, topics=strings("topics"), keywords=strings("keywords"),
        authors=strings("authors"), categories=strings("categories"),
        categories_only=bool(i.get("categories_only")), exclude=strings("exclude"),
        liked=tuple(s for x in liked_ids(i) if (s := one_line(x)))[:RANKED_LIKED],
        min_score=float(i.get("min_score") or 0.0),
        max_papers=int(i.get("max_papers") or 10),
        trending_weight=float(i.get("trending_weight", 0.1)),
    )


def interest_strings(interests: dict[str, Any], name: str) -> tuple[str, ...]:
    """One list of a subscriber's interests as the ranker reads it (each entry on one line,
    empty ones left out)."""
    return tuple(s for x in interests.get(name) or () if (s := one_line(str(x))))


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
                liked: dict[str, tuple[str, str]] | None = None,
                keep_topics: bool = True) -> dict[str, list[Pick]]:
    """Rank `papers` for every subscriber at once (the path `digest rank` and digests share;
    `keep_topics`: see `semantic_inputs`)."""
    stats = corpus_stats(session)
    candidates = [candidate_of(p) for p in papers]
    semantic = semantic_inputs_or_none(session, embedder, papers, interests, keep_topics) \
        if embedder is not None and papers else None
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
                    already_sent: dict[str, set[str]] | None = None,
                    keep_topics: bool = True) -> Ranked:
    """`rank_papers` with the config's knobs and semantic ranker; liked papers read once."""
    liked = liked_texts(session, interests)
    picks = rank_papers(session, papers, interests, rank_params(config), already_sent,
                        semantic_embedder(config), liked, keep_topics)
    return Ranked(picks, {pid: title for pid, (title, _) in liked.items()})


Writes = list[Callable[[], None]]  # database writes put off until every vector is computed


def paper_vectors(session: Session, embedder: Embedder, papers: Sequence[Paper],
                  writes: Writes) -> dict[int, np.ndarray]:
    """Unit vectors of `papers` by row id: read from the cache; the misses are computed under
    the replicas' claims (`claimed_vectors`), or, with `STORED_ONLY`, never: a stored vector
    of another version stands in, and a paper with none is left out."""
    stored = stored_embeddings(session, embedder.name, [p.id for p in papers if p.id is not None])
    missing = [p for p in papers if p.id not in stored or stored[p.id][0] != p.version]
    if missing and STORED_ONLY:
        log.info("%d papers changed since their embeddings were stored; they rank with their "
                 "former vectors, or none, this time", len(missing))
    elif missing:
        stored.update(claimed_vectors(session, embedder, missing, writes))
    return {p.id or 0: np.frombuffer(stored[p.id or 0][1], dtype=np.float32)
            for p in papers if p.id in stored}


def stacked_vectors(papers: Sequence[Paper], vectors: dict[int, np.ndarray]) -> np.ndarray:
    """Unit vectors of `papers` in order, from `paper_vectors`' answer (a paper without one,
    which only `STORED_ONLY` leaves, gets zeros: no semantic part)."""
    if not papers:
        return np.zeros((0, 0), dtype=np.float32)
    found = [vectors[p.id or 0] for p in papers if p.id in vectors]
    if not found:
        raise SemanticUnavailableError(
            "no stored embeddings of these papers, and this process does not load the model",
            "let the poll embed them (digest poll), or see the log of compose's parent process")
    zero = np.zeros(len(found[0]), dtype=np.float32)
    return np.vstack([vectors.get(p.id or 0, zero) for p in papers])


# A compose worker ranks with the vectors its parent stored before starting it and never loads
# the model (+~110 MB a process): a paper changed since keeps its former version's vector, or
# has no semantic part; a topic or liked paper new since is left out of the semantic signals.
# compose.workers sets it in each worker.
STORED_ONLY = False
CLAIM_WAIT_SECONDS = 30.0  # how long ranking waits for papers another process is embedding
CLAIM_POLL_SECONDS = 0.1


def claimed_vectors(session: Session, embedder: Embedder, papers: Sequence[Paper],
                    writes: Writes) -> dict[int, tuple[int, bytes]]:
    """Vectors of these papers (which had none for their version), computed under the same
    claims as `embed_recent_papers`, with the caller's transaction ended first (`end_reads`):
    no connection of the caller's stays idle in a transaction while claims are waited for or
    the model runs. On PostgreSQL `shared_vectors` computes them with the other replicas. On
    SQLite (one daemon) every paper is computed here and saved with the caller's session
    (`writes`), after every vector: the write lock is never held while the model runs."""
    end_reads(session)
    engine = session.get_bind().engine
    if engine.dialect.name == "postgresql":
        return shared_vectors(engine, embedder, papers)
    fresh = list(zip(papers, encode_papers(embedder, papers), strict=True))
    writes.append(partial(save_embeddings, session, embedder.name, fresh))
    return {p.id or 0: (p.version, data) for p, data in fresh}


def end_reads(session: Session) -> None:
    """Commit the caller's transaction (what it loaded stays loaded, its connection goes back
    to the pool) before the model runs: its next query opens a new one."""
    if not session.in_transaction():
        return
    keep, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


EMBED_BATCH = 64  # papers claimed, encoded and saved together (the poll's and ranking's)


def shared_vectors(engine: Engine, embedder: Embedder, papers: Sequence[Paper]
                   ) -> dict[int, tuple[int, bytes]]:
    """PostgreSQL: vectors of these papers, EMBED_BATCH at a time under claims, so replicas
    ranking the same papers share the work: what this process claims is re-checked, encoded
    and saved before its claim is let go; a paper another process holds is waited for and
    read. The wait (CLAIM_WAIT_SECONDS) starts again whenever a paper is done, so only a
    process making no progress at all for that long is given up on (then computed here)."""
    out: dict[int, tuple[int, bytes]] = {}
    todo, deadline = list(papers), time.monotonic() + CLAIM_WAIT_SECONDS
    while todo:
        late, left = time.monotonic() >= deadline, []
        for start in range(0, len(todo), EMBED_BATCH):
            batch = todo[start:start + EMBED_BATCH]
            with claim_ids(engine, EMBED_CLASS, [p.id or 0 for p in batch]) as ours:
                held = {p.id for p in batch} if late else set(ours)
                out.update(_embed_claimed(engine, embedder,
                                          [p for p in batch if p.id in held])[0])
            left += [p for p in batch if p.id not in held]
        if len(left) < len(todo):
            deadline = time.monotonic() + CLAIM_WAIT_SECONDS
        todo = left
        if todo:
            time.sleep(CLAIM_POLL_SECONDS)
    return out


def encode_papers(embedder: Embedder, papers: Sequence[Paper]) -> list[bytes]:
    """float32 bytes of each paper's embedding, computed now."""
    vectors = embedder.encode([paper_text(p.title, p.abstract) for p in papers])
    return [v.astype(np.float32).tobytes() for v in vectors]


def embed_recent_papers(engine: Engine, config: Config, days: float = EMBED_DAYS,
                        batch: int = EMBED_BATCH, budget_seconds: float = EMBED_BUDGET_SECONDS,
                        should_stop: Callable[[], bool] = lambda: False) -> int:
    """Compute and store the embeddings of papers changed in the last `days` that have none
    yet (after a poll, so compose finds them ready); returns how many. It stops after
    `budget_seconds` or when `should_stop()` says so, between batches (the rest waits for
    the next poll, or ranking computes it); replicas claim papers, each embeds its own (a
    paper another process holds is left to it). Without a semantic ranker it does nothing.
    First it drops the vectors nothing reads any more (`prune_text_vectors`,
    `prune_paper_vectors`)."""
    embedder = semantic_embedder(config)
    if embedder is None:
        return 0
    now = utcnow()
    with session_scope(engine) as session:
        prune_text_vectors(session, embedder.name, now.date())
    prune_paper_vectors(engine, embedder.name, now, should_stop)
    with session_scope(engine) as session:
        ids = papers_without_embedding(session, embedder.name, now - timedelta(days=days))
    done, deadline = 0, time.monotonic() + budget_seconds
    for start in range(0, len(ids), batch):
        if should_stop() or time.monotonic() >= deadline:
            break
        with session_scope(engine) as session:
            papers = papers_by_id(session, ids[start:start + batch])
        with claim_ids(engine, EMBED_CLASS, [p.id or 0 for p in papers]) as ours:
            held = set(ours)
            done += _embed_claimed(engine, embedder, [p for p in papers if p.id in held])[1]
    return done


MODEL_SINCE = "paper_vectors_model"  # the poll's model, and since when (JSON)
MODEL_GRACE = timedelta(days=2)  # other models' paper vectors are kept this long after a change
PRUNE_BATCH = IN_CHUNK  # paper vectors deleted in one transaction


def prune_paper_vectors(engine: Engine, model: str, now: datetime,
                        should_stop: Callable[[], bool] = lambda: False) -> int:
    """Delete the stored paper vectors of every model but `model` (~1.5 KB a paper a model)
    once the poll has used `model` for MODEL_GRACE (a rolling upgrade's replicas still on the
    former model keep theirs meanwhile), PRUNE_BATCH rows a transaction; how many."""
    with session_scope(engine) as session:
        since = _model_since(session, model, now)
    dropped = 0
    while now - since >= MODEL_GRACE and not should_stop():
        with session_scope(engine) as session:
            n = delete_other_embeddings(session, model, PRUNE_BATCH)
        dropped += n
        if n < PRUNE_BATCH:
            break
    if dropped:
        log.info("dropped %d paper vectors of other models than %s", dropped, model)
    return dropped


def _model_since(session: Session, model: str, now: datetime) -> datetime:
    """Since when the poll embeds with `model` (now, noted, when it has just changed)."""
    raw = read_setting(session, MODEL_SINCE)
    try:
        data = json.loads(raw) if raw else {}
        if data.get("model") == model:
            return datetime.fromisoformat(data["since"])
    except (ValueError, KeyError, TypeError, AttributeError):  # unreadable: start again
        pass
    write_setting(session, MODEL_SINCE, json.dumps({"model": model, "since": now.isoformat()}))
    return now


def _embed_claimed(engine: Engine, embedder: Embedder, papers: Sequence[Paper]
                   ) -> tuple[dict[int, tuple[int, bytes]], int]:
    """Vectors of the claimed papers, and how many were encoded: those another process stored
    meanwhile are read, the others encoded (no transaction is open while the model runs) and
    saved, all while the caller holds the claims."""
    if not papers:
        return {}, 0
    with session_scope(engine) as session:
        stored = stored_embeddings(session, embedder.name, [p.id or 0 for p in papers])
    ready = {p.id or 0: stored[p.id or 0] for p in papers
             if stored.get(p.id or 0, (0, b""))[0] == p.version}
    todo = [p for p in papers if p.id not in ready]
    fresh = list(zip(todo, encode_papers(embedder, todo), strict=True))
    with session_scope(engine) as session:
        save_embeddings(session, embedder.name, fresh)
    return ready | {p.id or 0: (p.version, data) for p, data in fresh}, len(todo)


def text_key(model: str, text: str) -> str:
    """The settings key of a text's vector under `model`: `emb:`, the model's tag, the text's
    hash (55 characters, within the key column's 64)."""
    return f"{TEXT_PREFIX}{model_tag(model)}:{hashlib.sha1(text.encode()).hexdigest()}"


def model_tag(model: str) -> str:
    """A short tag of a model's identity, shared by all its text vectors' keys."""
    return hashlib.sha1(model.encode()).hexdigest()[:10]


TEXT_PREFIX = "emb:"


TEXTS_PRUNED = "topic_vectors_pruned"  # the UTC date unused topic vectors were last dropped


def prune_text_vectors(session: Session, model: str, today: date) -> int:
    """Delete the stored text vectors nothing reads any more; how many. Every time: those of
    every model but `model` (and those of before keys named their model). Once a day: those
    of `model` no stored subscriber's topics need (edited away, or the subscriber removed).
    During a rolling upgrade to another model the poll's replica may drop the other
    version's; they are computed again when next needed (topics are short: ~20 ms each)."""
    tag = f"{TEXT_PREFIX}{model_tag(model)}:"
    dropped = drop_settings(session, TEXT_PREFIX, tag)
    if read_setting(session, TEXTS_PRUNED) != today.isoformat():
        live = {text_key(model, t) for topics in subscriber_topics(session)
                for t in interest_strings({"topics": topics}, "topics")}
        unused = [k for k in setting_keys(session, tag) if k not in live]
        delete_settings(session, unused)
        write_setting(session, TEXTS_PRUNED, today.isoformat())
        dropped += len(unused)
    if dropped:
        log.info("dropped %d topic vectors nothing reads any more", dropped)
    return dropped


def text_vectors(session: Session, embedder: Embedder, texts: Sequence[str],
                 writes: Writes) -> dict[str, np.ndarray]:
    """Unit vectors of short texts (topics), cached in the database under the model's
    identity (saving new ones is appended to `writes`; the caller's transaction is ended
    before the model runs): a ranking with nothing new to encode
    never loads the model. With `STORED_ONLY` a text not stored is left out. No claim is
    taken: two processes encoding one new topic at once cost ~20 ms twice and store it once
    (the second write is dropped), cheaper than a claim's round trips for every topic."""
    keys = {t: text_key(embedder.name, t) for t in texts}
    stored = read_settings(session, list(keys.values())) if keys else {}
    vectors = {t: np.frombuffer(base64.b64decode(stored[k]), dtype=np.float32)
               for t, k in keys.items() if k in stored}
    missing = [t for t in keys if t not in vectors]
    if missing and STORED_ONLY:
        log.info("%d topics have no stored vector (new since this cycle began); they are left "
                 "out of the semantic signals this time", len(missing))
    elif missing:
        end_reads(session)
        for text, vector in zip(missing, embedder.encode(missing), strict=True):
            vectors[text] = vector.astype(np.float32)
        writes.append(partial(add_settings, session, {
            keys[t]: base64.b64encode(vectors[t].tobytes()).decode() for t in missing}))
    return vectors


def semantic_inputs(session: Session, embedder: Embedder, papers: Sequence[Paper],
                    interests: Sequence[Interest], keep_topics: bool = True) -> SemanticInputs:
    """Embeddings of the candidates (cached), of every topic, and of every liked paper. What
    was missing is computed after the caller's transaction is ended (`end_reads`: committed)
    and written after, so no transaction is open while the model runs or claims are waited
    for (on SQLite the write lock is never held meanwhile). Without `keep_topics` (a web
    preview: anyone's words) new topic vectors are not stored; paper vectors always are
    (papers are few and ours)."""
    topics = sorted({t for i in interests for t in i.topics})
    liked_ids = sorted({p for i in interests for p in i.known_papers})  # voted ones too
    liked_rows = papers_by_canonical_id(session, liked_ids)
    writes: Writes = []
    topic_vectors = text_vectors(session, embedder, topics, writes if keep_topics else [])
    rows = {p.id: p for p in [*liked_rows, *papers]}  # a liked paper of the window: once
    vectors = paper_vectors(session, embedder, list(rows.values()), writes)
    inputs = SemanticInputs(
        papers=stacked_vectors(papers, vectors), topics=topic_vectors,
        liked={p.canonical_id: vectors[p.id or 0] for p in liked_rows if p.id in vectors})
    for write in writes:
        write()
    return inputs


def semantic_inputs_or_none(session: Session, embedder: Embedder, papers: Sequence[Paper],
                            interests: Sequence[Interest],
                            keep_topics: bool = True) -> SemanticInputs | None:
    """`semantic_inputs`, or None (ranking lexical-only, said once in the log) when the model
    fails: a model that cannot load or run never costs a digest."""
    try:
        return semantic_inputs(session, embedder, papers, interests, keep_topics)
    except SQLAlchemyError:  # the database's own trouble is not the model's: the caller's
        raise
    except Exception as exc:  # any failure of the model itself means lexical-only
        _warn_lexical_only(embedder.name, one_line(str(exc), 300))
        if not isinstance(exc, SemanticUnavailableError):
            log.debug("semantic ranker failure", exc_info=exc)
        return None


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
    """What ranks the digests, for `digest status`: lexical + semantic (the model, loaded and
    run once to be sure) or lexical-only and why."""
    sem = config.ranking.semantic
    if not sem.enabled:
        return "lexical-only (ranking.semantic.enabled is false)"
    try:
        embedder = load_embedder(sem.backend, sem.model)
        embedder.encode(["a probe sentence"])  # the model really loads and runs here
    except Exception as exc:  # whatever stops the model, status says it
        return f"lexical-only: the semantic ranker ({sem.backend}) is unavailable: " \
               f"{one_line(str(exc), 300)}"
    return f"lexical + semantic ({embedder.name})"


@lru_cache(maxsize=8)
def _warn_lexical_only(backend: str, reason: str) -> None:
    log.warning("semantic ranker (%s) unavailable, ranking lexical-only: %s", backend, reason)


def rank_params(config: Config) -> RankParams:
    """Ranking knobs from the config (defaults chosen on the dev set)."""
    weight = config.ranking.semantic.weight  # scales both semantic signals together
    defaults = RankParams()
    return RankParams(w_semantic=defaults.w_semantic * weight,
                      w_semantic_liked=defaults.w_semantic_liked * weight)
