"""arXiv API Atom responses: current and 2016 formats, old ids, paging, error feeds."""

from __future__ import annotations

import json

import pytest

from digest.errors import ParseError
from digest.sources import arxiv_api
from tests.conftest import read_data


def recording(name: str) -> dict[str, object]:
    """A recorded API exchange {url, status_code, body}."""
    data: dict[str, object] = json.loads(read_data(f"arxiv_api_recordings/{name}"))
    return data


def test_current_format_full_page() -> None:
    papers = arxiv_api.parse(read_data("arxiv_api_query_cs.AI+cs.LG+cs.CL_2026-08-02.atom.xml"))
    assert len(papers) == 25
    first = papers[0]
    assert first.canonical_id == "2607.28628" and first.version == 1
    assert first.categories[0] == "hep-th"  # primary category first
    assert first.authors == ["Jonathan J. Heckman", "Shani Meynet", "Alessandro Mininno", "Gary Shiu"]
    assert first.comment and first.comment.startswith("59 pages")
    assert first.published is not None and first.updated is not None


def test_hundred_entries_versions_dois_and_journal_refs() -> None:
    papers = arxiv_api.parse(read_data("arxiv_api_query_all-testing_100entries_2026-04-12.atom.xml"))
    assert len(papers) == 100
    assert len({p.canonical_id for p in papers}) == 100
    assert sum(1 for p in papers if p.doi) == 32
    assert sum(1 for p in papers if "journal_ref" in p.signals) == 18
    assert max(p.version for p in papers) == 9
    assert all("v" not in p.canonical_id.split("/")[-1] for p in papers)


def test_legacy_2016_format_unwraps_abstracts_and_keeps_old_ids() -> None:
    papers = arxiv_api.parse(read_data(
        "arxiv_api_query_au-del_maestro_2016-10-09_legacy-format.atom.xml"))
    assert len(papers) == 10
    assert papers[0].abstract.startswith("As helium-4 is cooled below 2.17 K")
    assert "\n" not in papers[0].abstract
    assert papers[1].canonical_id == "cond-mat/0412498"
    assert papers[0].doi == "10.1142/s021797921244002x"


def test_old_style_id_lookup() -> None:
    rec = recording("id_astro-ph_0601001_s0_m100_3150dca9dc76.json")
    papers = arxiv_api.parse(str(rec["body"]).encode())
    assert [p.canonical_id for p in papers] == ["astro-ph/0601001"]
    assert not papers[0].abstract.startswith(" ")


def test_http_400_error_feed_raises_with_arxivs_message() -> None:
    rec = recording("id_abc_s0_m100_b79c8dcf6bc3.json")
    assert rec["status_code"] == 400
    with pytest.raises(ParseError, match="incorrect id format for abc"):
        arxiv_api.parse(str(rec["body"]).encode())


def test_empty_result_and_paging_numbers() -> None:
    empty = str(recording("id_0000.0000_s0_m100_8b51d9633a68.json")["body"]).encode()
    assert arxiv_api.parse(empty) == []
    page2 = str(recording("q_testing_s10_m10_34e56e15aaac.json")["body"]).encode()
    info = arxiv_api.page_info(page2)
    assert info.start == 10 and info.per_page == 10 and info.total > 100
    assert len(arxiv_api.parse(page2)) == 10


def test_query_url_pages_newest_first() -> None:
    url = arxiv_api.query_url("https://export.arxiv.org/api/query", "cat:cs.CL AND abs:retrieval",
                              start=100, max_results=50)
    assert "search_query=cat%3Acs.CL+AND+abs%3Aretrieval" in url
    assert "start=100" in url and "max_results=50" in url and "sortBy=submittedDate" in url
