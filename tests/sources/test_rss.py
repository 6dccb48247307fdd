"""Generic RSS/Atom via feedparser: ids from DOI, arXiv links, or a content hash."""

from __future__ import annotations

import pytest

from digest.errors import ParseError
from digest.sources import rss
from tests.conftest import read_data


def test_aggregator_links_yield_arxiv_ids() -> None:
    papers = rss.parse(read_data("other/takara_tldr_daily_papers_rss_2026-04-30.xml"))
    assert len(papers) == 50
    assert papers[0].canonical_id == "2604.26238"
    assert papers[0].abstract.startswith("3D Gaussian Splatting (3DGS)")


def test_entity_escaped_html_descriptions_become_text() -> None:
    papers = rss.parse(read_data("other/hf_daily_papers_rss_feedgen_2026-04-30.xml"))
    assert len(papers) == 22
    assert all("<img" not in p.abstract and "<p>" not in p.abstract for p in papers)
    assert all(p.arxiv_id for p in papers)


def test_doi_keyed_and_hashed_items() -> None:
    feed = b"""<?xml version="1.0"?><rss version="2.0"
      xmlns:prism="http://prismstandard.org/namespaces/basic/2.0/"><channel><title>J</title>
      <item><title>Cell paper</title><link>https://doi.org/10.1101/2026.08.01.123456</link>
        <description>&lt;p&gt;An &lt;b&gt;abstract&lt;/b&gt;&lt;/p&gt;
        &lt;script&gt;alert(1)&lt;/script&gt;</description></item>
      <item><title>Lab news</title><link>https://lab.example/post/1</link></item>
    </channel></rss>"""
    doi_paper, plain = rss.parse(feed)
    assert doi_paper.canonical_id == "doi:10.1101/2026.08.01.123456"
    assert doi_paper.abstract == "An abstract"
    assert plain.canonical_id.startswith("sha1:")
    assert rss.parse(feed)[1].canonical_id == plain.canonical_id  # stable


def test_not_a_feed() -> None:
    with pytest.raises(ParseError):
        rss.parse(b"\x00\x01 definitely not xml <<<")
