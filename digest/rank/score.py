"""Vectorised scoring of all candidates x all subscribers, chunked top-k, MMR, reasons."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from digest.rank.feedback import FeedbackInputs, feedback_chunk, feedback_inputs
from digest.rank.model import MAX_PAPERS, Candidate, Interest, Pick, RankParams
from digest.rank.queries import (
    QueryBlock,
    author_keys,
    exclude_keys,
    keyword_block,
    liked_block,
    membership,
    topic_block,
    wanted_phrases,
)
from digest.rank.reasons import ChunkView, build_picks
from digest.rank.semantic import SemanticInputs
from digest.rank.textfeat import (
    CorpusStats,
    DocTerms,
    Vocabulary,
    doc_matrices,
    doc_terms_many,
    with_phrase_columns,
)

NEG = np.float32(-np.inf)
# Threads scoring subscriber chunks when RankParams.workers is 0 (None: one per CPU); a process
# that is itself one of several working at once (a compose worker) sets 1: half the memory.
THREADS: int | None = None


@dataclass
class Day:
    """The day's candidates turned into matrices, shared by every subscriber chunk."""

    candidates: list[Candidate]
    docs: list[DocTerms]
    bm25: sparse.csr_matrix       # papers x terms, BM25-saturated term frequencies
    tfidf: sparse.csr_matrix      # papers x terms, L2-normalised tf-idf
    similarity: np.ndarray       # paper x paper cosine (dense, float32)
    alive: np.ndarray            # False for near-duplicates collapsed into another paper
    trending: np.ndarray         # per-day normalised upvotes in [0, 1]
    trending_rank: np.ndarray    # 1 = most upvoted today, 0 = no upvotes
    embeddings: np.ndarray | None = None  # papers x dim unit vectors (semantic ranker)
    bm25_t: sparse.csr_matrix | None = None   # terms x papers: the matrices transposed once
    tfidf_t: sparse.csr_matrix | None = None


def rank(candidates: Sequence[Candidate], interests: Sequence[Interest], *,
         stats: CorpusStats | None = None, liked_texts: dict[str, tuple[str, str]] | None = None,
         params: RankParams | None = None,
         already_sent: dict[str, set[str]] | None = None,
         semantic: SemanticInputs | None = None,
         categories: dict[str, tuple[str, ...]] | None = None) -> dict[str, list[Pick]]:
    """Each subscriber's best papers among `candidates`, best first, with reasons.

    `already_sent` maps a subscriber key to paper ids they must never get again;
    `semantic` (embeddings of the candidates, topics and liked papers) blends in meaning;
    `liked_texts` (and `categories`) describe the papers subscribers liked or voted on.
    """
    params = params or RankParams()
    result: dict[str, list[Pick]] = {i.key: [] for i in interests}
    active = [i for i in interests if not i.is_empty]
    if not candidates or not active:
        return result
    phrases = wanted_phrases(active)
    vocab = Vocabulary()
    day = prepare_day(list(candidates), phrases, vocab, stats, params)
    stats = stats if stats is not None else CorpusStats.fit(day.docs)
    blocks = {"topic": topic_block(active, vocab, stats, params),
              "keyword": keyword_block(active, vocab, stats, params),
              "keyword_whole": keyword_block(active, vocab, stats, params, whole_only=True),
              "liked": liked_block(active, liked_texts or {}, vocab, stats, params)}
    if semantic is not None:
        blocks["semantic"] = semantic_block(
            active, lambda i: [(t, semantic.topics.get(t)) for t in i.topics], semantic)
        blocks["semantic_liked"] = semantic_block(
            active, lambda i: [(p, semantic.liked.get(p)) for p in i.liked], semantic)
        day.embeddings = semantic.papers
    side = side_matrices(active, day, vocab, already_sent or {})
    feedback = feedback_inputs(active, day.candidates, liked_texts or {}, categories or {}, vocab,
                               stats, params, day.tfidf, day.alive, day.embeddings,
                               semantic.liked if semantic is not None else None)

    def run_chunk(start: int) -> list[list[Pick]]:
        chunk = range(start, min(start + params.chunk, len(active)))
        return list(build_picks(score_chunk(chunk, active, day, blocks, side, params, feedback),
                                day, params.followed_bonus))

    starts = range(0, len(active), params.chunk)
    workers = min(params.workers or THREADS or os.cpu_count() or 1, len(starts))
    if workers > 1:  # numpy and scipy release the GIL for the heavy parts
        with ThreadPoolExecutor(workers) as pool:
            chunks = list(pool.map(run_chunk, starts))
    else:
        chunks = [run_chunk(s) for s in starts]
    for start, picks in zip(starts, chunks, strict=True):
        for offset, chosen in enumerate(picks):
            result[active[start + offset].key] = chosen
    return result


