"""Subscribers' interests as sparse query matrices over the day's vocabulary."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from digest.rank.authors import author_key
from digest.rank.model import Interest, RankParams
from digest.rank.textfeat import (
    NEAR,
    CorpusStats,
    DocTerms,
    Vocabulary,
    content_terms,
    doc_matrices,
    doc_terms,
    phrase_key,
    stem,
    words,
)

_SURFACE = re.compile(r"[A-Za-z0-9]+")


@dataclass
class QueryBlock:
    """Query rows of one kind (topic, keyword or liked) for all subscribers."""

    matrix: sparse.csr_matrix  # one row per distinct query (see `source`)
    owner: np.ndarray          # subscriber index of each row
    slot: np.ndarray           # position of the row within its subscriber's list
    width: int                 # most rows any subscriber has
    labels: list[str] = field(default_factory=list)
    surface: list[dict[str, str]] = field(default_factory=list)  # stem -> user's word
    source: np.ndarray | None = None  # row -> matrix row, when rows share queries (liked papers)


@dataclass
class _Rows:
    data: list[float] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    indptr: list[int] = field(default_factory=lambda: [0])
    owner: list[int] = field(default_factory=list)
    slot: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    surface: list[dict[str, str]] = field(default_factory=list)

    def add(self, owner: int, slot: int, weights: dict[int, float], label: str,
            surface: dict[str, str]) -> None:
        self.cols.extend(weights)
        self.data.extend(weights.values())
        self.indptr.append(len(self.cols))
        self.owner.append(owner)
        self.slot.append(slot)
        self.labels.append(label)
        self.surface.append(surface)

    def block(self, n_terms: int) -> QueryBlock:
        matrix = sparse.csr_matrix(
            (np.asarray(self.data, dtype=np.float32), np.asarray(self.cols, dtype=np.int64),
             np.asarray(self.indptr, dtype=np.int64)), shape=(len(self.owner), n_terms))
        slots = np.asarray(self.slot, dtype=np.int64)
        return QueryBlock(matrix, np.asarray(self.owner, dtype=np.int64), slots,
                          int(slots.max()) + 1 if len(slots) else 0, self.labels, self.surface)


def wanted_phrases(interests: Sequence[Interest]) -> frozenset[str]:
    """Phrase keys of every multi-word keyword and exclusion, across all subscribers."""
    keys = {phrase_key(p) for i in interests for p in (*i.keywords, *i.exclude)}
    return frozenset(k for k in keys if " " in k)


def surface_forms(text: str) -> dict[str, str]:
    """Map each stem of `text` back to the word the user typed."""
    return {stem(w.lower()): w for w in _SURFACE.findall(text)}


def _idf_weights(terms: list[str], vocab: Vocabulary, stats: CorpusStats,
                 total: float = 1.0, power: float = 1.0) -> dict[int, float]:
    """Weights proportional to idf**power over all the terms (matched or not), summing to `total`."""
    unique = list(dict.fromkeys(terms))
    idf = {t: stats.idf(t) ** power for t in unique}
    norm = sum(idf.values()) or 1.0
    return {col: idf[t] * total / norm for t in unique if (col := vocab.get(t)) is not None}


def topic_block(interests: Sequence[Interest], vocab: Vocabulary, stats: CorpusStats,
                params: RankParams) -> QueryBlock:
    """One row per free-text topic: idf-weighted content terms, weights summing to 1."""
    rows = _Rows()
    for i, interest in enumerate(interests):
        for j, topic in enumerate(interest.topics):
            terms = content_terms(words(topic))
            rows.add(i, j, _idf_weights(terms, vocab, stats, 1.0, params.idf_power), topic,
                     surface_forms(topic))
    return rows.block(len(vocab))


def keyword_block(interests: Sequence[Interest], vocab: Vocabulary, stats: CorpusStats,
                  params: RankParams, *, whole_only: bool = False) -> QueryBlock:
    """One row per keyword: the phrase (side by side, or within `phrase_window` words in order)
    weighs `phrase_weight`, its words the rest. `whole_only`: the phrase alone, at full weight
    (what counts as evidence: 'polar codes' never selects a paper on 'codes')."""
    rows = _Rows()
    for i, interest in enumerate(interests):
        for j, keyword in enumerate(interest.keywords):
            key = phrase_key(keyword)
            if " " not in key:
                col = vocab.get(key)
                rows.add(i, j, {col: 1.0} if col is not None else {}, keyword, {key: keyword})
                continue
            share = 1.0 if whole_only else params.phrase_weight
            weights = {} if whole_only else _idf_weights(
                content_terms(key.split()), vocab, stats, 1.0 - share, params.idf_power)
            for found in (key, NEAR + key):
                if (col := vocab.get(found)) is not None:
                    weights[col] = weights.get(col, 0.0) + share
            rows.add(i, j, weights, keyword, {key: keyword, **surface_forms(keyword)})
    return rows.block(len(vocab))


def liked_block(interests: Sequence[Interest], texts: dict[str, tuple[str, str]],
                vocab: Vocabulary, stats: CorpusStats, params: RankParams) -> QueryBlock:
    """One row per liked paper per subscriber, sharing one tf-idf vector per distinct paper."""
    distinct = sorted({p for i in interests for p in i.liked if p in texts})
    matrix = liked_vectors([doc_terms(*texts[p], frozenset()) for p in distinct], vocab, stats,
                           params.liked_terms)
    position = {p: n for n, p in enumerate(distinct)}
    rows = _Rows()
    for i, interest in enumerate(interests):
        for j, paper_id in enumerate(p for p in interest.liked if p in position):
            rows.add(i, j, {}, paper_id, {})
    block = rows.block(len(vocab))
    block.matrix = matrix
    block.source = np.asarray([position[label] for label in rows.labels], dtype=np.int64)
    return block


def liked_vectors(docs: Sequence[DocTerms], vocab: Vocabulary, stats: CorpusStats,
                  keep: int) -> sparse.csr_matrix:
    """Unit tf-idf vectors of liked papers (normalised over all their terms), each cut to its
    `keep` heaviest terms and projected onto the day's vocabulary."""
    own = Vocabulary()
    tfidf = doc_matrices(docs, own, stats)[1]
    day_col = np.full(len(own), -1, dtype=np.int64)
    for term, col in own.index.items():
        day_col[col] = vocab.index.get(term, -1)
    rows, cols, data = [], [], []
    for r in range(tfidf.shape[0]):
        lo, hi = tfidf.indptr[r], tfidf.indptr[r + 1]
        values, terms = tfidf.data[lo:hi], tfidf.indices[lo:hi]
        top = np.argsort(-values)[:keep]
        mapped = day_col[terms[top]]
        ok = mapped >= 0
        rows.append(np.full(int(ok.sum()), r))
        cols.append(mapped[ok])
        data.append(values[top][ok])
    if not rows:
        return sparse.csr_matrix((0, len(vocab)), dtype=np.float32)
    return sparse.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(len(docs), len(vocab)))


def membership(keys_per_row: Sequence[Sequence[str | None]],
               index: dict[str, int]) -> sparse.csr_matrix:
    """Binary rows x keys matrix; keys are added to `index` as they are met."""
    data_cols: list[int] = []
    indptr = [0]
    for keys in keys_per_row:
        cols = {index.setdefault(k, len(index)) for k in keys if k}
        data_cols.extend(sorted(cols))
        indptr.append(len(data_cols))
    return sparse.csr_matrix((np.ones(len(data_cols), dtype=np.float32), data_cols, indptr),
                             shape=(len(keys_per_row), max(len(index), 1)))


def author_keys(names: Sequence[str]) -> list[str | None]:
    """Forgiving match keys of author names."""
    return [author_key(n) for n in names]


def exclude_keys(interest: Interest) -> list[str]:
    """Term or phrase keys whose presence vetoes a paper for this subscriber."""
    keys = []
    for phrase in interest.exclude:
        key = phrase_key(phrase)
        keys.append(key if " " in key else (content_terms([key]) or [key])[0])
    return keys
