"""Hugging Face daily papers JSON: signals, optional fields, Unicode titles."""

from __future__ import annotations

import json
from datetime import date

import pytest

from digest.errors import ParseError
from digest.sources import hf_daily
from tests.conftest import read_data


def test_full_day_with_ai_summary_and_keywords() -> None:
    papers = hf_daily.parse(read_data("hf_daily_papers_2026-06-12_full.json"))
    assert len(papers) == 30
    first = papers[0]
    assert first.canonical_id == "2606.00467"
    assert first.signals["hf_upvotes"] == 0
    assert first.signals["ai_summary"].startswith("Large language models exhibit")
    assert "LLM-as-a-judge" in first.signals["ai_keywords"]
    assert first.signals["hf_url"] == "https://huggingface.co/papers/2606.00467"
    assert first.authors == ["Etienne Casanova", "Rafal Kocielnik", "R. Michael Alvarez"]


def test_day_without_ai_fields_keeps_unicode_and_github() -> None:
    papers = hf_daily.parse(read_data("hf_daily_papers_2026-07-31_full.json"))
    assert len(papers) == 30
    assert not any("ai_summary" in p.signals for p in papers)
    assert sum(1 for p in papers if "github_repo" not in p.signals) == 11
    titles = " ".join(p.title for p in papers)
    assert "Σ-Mem" in titles and "β-OPSD" in titles


def test_every_field_is_optional() -> None:
    doc = [{"paper": {"id": "2608.00001", "title": "Only a title"}},
           {"paper": {"title": "no id"}}, "not an object", {"paper": {"id": "x", "title": "bad id"}}]
    papers = hf_daily.parse(json.dumps(doc).encode())
    assert [p.canonical_id for p in papers] == ["2608.00001"]
    assert papers[0].signals == {"hf_url": "https://huggingface.co/papers/2608.00001"}


def test_links_other_than_http_are_dropped() -> None:
    doc = [{"paper": {"id": "2608.00001", "title": "t", "githubRepo": "javascript:alert(1)",
                      "projectPage": "https://ok.example/p"}}]
    signals = hf_daily.parse(json.dumps(doc).encode())[0].signals
    assert "github_repo" not in signals and signals["project_page"] == "https://ok.example/p"


@pytest.mark.parametrize("body", [b"<html>", b'{"error": "rate limited"}', b"\xff\xfe"])
def test_not_a_paper_list_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        hf_daily.parse(body)


def test_urls_by_date_and_trending() -> None:
    base = "https://huggingface.co/api/daily_papers"
    assert "date=2026-06-12" in hf_daily.daily_url(base, date(2026, 6, 12))
    assert "sort=trending" in hf_daily.daily_url(base, date(2026, 6, 12), sort="trending")
