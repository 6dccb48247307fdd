"""Lexical features: tokens, stems, phrases, and BM25 / tf-idf sparse matrices."""

from __future__ import annotations

import bisect
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import Stemmer
from anyascii import anyascii
from scipy import sparse

_WORD = re.compile(r"[a-z0-9]+")
_LATEX = re.compile(r"\\[a-zA-Z]+|[\\{}$^_]")
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me more
most my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves via using use used based towards toward paper propose
proposed present show shows new novel approach method methods results result work study
""".split())
_STEMMER = Stemmer.Stemmer("english")  # PyStemmer: the Snowball English stemmer, in C
_STEMMER.maxCacheSize = 200_000
MAX_PHRASE = 4


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball English stem of a lower-case word (cached)."""
    return str(_STEMMER.stemWord(word))


def words(text: str) -> list[str]:
    """Accent-folded, lower-cased, stemmed words of `text`, stop words kept (for phrases)."""
    text = _LATEX.sub(" ", text)
    text = (text if text.isascii() else anyascii(text)).lower()
    return list(_STEMMER.stemWords(_WORD.findall(text)))


def content_terms(stems: Iterable[str]) -> list[str]:
    """Drop stop words and one-letter tokens: the terms that carry meaning."""
    return [s for s in stems if s not in _STEM_STOP and (len(s) > 1 or s.isdigit())]


_STEM_STOP = frozenset(stem(w) for w in STOPWORDS)


@lru_cache(maxsize=100_000)
def phrase_key(text: str) -> str:
    """The token key of a phrase: its stems joined by spaces ('Gaussian Splats' -> 'gaussian splat')."""
    return " ".join(words(text))


@lru_cache(maxsize=8)
def _phrase_index(wanted: frozenset[str]) -> dict[str, tuple[int, ...]]:
    """First stem of each wanted phrase -> the phrase lengths starting with it."""
    index: dict[str, set[int]] = {}
    for key in wanted:
        parts = key.split(" ")
        if 1 < len(parts) <= MAX_PHRASE:
            index.setdefault(parts[0], set()).add(len(parts))
    return {first: tuple(sorted(lengths)) for first, lengths in index.items()}


def phrases_in(stems: Sequence[str], wanted: frozenset[str]) -> list[str]:
    """Every occurrence of a wanted multi-word phrase key in a stem sequence."""
    if not wanted:
        return []
    index = _phrase_index(wanted)
    found = []
    for i, first in enumerate(stems):
        for n in index.get(first, ()):
            key = " ".join(stems[i:i + n])
            if i + n <= len(stems) and key in wanted:  # a cut-off tail is not a shorter phrase
                found.append(key)
    return found


NEAR = "~"  # prefix of a phrase key found with its words in order but a few words apart


def phrases_near(stems: Sequence[str], wanted: frozenset[str], window: int) -> list[str]:
    """Wanted phrases whose words occur in order, each within `window` extra words of the
    previous one, but not side by side ('polar and LDPC codes'): keyed NEAR + phrase key, so
    a reason never claims the phrase itself for them."""
    if not wanted or window <= 0:
        return []
    index = _phrase_index(wanted)
    found = []
    for i, first in enumerate(stems):
        for n in index.get(first, ()):
            for key in _keys_starting(wanted, first, n):
                if _gapped_at(stems, i, key.split(" "), window):
                    found.append(NEAR + key)
    return found


def _gapped_at(stems: Sequence[str], i: int, parts: Sequence[str], window: int) -> bool:
    """Whether the phrase starting at `i` goes on in order with each next word at most
    `window` words on, and at least one gap (first matches taken greedily)."""
    pos, gapped = i, False
    for part in parts[1:]:
        nxt = next((j for j in range(pos + 1, min(pos + 2 + window, len(stems)))
                    if stems[j] == part), -1)
        if nxt < 0:
            return False
        gapped |= nxt > pos + 1
        pos = nxt
    return gapped


