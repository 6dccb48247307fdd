"""bioRxiv / medRxiv `details` API: "NA" journal DOIs, semicolon authors, JATS leftovers, paging."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from digest.errors import ParseError
from digest.sources import biorxiv, medrxiv
from tests.conftest import read_data

BIORXIV = "other/biorxiv_api_details_2026-08-01_to_08-05.json"
MEDRXIV = "other/medrxiv_api_details_2026-08-01_to_08-05.json"
TODAY = datetime(2026, 8, 5, 12, tzinfo=UTC)


def source(**fields: object) -> biorxiv.BiorxivSource:
    return biorxiv.BiorxivSource.model_validate({"name": "bio", "type": "biorxiv", **fields})


def test_biorxiv_capture_every_posting_keyed_by_its_doi() -> None:
    papers = biorxiv.parse(read_data(BIORXIV))
    assert len(papers) == 10
    first = papers[0]
    assert first.canonical_id == "doi:10.64898/2026.07.31.741992" and first.arxiv_id is None
    assert first.title.startswith("Sound-shape correspondences in macaques")
    assert first.authors == ["M. Loconsole", "C. Xue", "E. Garcia-Pelegrin"]  # "Surname, I.; …"
    assert first.categories == ["animal behavior and cognition"]
    assert first.published == datetime(2026, 8, 1, tzinfo=UTC)
    assert first.url == "https://www.biorxiv.org/content/10.64898/2026.07.31.741992v1"
    assert first.signals == {"preprint_server": "bioRxiv"}  # published "NA": no journal DOI
    assert sorted({p.version for p in papers}) == [1, 2]
    assert all(p.doi and p.abstract and p.authors for p in papers)


def test_jats_leftovers_become_readable_text() -> None:
    papers = {p.doi: p for p in biorxiv.parse(read_data(BIORXIV))}
    granpa = papers["10.64898/2026.07.31.741971"].abstract
    assert granpa.startswith("Purpose: We introduce GRANPA, standing for")  # O_SCPLOW…C_SCPLOW
    assert "\n\nResults: This method" in granpa and "SCPLOW" not in granpa
    highlights = papers["10.64898/2026.07.22.739964"].abstract
    assert "HIGHLIGHTS • mSUPYNL1 is an endogenous" in highlights and "_LI" not in highlights
    assert "cystathionine-β-synthase" in papers["10.1101/2025.04.11.648403"].abstract


def test_medrxiv_capture_versions_and_headings() -> None:
    papers = medrxiv.TYPE.parse(read_data(MEDRXIV))
    assert len(papers) == 10
    assert {p.signals["preprint_server"] for p in papers} == {"medRxiv"}
    assert max(p.version for p in papers) == 3
    assert papers[0].url == "https://www.medrxiv.org/content/10.64898/2026.05.07.26352693v2"
    assert papers[6].authors[:2] == ["R. J. van Wijk", "J. M. Lopez Alcaraz"]
    assert papers[6].abstract.startswith("Background: High-quality, longitudinal data")
    assert "\n\nTrial registration: Acutelines is registered" in papers[6].abstract


def test_published_doi_is_the_journal_relation_and_withdrawn_is_skipped() -> None:
    doc = json.loads(read_data(BIORXIV))
    doc["collection"][0]["published"] = "10.1038/S41586-026-00001-2"
    doc["collection"][1]["type"] = "withdrawn"
    papers = biorxiv.parse(json.dumps(doc).encode())
    assert len(papers) == 9
    assert papers[0].signals["published_doi"] == "10.1038/s41586-026-00001-2"
    assert papers[0].signals["preprint_doi"] == "10.64898/2026.07.31.741992"


@pytest.mark.parametrize("body", [b"<html>", b"[]", b'{"collection": "x"}'])
def test_not_a_details_response_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        biorxiv.parse(body)


def test_no_posts_found_is_empty() -> None:
    body = b'{"messages": [{"status": "no posts found"}], "collection": []}'
    assert biorxiv.parse(body) == []
    assert biorxiv.next_page(source(), [body]) is None


def test_window_is_since_the_last_success_with_a_day_of_overlap() -> None:
    src = source(category="Animal Behavior and Cognition")
    assert biorxiv.first_urls(src, TODAY) == [
        "https://api.biorxiv.org/details/biorxiv/2026-08-03/2026-08-05/0"
        "?category=animal_behavior_and_cognition"]
    since = datetime(2026, 8, 4, 21, 30, tzinfo=UTC)
    assert biorxiv.first_urls(source(), TODAY, since)[0].endswith("/biorxiv/2026-08-03/2026-08-05/0")
    med = medrxiv.MedrxivSource(name="med", type="medrxiv")
    assert medrxiv.TYPE.first_urls(med, TODAY, since)[0] \
        == "https://api.biorxiv.org/details/medrxiv/2026-08-03/2026-08-05/0"


def test_pages_by_cursor_until_total_or_max_results() -> None:
    body = read_data(BIORXIV)  # cursor 0, count 30, total 873, interval 2026-08-01:2026-08-05
    assert biorxiv.next_page(source(), [body]) == \
        "https://api.biorxiv.org/details/biorxiv/2026-08-01/2026-08-05/30"
    assert biorxiv.next_page(source(max_results=30), [body]) is None
    last = json.loads(body)
    last["messages"][0].update(cursor=870, count=3)
    assert biorxiv.next_page(source(), [body, json.dumps(last).encode()]) is None


def test_one_unreadable_posting_is_skipped_and_the_page_kept() -> None:
    doc = json.loads(read_data(BIORXIV))
    good = len(biorxiv.parse(read_data(BIORXIV)))
    doc["collection"][0]["abstract"] = "a {lambda} and an {unknownletter} abstract"
    doc["collection"][1]["server"] = "evil.example/x#"
    doc["collection"].insert(2, ["not", "a", "posting"])
    papers = biorxiv.parse(json.dumps(doc).encode())
    assert len(papers) == good  # the list-shaped item is skipped alone
    assert "a λ and an {unknownletter} abstract" in papers[0].abstract
    assert papers[1].url and papers[1].url.startswith("https://www.biorxiv.org/")


def test_an_overlong_doi_keys_by_content_hash() -> None:
    from digest.sources.ids import canonical_id

    long_doi = "10.1234/" + "x" * 130
    assert canonical_id(None, long_doi, "A title", None).startswith("sha1:")
    assert canonical_id(None, "10.1234/ok", "A title", None) == "doi:10.1234/ok"