def prepare_day(candidates: list[Candidate], phrases: frozenset[str], vocab: Vocabulary,
                stats: CorpusStats | None, params: RankParams) -> Day:
    """Tokenise the candidates, build their matrices, collapse near-duplicates."""
    docs = doc_terms_many([(c.title, c.abstract) for c in candidates], phrases,
                          int(params.phrase_window))
    stats = stats if stats is not None else CorpusStats.fit(docs)
    words = _word_matrices(candidates, docs, stats, params)
    vocab.index.update(words.columns)  # word columns first, in the same order every time
    bm25, tfidf = with_phrase_columns(docs, vocab, stats, words.bm25, words.tfidf)
    similarity, alive = words.similarity, words.alive
    upvotes = np.array([max(c.upvotes or 0, 0) for c in candidates], dtype=np.float32)
    top = float(np.log1p(upvotes.max())) if len(upvotes) else 0.0
    trending = np.log1p(upvotes) / top if top > 0 else np.zeros_like(upvotes)
    order = np.argsort(-upvotes, kind="stable")
    ranks = np.zeros(len(candidates), dtype=np.int64)
    ranks[order] = np.arange(1, len(candidates) + 1)
    ranks[upvotes == 0] = 0
    return Day(candidates, docs, bm25, tfidf, similarity, alive, trending.astype(np.float32), ranks,
               bm25_t=sparse.csr_matrix(bm25.T), tfidf_t=sparse.csr_matrix(tfidf.T))


@dataclass
class _Words:
    """The day's word matrices, similarities and duplicates: the same for every subscriber, so
    kept for the next call on the same candidates (compose ranks chunk by chunk); never
    modified in place."""

    stats: CorpusStats            # held, so its id in the key cannot be reused meanwhile
    columns: dict[str, int]
    bm25: sparse.csr_matrix
    tfidf: sparse.csr_matrix
    similarity: np.ndarray
    alive: np.ndarray


_WORDS: dict[tuple[Any, ...], _Words] = {}


def _word_matrices(candidates: list[Candidate], docs: list[DocTerms], stats: CorpusStats,
                   params: RankParams) -> _Words:
    key = (tuple(candidates), id(stats), stats.n_docs, params.duplicate_cosine)
    cached = _WORDS.get(key)
    if cached is not None and cached.stats is stats:
        return cached
    vocab = Vocabulary()
    bm25, tfidf = doc_matrices(docs, vocab, stats)
    similarity = (tfidf @ tfidf.T).toarray().astype(np.float32)
    words = _Words(stats, dict(vocab.index), bm25, tfidf, similarity,
                   collapse_duplicates(candidates, similarity, params.duplicate_cosine))
    _WORDS.clear()  # one day at a time
    _WORDS[key] = words
    return words


def collapse_duplicates(candidates: Sequence[Candidate], similarity: np.ndarray,
                        threshold: float) -> np.ndarray:
    """Keep one of each group of same-title or near-identical-abstract papers."""
    alive = np.ones(len(candidates), dtype=bool)
    seen: dict[str, int] = {}
    for i, c in enumerate(candidates):
        key = " ".join(c.title.lower().split())
        if key in seen:
            alive[i] = False
        seen.setdefault(key, i)
    upper = np.triu(similarity >= threshold, k=1)
    for _, j in zip(*np.nonzero(upper), strict=True):
        alive[j] = False
    return alive


@dataclass
class Side:
    """Author, category and exclusion matches, subscribers x papers (sparse)."""

    followed: sparse.csr_matrix
    category: sparse.csr_matrix
    vetoed: sparse.csr_matrix
    categories_only: np.ndarray
    min_score: np.ndarray
    trending_weight: np.ndarray
    max_papers: np.ndarray
    author_names: list[dict[str, str]]
    category_names: list[tuple[str, ...]]
    category_is_evidence: np.ndarray