@lru_cache(maxsize=8)
def _by_start(wanted: frozenset[str]) -> dict[tuple[str, int], tuple[str, ...]]:
    out: dict[tuple[str, int], list[str]] = {}
    for key in wanted:
        parts = key.split(" ")
        out.setdefault((parts[0], len(parts)), []).append(key)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _keys_starting(wanted: frozenset[str], first: str, n: int) -> tuple[str, ...]:
    return _by_start(wanted).get((first, n), ())


@dataclass
class DocTerms:
    """Term counts of one document (title counted twice), and, apart, the counts of the wanted
    phrases it holds: phrases never enter the word vectors (cosines, duplicates, MMR), so no
    subscriber's keywords change another subscriber's ranking."""

    counts: Counter[str]
    length: float
    phrases: Counter[str] = field(default_factory=Counter)


def doc_terms(title: str, abstract: str, wanted_phrases: frozenset[str],
              window: int = 0) -> DocTerms:
    """Count content terms and wanted phrases (and, with a `window`, phrases whose words come
    in order a few words apart); title terms count double."""
    text = analysed(title, abstract)
    phrases: Counter[str] = Counter(phrases_in(text.title, wanted_phrases) * 2)
    phrases.update(phrases_in(text.abstract, wanted_phrases))
    phrases.update(phrases_near(text.title, wanted_phrases, window) * 2)
    phrases.update(phrases_near(text.abstract, wanted_phrases, window))
    return DocTerms(text.counts, text.length, phrases)


def doc_terms_many(texts: Sequence[tuple[str, str]], wanted_phrases: frozenset[str],
                   window: int = 0) -> list[DocTerms]:
    """`doc_terms` of many (title, abstract)s, the phrases found through indexes of the
    documents' stems and of their word pairs (made once for the day's documents): the cost
    grows with the phrases' matches, not with the documents' length times the phrases asked
    for."""
    docs = [analysed(title, abstract) for title, abstract in texts]
    found: list[Counter[str]] = [Counter() for _ in docs]
    index = _day_index(docs, window)
    pairs = index.pair_counts([key for key in wanted_phrases if key.count(" ") == 1])
    for key in wanted_phrases:  # counted in this order: the phrases' columns follow it
        parts = key.split(" ")
        if len(parts) == 2:
            per_doc = pairs.get(key, {})
        elif len(parts) <= MAX_PHRASE and all(p in index.ids for p in parts):
            per_doc = index.phrase_counts(parts, window)
        else:
            continue
        for n, (t_adj, t_near, a_adj, a_near) in per_doc.items():
            for adjacent, near, weight in ((t_adj, t_near, 2), (a_adj, a_near, 1)):
                if adjacent:
                    found[n][key] += adjacent * weight
                if near:
                    found[n][NEAR + key] += near * weight
    return [DocTerms(doc.counts, doc.length, phrases) for doc, phrases in zip(docs, found,
                                                                               strict=True)]


def count_phrase(found: Counter[str], doc: Analysed, key: str, window: int) -> None:
    """Add a phrase's occurrences in one document to `found`: side by side as `key`, a few
    words apart as NEAR + `key`; title first, counted twice."""
    parts = key.split(" ")
    for stems, weight in ((doc.title, 2), (doc.abstract, 1)):
        adjacent, near = _occurrences(stems, _positions(stems), parts, window)
        if adjacent:
            found[key] += adjacent * weight
        if near:
            found[NEAR + key] += near * weight


