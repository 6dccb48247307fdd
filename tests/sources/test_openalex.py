"""OpenAlex /works: inverted-index abstracts, non-paper types, arXiv locations, paging, API key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from digest.errors import ParseError, PermanentFetchError
from digest.sources import openalex
from tests.conftest import read_data

CAPTURE = "other/openalex_works_search_2026-08.json"
TODAY = datetime(2026, 8, 10, 12, tzinfo=UTC)


def source(**fields: object) -> openalex.OpenAlexSource:
    return openalex.OpenAlexSource.model_validate(
        {"name": "oa", "type": "openalex", "search": "tuberculosis positive selection", **fields})


def test_capture_skips_erratum_and_peer_review() -> None:
    doc = json.loads(read_data(CAPTURE))
    assert [w["type"] for w in doc["results"]] == \
        ["preprint", "preprint", "article", "erratum", "peer-review", "article"]
    papers = openalex.parse(read_data(CAPTURE))
    assert [p.signals["openalex_id"] for p in papers] == \
        ["W7202031709", "W7171465666", "W4417114759", "W7171838120"]
    assert papers[0].canonical_id == "doi:10.5281/zenodo.21856599"
    assert papers[0].authors == ["David Coates"]
    assert papers[3].abstract == "" and papers[3].published == datetime(2026, 7, 30, tzinfo=UTC)


def test_inverted_index_abstract_is_rebuilt_in_order() -> None:
    papers = openalex.parse(read_data(CAPTURE))
    assert papers[0].abstract.startswith("Pre-registration: the taxonomic split of the k=1 sign")
    article = papers[2].abstract
    assert article.startswith("Motivation Positive selection is a key evolutionary force in "
                              "Mycobacterium tuberculosis")  # the leading "Abstract" dropped
    assert openalex.abstract_of({"b": [1], "a": [0], "c": [3]}) == "a b c"
    assert openalex.abstract_of(None) == ""


def test_arxiv_location_makes_the_work_that_arxiv_paper() -> None:
    work = openalex.parse(read_data(CAPTURE))[2]
    assert work.canonical_id == "2510.08703" and work.arxiv_id == "2510.08703"
    assert work.doi == "10.1186/s12859-026-06583-0"  # the journal version's DOI stays
    assert work.url == "https://arxiv.org/abs/2510.08703"
    assert work.signals["venue"] == "BMC Bioinformatics"
    assert work.signals["affiliation"] == "London School of Hygiene & Tropical Medicine"
    assert "preprint_doi" not in work.signals  # an arXiv DOI is the arXiv id, not a relation


def test_a_preprint_location_doi_is_the_relation() -> None:
    doc = json.loads(read_data(CAPTURE))
    article = doc["results"][5]
    article["locations"].append({"id": "doi:10.1101/2026.01.02.123456", "version": "submittedVersion",
                                 "landing_page_url": "https://doi.org/10.1101/2026.01.02.123456",
                                 "source": {"type": "repository", "display_name": "bioRxiv"}})
    paper = openalex.parse(json.dumps({"meta": {}, "results": [article]}).encode())[0]
    assert paper.signals["preprint_doi"] == "10.1101/2026.01.02.123456"
    assert paper.signals["published_doi"] == "10.1007/s12194-026-01110-5"


@pytest.mark.parametrize("body", [b"<html>", b'{"error": "Invalid query parameters"}'])
def test_not_a_works_response_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        openalex.parse(body)


def test_plan_filters_since_and_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    since = datetime(2026, 8, 8, 3, tzinfo=UTC)
    url = openalex.first_urls(source(filter="type:article"), TODAY, since)[0]
    params = parse_qs(urlsplit(url).query)
    assert params["filter"] == ["type:article,from_publication_date:2026-08-07"]
    assert params["search"] == ["tuberculosis positive selection"] and params["page"] == ["1"]
    assert "api_key" not in params and "abstract_inverted_index" in params["select"][0]
    body = read_data(CAPTURE)  # meta: page 1, per_page 20, count 1297
    page2 = parse_qs(urlsplit(openalex.next_page(source(), [body], since) or "").query)
    assert page2["page"] == ["2"] and page2["filter"] == ["from_publication_date:2026-08-07"]
    assert openalex.next_page(source(max_results=20), [body], since) is None


def test_api_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    src = source(api_key_env="OPENALEX_TEST_KEY")
    monkeypatch.delenv("OPENALEX_TEST_KEY", raising=False)
    with pytest.raises(PermanentFetchError, match="OPENALEX_TEST_KEY is not set"):
        openalex.first_urls(src, TODAY)
    monkeypatch.setenv("OPENALEX_TEST_KEY", "k-123")
    assert parse_qs(urlsplit(openalex.first_urls(src, TODAY)[0]).query)["api_key"] == ["k-123"]
    with pytest.raises(ValueError, match="name an environment variable"):
        source(api_key_env="sk-live 123")
