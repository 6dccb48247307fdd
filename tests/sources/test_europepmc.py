"""Europe PMC REST search (core JSON): escaped markup, full author names, cursorMark paging."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from digest.errors import ParseError
from digest.sources import europepmc
from tests.conftest import read_data

CAPTURE = "other/europepmc_rest_search_2026-08.json"
TODAY = datetime(2026, 8, 5, 12, tzinfo=UTC)


def source(**fields: object) -> europepmc.EuropePmcSource:
    return europepmc.EuropePmcSource.model_validate(
        {"name": "epmc", "type": "europepmc", "query": '"Mycobacterium tuberculosis"', **fields})


def test_capture_journal_articles_keyed_by_doi() -> None:
    papers = europepmc.parse(read_data(CAPTURE))
    assert len(papers) == 8
    first = papers[0]
    assert first.canonical_id == "doi:10.1080/22221751.2026.2637292"
    assert first.title.endswith("polyfunctional T-cell responses")  # PubMed's full stop dropped
    assert first.authors[:2] == ["Huiling Wang", "Ying Zhang"] and len(first.authors) == 10
    assert first.published == datetime(2026, 3, 10, tzinfo=UTC)
    assert "inhaled Mycobacterium tuberculosis (Mtb)" in first.abstract  # <i> dropped
    assert first.url == "https://europepmc.org/article/MED/41734270"
    assert first.pdf_url == "https://europepmc.org/articles/PMC12978187?pdf=render"
    assert first.signals == {
        "pmid": "41734270", "pmcid": "PMC12978187", "journal": "Emerging microbes & infections",
        "cited_by": 0, "affiliation": "Shanghai Public Health Clinical Center & Shanghai Institute"
        " of Infectious Diseases and Biosecurity, Fudan University, Shanghai, People's Republic"
        " of China"}
    assert papers[1].signals["affiliation"] == "Department of Genetics, University of North " \
        "Carolina at Chapel Hill, Chapel Hill, NC 27599, USA"  # the first of several
    assert all(p.doi and p.abstract for p in papers)


def test_entity_escaped_markup_in_titles_is_removed() -> None:
    titles = [p.title for p in europepmc.parse(read_data(CAPTURE))]
    assert "17 Mexican Isolates of Corynebacterium pseudotuberculosis biovar ovis" in titles[2]
    assert titles[7].startswith("Runx3 instructs Aire+ mTEC development")


def test_errata_are_skipped_and_arxiv_dois_are_arxiv_papers() -> None:
    doc = json.loads(read_data(CAPTURE))
    results = doc["resultList"]["result"]
    results[0]["pubTypeList"]["pubType"] = ["Published Erratum"]
    results[1].update(source="PPR", doi="10.48550/arXiv.2510.08703")
    papers = europepmc.parse(json.dumps(doc).encode())
    assert len(papers) == 7
    assert papers[0].canonical_id == "2510.08703" and papers[0].doi is None
    assert papers[0].url == "https://arxiv.org/abs/2510.08703"


@pytest.mark.parametrize("body", [b"<html>", b'{"errMsg": "invalid query"}', b"[]"])
def test_not_a_search_response_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        europepmc.parse(body)


def test_query_is_limited_to_the_window() -> None:
    url = europepmc.first_urls(source(), TODAY, datetime(2026, 8, 1, 6, tzinfo=UTC))[0]
    params = parse_qs(urlsplit(url).query)
    assert params["query"] == ['("Mycobacterium tuberculosis") AND '
                               "FIRST_PDATE:[2026-07-31 TO 2026-08-05]"]
    assert params["cursorMark"] == ["*"] and params["resultType"] == ["core"]
    assert params["pageSize"] == ["100"]


def test_pages_by_the_echoed_query_and_next_cursor() -> None:
    body = read_data(CAPTURE)  # hitCount 2416, nextCursorMark AoJwgOCVo50DKDU0MzUzMjIz
    params = parse_qs(urlsplit(europepmc.next_page(source(), [body]) or "").query)
    assert params["cursorMark"] == ["AoJwgOCVo50DKDU0MzUzMjIz"]
    assert params["query"] == ['"Mycobacterium tuberculosis" AND "positive selection"']
    assert europepmc.next_page(source(max_results=100), [body]) is None
    last = json.loads(body)
    last["request"]["cursorMark"] = last["nextCursorMark"]  # the cursor stopped moving: the end
    assert europepmc.next_page(source(), [body, json.dumps(last).encode()]) is None
