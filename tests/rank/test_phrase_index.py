"""The batched phrase finder (indexes of the day's papers' stems and word pairs) finds exactly
what the per-document scan finds, in the same order."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.rank.textfeat import (
    MAX_PHRASE,
    analysed,
    count_phrase,
    doc_terms,
    doc_terms_many,
    phrase_key,
)

WORDS = ["polar", "codes", "code", "and", "LDPC", "remote", "sensing", "of", "the", "graph",
         "neural", "networks", "network", "large", "language", "models"]
text = st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join)
phrase = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(text, text), max_size=6), st.sets(phrase, max_size=8),
       st.integers(0, 3))
def test_batched_phrases_equal_the_per_document_scan(docs: list[tuple[str, str]],
                                                     phrases: set[str], window: int) -> None:
    wanted = frozenset(k for p in phrases if " " in (k := phrase_key(p)))  # as the ranker asks
    many = doc_terms_many(docs, wanted, window)
    one = [doc_terms(t, a, wanted, window) for t, a in docs]
    assert [(d.counts, d.length, d.phrases) for d in many] == \
        [(d.counts, d.length, d.phrases) for d in one]
    # and in the order the phrases were asked for (the order of their matrix columns)
    assert [list(d.phrases.items()) for d in many] == scan_in_order(docs, wanted, window)


def scan_in_order(docs: list[tuple[str, str]], wanted: frozenset[str],
                  window: int) -> list[list[tuple[str, int]]]:
    """Each document's phrase counts, counted phrase by phrase in `wanted`'s order."""
    found: list[Counter[str]] = [Counter() for _ in docs]
    for key in wanted:
        parts = key.split(" ")
        if len(parts) > MAX_PHRASE:
            continue
        for n, (title, abstract) in enumerate(docs):
            count_phrase(found[n], analysed(title, abstract), key, window)
    return [list(c.items()) for c in found]


def test_a_phrase_split_by_a_word_counts_as_near_not_as_the_phrase() -> None:
    wanted = frozenset({phrase_key("polar codes")})
    (doc,) = doc_terms_many([("Polar and LDPC codes", "polar codes for 6G; polar codes.")],
                            wanted, 2)
    assert doc.phrases == {"polar code": 2, "~polar code": 2}  # abstract twice; title near x2