def side_matrices(active: Sequence[Interest], day: Day, vocab: Vocabulary,
                  already_sent: dict[str, set[str]]) -> Side:
    """Followed authors, category overlap, vetoes and already-sent papers, as sparse matrices."""
    authors: dict[str, int] = {}
    sub_auth = membership([author_keys(i.authors) for i in active], authors)
    doc_auth = membership([author_keys(c.authors) for c in day.candidates], authors)
    cats: dict[str, int] = {}
    sub_cat = membership([i.categories for i in active], cats)
    doc_cat = membership([c.categories for c in day.candidates], cats)
    terms = dict(vocab.index)
    sub_ex = membership([exclude_keys(i) for i in active], terms)
    present = day.bm25.copy()
    present.data[:] = 1.0
    present.resize((present.shape[0], sub_ex.shape[1]))

    def product(a: sparse.csr_matrix, b: sparse.csr_matrix) -> sparse.csr_matrix:
        a.resize((a.shape[0], max(a.shape[1], b.shape[1])))
        b.resize((b.shape[0], a.shape[1]))
        return sparse.csr_matrix(a @ b.T)

    return Side(
        followed=product(sub_auth, doc_auth), category=product(sub_cat, doc_cat),
        vetoed=product(sub_ex, present) + _sent_matrix(active, day, already_sent),
        categories_only=np.array([i.categories_only and bool(i.categories) for i in active]),
        min_score=np.array([i.min_score for i in active], dtype=np.float32),
        trending_weight=np.array([i.trending_weight for i in active], dtype=np.float32),
        max_papers=np.array([i.max_papers for i in active], dtype=np.int64),
        author_names=[{k: n for n in i.authors if (k := author_keys([n])[0])} for i in active],
        category_names=[i.categories for i in active],
        category_is_evidence=np.array([not (i.topics or i.keywords or i.liked) for i in active]),
    )


def _sent_matrix(active: Sequence[Interest], day: Day,
                 already_sent: dict[str, set[str]]) -> sparse.csr_matrix:
    papers = {c.id: n for n, c in enumerate(day.candidates)}
    rows = [[c for c in already_sent.get(i.key, ()) if c in papers] for i in active]
    matrix = membership(rows, dict(papers))
    matrix.resize((len(active), len(papers)))
    return matrix


def semantic_block(active: Sequence[Interest],
                   items_of: Callable[[Interest], list[tuple[str, np.ndarray | None]]],
                   semantic: SemanticInputs) -> QueryBlock:
    """Dense query rows: unit vectors of each subscriber's topics (or liked papers)."""
    vectors, owner, slot, labels = [], [], [], []
    for i, interest in enumerate(active):
        items = items_of(interest)
        for j, (label, vector) in enumerate((lb, v) for lb, v in items if v is not None):
            vectors.append(vector)
            owner.append(i)
            slot.append(j)
            labels.append(label)
    dim = semantic.papers.shape[1] if semantic.papers.ndim == 2 else 0
    matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    slots = np.asarray(slot, dtype=np.int64)
    return QueryBlock(matrix, np.asarray(owner, dtype=np.int64), slots,
                      int(slots.max()) + 1 if len(slots) else 0, labels, [{} for _ in labels])


def block_scores(block: QueryBlock, chunk: range, papers: Any) -> np.ndarray:
    """subscribers-in-chunk x slots x papers scores of one query block (0 where no row);
    `papers` is the papers' matrix transposed (terms x papers), or dense embeddings."""
    n_papers = papers.shape[1] if sparse.issparse(papers) else papers.shape[0]
    out = np.zeros((len(chunk), max(block.width, 1), n_papers), dtype=np.float32)
    rows = np.nonzero((block.owner >= chunk.start) & (block.owner < chunk.stop))[0]
    if not len(rows):
        return out
    where = (block.owner[rows] - chunk.start, block.slot[rows])
    if not sparse.issparse(papers):
        out[where] = block.matrix[rows] @ papers.T
    elif block.source is None:
        for first in range(0, len(rows), DENSE_ROWS):
            part = slice(first, first + DENSE_ROWS)
            out[where[0][part], where[1][part]] = dense_product(block.matrix[rows[part]], papers)
    else:  # shared queries: score each distinct one once, then fan out
        distinct, back = np.unique(block.source[rows], return_inverse=True)
        out[where] = (block.matrix[distinct] @ papers).toarray()[back]
    return out


DENSE_ROWS = 128  # query rows scored against a dense slice of the papers at once


def dense_product(queries: sparse.csr_matrix, papers_t: sparse.csr_matrix) -> np.ndarray:
    """`queries @ papers_t` as a dense array, through a dense copy of only the terms the queries
    use: the same sums in the same order as the sparse product, without building its sparse
    result (most of a query's row is non-zero)."""
    used, cols = np.unique(queries.indices, return_inverse=True)
    narrow = sparse.csr_matrix((queries.data, cols.ravel(), queries.indptr),
                               shape=(queries.shape[0], len(used)))
    return np.asarray(narrow @ papers_t[used].toarray())


