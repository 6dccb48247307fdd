"""The JSONL import format, including the real corpus's field names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.errors import ParseError
from digest.sources import jsonl

CORPUS = Path(__file__).parents[2] / "config" / "demo" / "2026-06-12.jsonl"


def test_real_corpus_file_parses_every_line() -> None:
    data = CORPUS.read_bytes()
    papers = jsonl.parse(data)
    assert len(papers) == len(data.splitlines()) == 314
    assert len({p.canonical_id for p in papers}) == 250
    assert all(p.title and p.abstract and p.arxiv_id for p in papers)


def test_documented_format_with_optional_fields() -> None:
    line = {"id": "2306.15626v2", "title": "LeanDojo", "abstract": "Theorem proving.",
            "authors": ["Kaiyu Yang"], "categories": ["cs.LG"], "published": "2023-06-27",
            "url": "https://arxiv.org/abs/2306.15626", "doi": "10.48550/arXiv.2306.15626",
            "signals": {"stars": 3}}
    paper = jsonl.parse(json.dumps(line).encode())[0]
    assert (paper.canonical_id, paper.version, paper.doi) == ("2306.15626", 2, "10.48550/arxiv.2306.15626")
    assert paper.published is not None and paper.published.year == 2023
    assert paper.signals == {"stars": 3}


def test_bad_lines_are_skipped_but_an_all_bad_file_is_an_error() -> None:
    good = json.dumps({"id": "2306.15626", "title": "ok"}).encode()
    assert len(jsonl.parse(b"{not json}\n" + good + b"\n[1,2]\n")) == 1
    with pytest.raises(ParseError, match="line 1"):
        jsonl.parse(b"{not json}\n")


def test_links_other_than_http_are_dropped() -> None:
    line = {"id": "2306.15626", "title": "t", "url": "javascript:alert(1)",
            "pdf": "data:text/html,<script>alert(1)</script>",
            "signals": {"github_repo": "javascript:alert(2)", "hf_upvotes": 3,
                        "project_page": "https://ok.example/p"}}
    paper = jsonl.parse(json.dumps(line).encode())[0]
    assert paper.url == "https://arxiv.org/abs/2306.15626"
    assert paper.pdf_url == "https://arxiv.org/pdf/2306.15626"
    assert paper.signals == {"hf_upvotes": 3, "project_page": "https://ok.example/p"}
    no_id = jsonl.parse(json.dumps({"title": "t", "url": "javascript:x"}).encode())[0]
    assert no_id.url is None


def test_callers_own_id_is_kept_when_the_key_is_a_hash_or_doi() -> None:
    lines = [{"id": "PMC7301", "title": "Ribosome profiling"},
             {"id": "10.1101/2026.06.01.123", "title": "A preprint"},
             {"id": "2306.15626v2", "title": "LeanDojo"},
             {"title": "No id at all"}]
    papers = jsonl.parse("\n".join(json.dumps(x) for x in lines).encode())
    assert papers[0].canonical_id.startswith("sha1:") and papers[0].signals == {"source_id": "PMC7301"}
    assert papers[1].canonical_id == "doi:10.1101/2026.06.01.123"
    assert papers[1].signals == {"source_id": "10.1101/2026.06.01.123"}
    assert papers[2].signals == {} and papers[3].signals == {}  # arXiv ids come back as given
