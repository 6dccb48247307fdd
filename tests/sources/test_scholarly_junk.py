"""Every field of the scholarly APIs is optional and may hold the wrong JSON kind: the parsers
and page planners skip or ignore it, never crash (a body that is not the API's is a ParseError)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from digest.errors import ParseError
from digest.sources import TYPES, biorxiv, europepmc, openalex, semantic_scholar
from tests.conftest import read_data
from tests.sources.captures import BIORXIV, EUROPEPMC, OPENALEX, S2

JUNK: list[Any] = [None, 7, "NA", [], {}, [[1]], [{"x": None}], True]
CASES = {  # type -> (capture, path of its item list, a source to plan pages for)
    "biorxiv": (BIORXIV, ("collection",), biorxiv.BiorxivSource(name="b", type="biorxiv")),
    "europepmc": (EUROPEPMC, ("resultList", "result"),
                  europepmc.EuropePmcSource(name="e", type="europepmc", query="q")),
    "openalex": (OPENALEX, ("results",), openalex.OpenAlexSource(name="o", type="openalex",
                                                                 search="q")),
    "semantic_scholar": (S2, ("data",), semantic_scholar.SemanticScholarSource(
        name="s", type="semantic_scholar", query="q")),
}


def one_item_docs(kind: str) -> list[bytes]:
    """The capture cut to its third item, once per (field, junk value) of that item."""
    capture, path, _ = CASES[kind]
    doc = json.loads(read_data(capture))
    holder = doc
    for key in path[:-1]:
        holder = holder[key]
    item = holder[path[-1]][2]
    bodies = []
    for field in item:
        for junk in JUNK:
            holder[path[-1]] = [{**item, field: junk}, junk]
            bodies.append(json.dumps(doc).encode())
    return bodies


@pytest.mark.parametrize("kind", sorted(CASES))
def test_junk_in_any_field_is_skipped_not_a_crash(kind: str) -> None:
    src = CASES[kind][2]
    for body in one_item_docs(kind):
        assert len(TYPES[kind].parse(body)) <= 1
        TYPES[kind].next_page(src, [body], None)


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("body", [b"null", b'"text"', b"42", b"{}"])
def test_bodies_of_the_wrong_kind(kind: str, body: bytes) -> None:
    assert TYPES[kind].next_page(CASES[kind][2], [body], None) is None
    try:
        assert TYPES[kind].parse(body) == []
    except ParseError as exc:
        assert exc.hint