class _DayIndex:
    """The day's documents as one array of stem ids (title and abstract of each, apart), with
    every word pair side by side, and every pair a few words apart, sorted: a two-word phrase's
    occurrences in all documents are two binary searches away; a longer one's are read from
    where its first word occurs."""

    def __init__(self, docs: list[Analysed], window: int) -> None:
        self.docs = docs  # held: their ids are the cache key
        self.ids: dict[str, int] = {}
        tokens: list[int] = []
        fields: list[int] = []  # 2 n: document n's title, 2 n + 1: its abstract
        for n, doc in enumerate(docs):
            for f, stems in ((2 * n, doc.title), (2 * n + 1, doc.abstract)):
                tokens += [self.ids.setdefault(s, len(self.ids)) for s in stems]
                tokens.extend(_GAP * (window + 1))
                fields += [f] * (len(stems) + window + 1)
        self.base = len(self.ids) + 1  # the last id marks the gap between two fields
        tok = np.asarray(tokens, dtype=np.int64)
        tok[tok == _GAP[0]] = len(self.ids)
        self.fields = np.asarray(fields, dtype=np.int32)
        words_at = np.nonzero(tok < len(self.ids))[0]
        self.tokens = tok.astype(np.int32)  # every field ends with window + 1 gap tokens
        self.at = words_at[np.argsort(tok[words_at], kind="stable")].astype(np.int32)  # by stem
        self.at_starts = np.searchsorted(tok[self.at], np.arange(len(self.ids) + 1))
        size = len(tok)
        padded = np.concatenate([tok, np.full(window + 1, len(self.ids), dtype=np.int64)])
        ahead = [padded[o:o + size] for o in range(1, window + 2)]
        first = tok * self.base
        self.adjacent = _Sorted(first + ahead[0], np.arange(size, dtype=np.int32))
        near_codes, near_at = [], []
        for o in range(1, window + 1):  # the pair's second word o + 1 words on, and not nearer
            seen = ahead[0] == ahead[o]
            for between in ahead[1:o]:
                seen |= between == ahead[o]
            keep = np.nonzero(~seen)[0].astype(np.int32)
            near_codes.append(first[keep] + ahead[o][keep])
            near_at.append(keep)
        self.near = _Sorted(np.concatenate(near_codes) if near_codes else first[:0],
                            np.concatenate(near_at) if near_at else first[:0])

    def phrase_counts(self, parts: Sequence[str], window: int) -> dict[int, list[int]]:
        """A phrase of known stems: document -> [side by side in the title, a few words apart
        in the title, side by side in the abstract, apart in the abstract], by the rules of
        `_occurrences`, for all documents at once."""
        ids = np.asarray([self.ids[p] for p in parts], dtype=np.int32)
        starts = self.at[self.at_starts[ids[0]]:self.at_starts[ids[0] + 1]]
        last = len(self.tokens) - 1  # a gap token: reading past the end reads a gap
        ahead = np.minimum(starts[:, None] + np.arange(1, len(ids)), last)
        adjacent = (self.tokens[ahead] == ids[1:]).all(axis=1)
        near = np.zeros_like(adjacent)
        if window > 0:
            near[~adjacent] = self._gapped(starts[~adjacent], ids[1:], window)
        out: dict[int, list[int]] = {}
        for hits, slot in ((adjacent, 0), (near, 1)):
            fields, counts = np.unique(self.fields[starts[hits]], return_counts=True)
            for f, count in zip(fields.tolist(), counts.tolist(), strict=True):
                out.setdefault(f // 2, [0, 0, 0, 0])[2 * (f % 2) + slot] = count
        return out

    def _gapped(self, starts: np.ndarray, rest: np.ndarray, window: int) -> np.ndarray:
        """`_gapped_at` for many start positions: each next word within `window` words after
        the previous one (first match taken), at least one gap."""
        pos, ok = starts.astype(np.int64), np.ones(len(starts), dtype=bool)
        gapped = np.zeros(len(starts), dtype=bool)
        offsets = np.arange(1, window + 2)
        for part in rest.tolist():
            seen = self.tokens[np.minimum(pos[:, None] + offsets, len(self.tokens) - 1)] == part
            step = seen.argmax(axis=1)
            ok &= seen.any(axis=1)
            gapped |= step > 0
            pos = pos + 1 + step
        return ok & gapped

    def pair_counts(self, keys: Sequence[str]) -> dict[str, dict[int, list[int]]]:
        """Two-word phrase key -> document -> [side by side in the title, a few words apart in
        the title, side by side in the abstract, apart in the abstract]; the same counts as
        `_occurrences`."""
        known = [k for k in keys if all(p in self.ids for p in k.split(" "))]
        if not known:
            return {}
        codes = np.asarray([self.ids[a] * self.base + self.ids[b]
                            for a, b in (k.split(" ") for k in known)], dtype=np.int64)
        out: dict[str, dict[int, list[int]]] = {}
        for sorted_, slot in ((self.adjacent, 0), (self.near, 1)):
            phrase, at = sorted_.find(codes)
            field_ = self.fields[at]
            combined, counts = np.unique(phrase * (2 * len(self.docs)) + field_,
                                         return_counts=True)
            for code, count in zip(combined.tolist(), counts.tolist(), strict=True):
                k, f = divmod(code, 2 * len(self.docs))
                n, part = divmod(f, 2)
                entry = out.setdefault(known[k], {}).setdefault(n, [0, 0, 0, 0])
                entry[2 * part + slot] = count
        return out


_GAP = (-1,)


class _Sorted:
    """Pair codes sorted, each with where it occurs."""

    def __init__(self, codes: np.ndarray, at: np.ndarray) -> None:
        order = np.argsort(codes, kind="stable")
        self.codes, self.at = codes[order], at[order]

    def find(self, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(index into `wanted`, position) of every occurrence of the wanted codes."""
        lo = np.searchsorted(self.codes, wanted, "left")
        hi = np.searchsorted(self.codes, wanted, "right")
        lengths = hi - lo
        phrase = np.repeat(np.arange(len(wanted)), lengths)
        starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
        return phrase, self.at[starts + np.arange(len(phrase))]


_DAY_INDEX: dict[tuple[int, ...], _DayIndex] = {}


def _day_index(docs: list[Analysed], window: int) -> _DayIndex:
    """The index of these documents; the last one is kept, since compose asks about the same
    day's papers for every chunk of subscribers."""
    key = (window, *map(id, docs))
    cached = _DAY_INDEX.get(key)
    if cached is not None:
        return cached
    index = _DayIndex(docs, window)
    _DAY_INDEX.clear()
    _DAY_INDEX[key] = index  # holding the documents keeps their ids unique
    return index


def _occurrences(stems: tuple[str, ...], where: dict[str, tuple[int, ...]],
                 parts: Sequence[str], window: int) -> tuple[int, int]:
    """How often `parts` occur side by side, and how often in order with gaps of at most
    `window` words (the same rules as `phrases_in` and `phrases_near`); `where` holds each
    stem's positions in `stems`."""
    n, adjacent, near, whole = len(parts), 0, 0, tuple(parts)
    seconds = where.get(parts[1], ()) if n == 2 else ()
    for i in where.get(parts[0], ()):
        if stems[i:i + n] == whole:
            adjacent += 1
        elif window > 0 and (_near_pair(seconds, i, window) if n == 2
                             else _gapped_at(stems, i, parts, window)):
            near += 1
    return adjacent, near


def _near_pair(seconds: tuple[int, ...], i: int, window: int) -> bool:
    """Whether the second word of a pair follows position `i` with 1..window words between."""
    k = bisect.bisect_left(seconds, i + 2)
    return k < len(seconds) and seconds[k] <= i + 1 + window


def _positions(stems: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    out: dict[str, list[int]] = {}
    for i, stem_ in enumerate(stems):
        out.setdefault(stem_, []).append(i)
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True)
class Analysed:
    """One document's stems (title and abstract apart) and its content-term counts, title
    counted twice; shared read-only by every DocTerms made from the same text."""

    title: tuple[str, ...]
    abstract: tuple[str, ...]
    counts: Counter[str]
    length: float


ANALYSED_CACHE = 12_288  # documents kept analysed: a day's candidates and the liked papers


@lru_cache(maxsize=ANALYSED_CACHE)
def analysed(title: str, abstract: str) -> Analysed:
    """Stems and term counts of a document, cached: compose ranks the same day's papers and
    liked papers for every chunk of subscribers."""
    t_words = tuple(map(sys.intern, words(title)))
    a_words = tuple(map(sys.intern, words(abstract)))
    counts: Counter[str] = Counter(content_terms(t_words))
    counts.update(counts)  # title twice
    counts.update(content_terms(a_words))
    return Analysed(t_words, a_words, counts, float(sum(counts.values())))


@dataclass
class CorpusStats:
    """Document frequencies from the stored corpus, so rare terms weigh more."""

    n_docs: int = 0
    df: Counter[str] = field(default_factory=Counter)
    avg_len: float = 150.0

    _idf: dict[str, float] = field(default_factory=dict, repr=False)

    def idf(self, term: str) -> float:
        """BM25 idf, never negative (memoised)."""
        value = self._idf.get(term)
        if value is None:
            df = self.df.get(term, 0)
            value = self._idf[term] = math.log1p((self.n_docs - df + 0.5) / (df + 0.5))
        return value

    @classmethod
    def fit(cls, docs: Iterable[DocTerms]) -> CorpusStats:
        """Count document frequencies over `docs`."""
        stats = cls()
        total = 0.0
        for doc in docs:
            stats.n_docs += 1
            stats.df.update(doc.counts.keys())
            total += doc.length
        stats.avg_len = total / stats.n_docs if stats.n_docs else 150.0
        return stats


class Vocabulary:
    """Term -> column index, grown as documents are added."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def add(self, term: str) -> int:
        """Index of `term`, adding it if new."""
        return self.index.setdefault(term, len(self.index))

    def get(self, term: str) -> int | None:
        """Index of `term` or None."""
        return self.index.get(term)

    def __len__(self) -> int:
        return len(self.index)


def doc_matrices(docs: Sequence[DocTerms], vocab: Vocabulary, stats: CorpusStats,
                 k1: float = 1.2, b: float = 0.75) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """(BM25 saturated-tf matrix, L2-normalised tf-idf matrix), papers x terms."""
    row_arr, cols, tf_arr, bm25 = _bm25([d.counts for d in docs], docs, vocab, stats, k1, b)
    idf = idf_vector(vocab, stats)
    tfidf = sparse.csr_matrix(((1 + np.log(tf_arr)) * idf[cols], (row_arr, cols)),
                              shape=bm25.shape)
    return bm25, l2_rows(tfidf)


def with_phrase_columns(docs: Sequence[DocTerms], vocab: Vocabulary, stats: CorpusStats,
                        bm25: sparse.csr_matrix, tfidf: sparse.csr_matrix, k1: float = 1.2,
                        b: float = 0.75) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Append the phrases found in `docs` as BM25 columns after every word column (the tf-idf
    matrix gets empty columns), so word columns and word vectors are the same whoever asked
    for which phrases."""
    phrase = _bm25([d.phrases for d in docs], docs, vocab, stats, k1, b)[3]
    bm25 = bm25.copy()
    bm25.resize(phrase.shape)
    tfidf = tfidf.copy()
    tfidf.resize(phrase.shape)
    return sparse.csr_matrix(bm25 + phrase), tfidf


def _bm25(counts: Sequence[Counter[str]], docs: Sequence[DocTerms], vocab: Vocabulary,
          stats: CorpusStats, k1: float, b: float,
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, sparse.csr_matrix]:
    """(rows, columns, term frequencies, BM25-saturated matrix) of per-document term counts,
    the terms added to `vocab` (in the order `Vocabulary.add` would add them); documents are
    as long as their content terms."""
    index = vocab.index
    cols = np.asarray([index.setdefault(term, len(index)) for c in counts for term in c],
                      dtype=np.int64)
    tf_arr = np.asarray([n for c in counts for n in c.values()], dtype=np.float32)
    row_arr = np.repeat(np.arange(len(counts), dtype=np.int64), [len(c) for c in counts])
    lengths = np.asarray([d.length for d in docs], dtype=np.float32)
    norm = k1 * (1 - b + b * lengths[row_arr] / max(stats.avg_len, 1.0))
    matrix = sparse.csr_matrix((tf_arr * (k1 + 1) / (tf_arr + norm), (row_arr, cols)),
                               shape=(len(docs), len(vocab)))
    return row_arr, cols, tf_arr, matrix


def idf_vector(vocab: Vocabulary, stats: CorpusStats) -> np.ndarray:
    """idf of every vocabulary term, as a dense vector."""
    out = np.empty(len(vocab), dtype=np.float32)
    for term, i in vocab.index.items():
        out[i] = stats.idf(term)
    return out


def l2_rows(m: sparse.csr_matrix) -> sparse.csr_matrix:
    """Scale each row to unit length (empty rows stay empty)."""
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ m)