def score_chunk(chunk: range, active: Sequence[Interest], day: Day,
                blocks: dict[str, QueryBlock], side: Side, params: RankParams,
                feedback: FeedbackInputs | None = None) -> ChunkView:
    """Blend every signal for one chunk of subscribers, mask vetoes, pick with MMR."""
    scores = {"topic": block_scores(blocks["topic"], chunk, day.bm25_t),
              "keyword": block_scores(blocks["keyword"], chunk, day.bm25_t),
              "liked": block_scores(blocks["liked"], chunk, day.tfidf_t)}
    for kind in ("semantic", "semantic_liked"):
        if kind in blocks and day.embeddings is not None:
            scores[kind] = block_scores(blocks[kind], chunk, day.embeddings)
    best = {kind: s.max(axis=1) for kind, s in scores.items()}
    kw_max = best["keyword"]
    kw_whole = block_scores(blocks["keyword_whole"], chunk, day.bm25_t).max(axis=1)
    sl = slice(chunk.start, chunk.stop)
    category = side.category[sl].toarray() > 0
    followed = side.followed[sl].toarray() > 0
    evidence = ((best["topic"] >= params.min_evidence) | (kw_whole >= params.min_evidence)
                | (best["liked"] >= params.min_liked_cosine)
                | (category & side.category_is_evidence[sl, None]))
    share = params.fill_evidence  # a filler needs this share of the evidence bar (never words
    some = ((best["topic"] >= share * params.min_evidence)  # of a phrase keyword alone)
            | (kw_whole >= share * params.min_evidence)
            | (best["liked"] >= share * params.min_liked_cosine))
    parts = {"topic": best["topic"], "liked": best["liked"],
             "keyword": kw_max + params.w_keyword_extra / max(params.w_keyword, 1e-6)
             * (scores["keyword"].sum(axis=1) - kw_max)}
    for kind in ("semantic", "semantic_liked"):
        if kind in best:
            evidence |= best[kind] >= params.min_semantic
            some |= best[kind] >= share * params.min_semantic
            parts[kind] = np.maximum(best[kind], 0.0)
    gate = None  # closeness to liked (and more-voted) papers counts as far as near a topic
    if "semantic_liked" in parts:  # the subscribers' own topics gate, vectors or not
        has_topics = np.array([bool(active[i].topics) for i in chunk], dtype=bool)
        near_topic = best["semantic"] if "semantic" in best else np.zeros_like(
            best["semantic_liked"])  # no topic vectors: as far as can be from every topic
        gate = topic_gate(near_topic, has_topics, params)
        parts["semantic_liked"] = parts["semantic_liked"] * gate
    if params.normalize:
        parts = {k: p / np.maximum(p.max(axis=1, keepdims=True), 1e-6) for k, p in parts.items()}
    relevance = (params.w_topic * parts["topic"] + params.w_keyword * parts["keyword"]
                 + params.w_liked * parts["liked"] + params.w_category * category
                 + params.w_semantic * parts.get("semantic", 0.0)
                 + params.w_semantic_liked * parts.get("semantic_liked", 0.0))
    fitted = feedback_chunk(chunk, active, feedback, params, gate)
    if fitted is not None:  # only chunks with voters; the others' scores stay bit for bit
        evidence |= (fitted.values >= params.min_feedback) & fitted.voters[:, None]
        relevance = relevance + params.w_feedback * fitted.values
    raw, relevance = relevance, relevance * evidence
    score = relevance + side.trending_weight[sl, None] * day.trending[None, :] * (relevance > 0)
    score = score + params.followed_bonus * followed
    allowed = day.alive[None, :] & ~(side.vetoed[sl].toarray() > 0)
    allowed &= ~side.categories_only[sl, None] | category
    keep = (((relevance > 0) & (score >= side.min_score[sl, None])) | followed) & allowed
    score = np.where(keep, score, NEG).astype(np.float32)
    limits = digest_sizes(side.max_papers[sl], (followed & keep).sum(axis=1))
    chosen = mmr_select(score, day.similarity, limits, params)
    weak = fill_up(chosen, np.where(allowed & ~keep & some, raw, 0.0), side.min_score[sl],
                   limits, day.similarity, params) if params.fill_evidence < 1 else None
    if weak is not None:
        score = np.where(weak, raw, score).astype(np.float32)
    return ChunkView(chunk, score, chosen, scores, category, followed, blocks, side, fitted,
                     weak)


