"""Semantic Scholar /paper/search: externalIds.ArXiv, null dates, offset paging, 1,000 cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from digest.errors import ParseError
from digest.sources import semantic_scholar
from tests.conftest import read_data

CAPTURE = "other/semantic_scholar_paper_search_transformer_2026-06.json"
TODAY = datetime(2026, 6, 13, 12, tzinfo=UTC)


def source(**fields: object) -> semantic_scholar.SemanticScholarSource:
    return semantic_scholar.SemanticScholarSource.model_validate(
        {"name": "s2", "type": "semantic_scholar", "query": "transformer", **fields})


def test_capture_papers_are_their_arxiv_ids() -> None:
    papers = semantic_scholar.parse(read_data(CAPTURE))
    assert [p.canonical_id for p in papers] == \
        ["2103.14030", "2012.07436", "2004.05150", "2111.09881", "2108.10257"]
    swin = papers[0]
    assert swin.title == "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows"
    assert swin.published is None  # publicationDate null: unknown, not guessed from `year`
    assert swin.doi == "10.1109/iccv48922.2021.00986"
    assert swin.url == "https://arxiv.org/abs/2103.14030"
    assert swin.pdf_url == "http://arxiv.org/pdf/2103.14030"
    assert swin.authors[-1] == "B. Guo" and len(swin.authors) == 8
    assert swin.signals["s2_url"].startswith("https://www.semanticscholar.org/paper/c8b25fab")
    assert papers[1].published == datetime(2020, 12, 14, tzinfo=UTC)
    assert papers[2].doi is None and papers[2].pdf_url is None  # openAccessPdf.url ""
    assert all(p.abstract for p in papers)


def test_editorials_are_skipped_and_papers_without_ids_are_hashed() -> None:
    doc = json.loads(read_data(CAPTURE))
    doc["data"][0]["publicationTypes"] = ["Editorial"]
    doc["data"][1]["externalIds"] = {"CorpusId": 229156802}
    papers = semantic_scholar.parse(json.dumps(doc).encode())
    assert len(papers) == 4 and papers[0].canonical_id.startswith("sha1:")
    assert papers[0].url == doc["data"][1]["url"]


@pytest.mark.parametrize("body", [b"<html>", b'{"message": "Too Many Requests"}',
                                  b'{"error": "Unrecognized field"}'])
def test_not_a_search_response_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        semantic_scholar.parse(body)


def test_plan_asks_for_papers_since_and_follows_next() -> None:
    since = datetime(2026, 6, 10, tzinfo=UTC)
    first = parse_qs(urlsplit(semantic_scholar.first_urls(source(), TODAY, since)[0]).query)
    assert first["publicationDateOrYear"] == ["2026-06-09:"]
    assert first["offset"] == ["0"] and first["limit"] == ["100"]
    assert "externalIds" in first["fields"][0]
    unpolled = parse_qs(urlsplit(semantic_scholar.first_urls(source(), TODAY)[0]).query)
    assert unpolled["publicationDateOrYear"] == ["2026-06-06:"]  # days_back 7
    body = read_data(CAPTURE)  # offset 0, next 5
    nxt = parse_qs(urlsplit(semantic_scholar.next_page(source(), [body], since) or "").query)
    assert nxt["offset"] == ["5"] and nxt["limit"] == ["100"]
    assert semantic_scholar.next_page(source(max_results=5), [body], since) is None
    assert semantic_scholar.next_page(source(), [b'{"total": 5, "offset": 0, "data": []}']) is None
    with pytest.raises(ValueError):
        source(max_results=5000)
