"""Aggregator feeds of arXiv papers (tldr.takara.ai, Hugging Face daily papers RSS): the paper's
own arXiv and PDF links, and the authors when the description names them."""

from __future__ import annotations

from digest.sources import rss
from tests.conftest import read_data

TLDR = "other/takara_tldr_daily_papers_rss_2026-04-30.xml"
HF_RSS = "other/hf_daily_papers_rss_feedgen_2026-04-30.xml"


def test_an_aggregator_item_links_arxiv_not_the_aggregator() -> None:
    papers = rss.parse(read_data(TLDR))
    first = papers[0]
    assert first.url == "https://arxiv.org/abs/2604.26238"
    assert first.pdf_url == "https://arxiv.org/pdf/2604.26238"
    assert not [p for p in papers if "takara" in (p.url or "") or not p.pdf_url]


def test_labelled_descriptions_give_authors_and_a_clean_abstract() -> None:
    papers = rss.parse(read_data(HF_RSS))
    first = papers[0]
    assert first.authors == ["Haebin Seong", "Li Yin", "Haoran Zhang"]
    assert first.abstract.startswith("AI agents are increasingly deployed")
    assert all(p.authors for p in papers)
    assert not [p for p in papers if "Authors:" in p.abstract or "Upvotes:" in p.abstract]


def test_a_plain_description_mentioning_authors_stays_the_abstract() -> None:
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Lab</title>
      <item><title>Post</title><link>https://lab.example/p/1</link>
      <description>Authors: we thank the reviewers. The method works.</description></item>
    </channel></rss>"""
    paper = rss.parse(feed)[0]
    assert paper.authors == [] and paper.abstract.startswith("Authors: we thank")
    assert paper.url == "https://lab.example/p/1" and paper.pdf_url is None