def topic_gate(topic_cosine: np.ndarray, has_topics: np.ndarray,
               params: RankParams) -> np.ndarray:
    """How much of its closeness to a liked paper a candidate keeps (subscribers x papers):
    all of it when it is also close to one of the subscriber's topics (cosine >=
    liked_topic_high), `liked_topic_floor` of it when far from all of them (<= liked_topic_low),
    linearly between; all of it for subscribers without topics. Liked papers refine the stated
    topics, they do not replace them."""
    span = max(params.liked_topic_high - params.liked_topic_low, 1e-6)
    near = np.clip((topic_cosine - params.liked_topic_low) / span, 0.0, 1.0)
    gate = params.liked_topic_floor + (1.0 - params.liked_topic_floor) * near
    return np.where(has_topics[:, None], gate, 1.0).astype(np.float32)


def fill_up(chosen: np.ndarray, raw: np.ndarray, min_score: np.ndarray, limits: np.ndarray,
            similarity: np.ndarray, params: RankParams) -> np.ndarray | None:
    """Fill short digests, in place, with the best papers that had some signal but not
    enough evidence (never for a subscriber who set `min_score`): placed after every
    evidenced pick, and returned as a mask (subscriber x paper) so their reasons say they
    are weaker matches. None when no digest was short."""
    counts = (chosen >= 0).sum(axis=1)
    short = (counts < limits) & (min_score <= 0)
    if not short.any():
        return None
    pool = np.where(short[:, None] & (raw > 0), raw, NEG).astype(np.float32)
    rows = np.arange(len(chosen))
    for step in range(chosen.shape[1]):
        ok = chosen[:, step] >= 0
        pool[rows[ok], chosen[ok, step]] = NEG
    more = mmr_select(pool, similarity, np.where(short, limits - counts, 0), params)
    weak = np.zeros(raw.shape, dtype=bool)
    for step in range(more.shape[1]):
        ok = more[:, step] >= 0
        chosen[ok, counts[ok] + step] = more[ok, step]
        weak[rows[ok], more[ok, step]] = True
    return weak


def digest_sizes(max_papers: np.ndarray, followed: np.ndarray) -> np.ndarray:
    """Papers per digest: `max_papers`, but never fewer than the followed authors' papers
    (up to MAX_PAPERS). The one place this rule lives; callers take the picks as they are."""
    return np.minimum(np.maximum(max_papers, followed), MAX_PAPERS)


def best_first(score: np.ndarray, size: int) -> np.ndarray:
    """Each row's `size` best columns by score, then column, best first: a partition, and a
    full (stable) sort only for the rows whose ties straddle the cut."""
    pool = np.argpartition(-score, size - 1, axis=1)[:, :size]
    rel = np.take_along_axis(score, pool, axis=1)
    cut = rel.min(axis=1, keepdims=True)
    straddle = np.isfinite(cut[:, 0]) & ((score == cut).sum(axis=1) > (rel == cut).sum(axis=1))
    if straddle.any():
        pool[straddle] = np.argsort(-score[straddle], axis=1, kind="stable")[:, :size]
        rel = np.take_along_axis(score, pool, axis=1)
    order = np.lexsort((pool, -rel), axis=1)
    return np.take_along_axis(pool, order, axis=1)


def mmr_select(score: np.ndarray, similarity: np.ndarray, limits: np.ndarray,
               params: RankParams) -> np.ndarray:
    """Greedy maximal-marginal-relevance picks per row; -1 pads rows with fewer picks. Each
    row picks from its own pool, its best max(mmr_pool, its limit) papers by score, then
    paper (ties, as category-only or followed-author scores have, go to the earlier paper),
    so a row's picks never depend on the other rows of the block."""
    n_rows, n_papers = score.shape
    k = int(limits.max()) if n_rows else 0
    own = np.minimum(np.maximum(limits, params.mmr_pool), n_papers)
    pool_size = int(own.max()) if n_rows else 0
    pool = best_first(score, pool_size)
    rel = np.take_along_axis(score, pool, axis=1)
    sim = similarity[pool[:, :, None], pool[:, None, :]]
    chosen = np.full((n_rows, k), -1, dtype=np.int64)
    max_sim = np.zeros_like(rel)
    taken = ~np.isfinite(rel) | (np.arange(pool_size)[None, :] >= own[:, None])
    rows = np.arange(n_rows)
    lam = params.mmr_lambda
    for step in range(k):
        mmr = np.where(taken, NEG, lam * rel - (1 - lam) * max_sim)
        best = mmr.argmax(axis=1)
        ok = np.isfinite(mmr[rows, best]) & (step < limits)
        chosen[ok, step] = pool[rows[ok], best[ok]]
        taken[rows[ok], best[ok]] = True
        max_sim = np.where(ok[:, None], np.maximum(max_sim, sim[rows, best]), max_sim)
    return chosen
