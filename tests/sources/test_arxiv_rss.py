"""arXiv listing feeds (rss.arxiv.org), parsed from real captures."""

from __future__ import annotations

import pytest

from digest.errors import ParseError
from digest.sources import arxiv_rss
from tests.conftest import read_data

RSS_4 = "arxiv_rss_cs.LG+cs.AI+cs.CL+stat.ML_2026-09-24_4items.xml"


def test_rss_items_carry_id_version_announce_type_and_categories() -> None:
    papers = {p.canonical_id: p for p in arxiv_rss.parse(read_data(RSS_4))}
    assert list(papers) == ["2609.26811", "2609.26820", "2205.06398", "2009.13987"]
    cross = papers["2205.06398"]
    assert cross.version == 2
    assert cross.signals["announce_type"] == "cross"
    assert cross.doi == "10.1093/bioinformatics/btac431"
    assert cross.categories == ["stat.ME", "stat.AP", "stat.ML"]
    assert cross.authors == ["Pritam Dey", "Zhengwu Zhang", "David B. Dunson"]
    assert papers["2009.13987"].signals["announce_type"] == "replace"
    assert papers["2009.13987"].version == 3


def test_abstract_loses_the_announce_preamble() -> None:
    paper = arxiv_rss.parse(read_data(RSS_4))[0]
    assert paper.abstract.startswith("Local learning trains each layer")
    assert "Announce Type" not in paper.abstract
    assert paper.published is not None and paper.published.isoformat().startswith("2026-09-24")
    assert paper.url == "https://arxiv.org/abs/2609.26811"


def test_author_list_quirks_double_space_and_single_name() -> None:
    papers = arxiv_rss.parse(read_data("arxiv_rss_cs.CL_2026-04-27_3items_reserialized.xml"))
    assert papers[0].authors[:4] == ["Anamta Khan", "Ratna Kandala", "Deepti", "Sheza Munir"]
    assert all(a and a == a.strip() for p in papers for a in p.authors)


def test_atom_flavour_parses_like_rss() -> None:
    papers = arxiv_rss.parse(read_data("arxiv_atomfeed_cs.AI_2025-08-20.atom.xml"))
    assert len(papers) == 7
    assert papers[0].canonical_id == "2508.13426"
    assert papers[0].categories == ["cs.CL", "cs.AI"]
    assert {p.signals["announce_type"] for p in papers} == {"cross", "new"}
    assert papers[0].abstract.startswith("As large language models")


def test_empty_weekend_feed_is_no_papers_not_an_error() -> None:
    assert arxiv_rss.parse(read_data("arxiv_rss_cs.CL_2026-08-01_weekend_empty.xml")) == []


def test_tex_accents_in_creators_become_letters() -> None:
    xml = read_data(RSS_4).replace(
        b"<dc:creator>Fabien Polly</dc:creator>",
        b"<dc:creator>Rebekah A. Gelp\\'i, J\\\"org Tiedemann, Sigmund H. H{\\o}eg,"
        b" Aleksandar An\\v{z}el</dc:creator>")
    paper = arxiv_rss.parse(xml)[0]
    assert paper.authors == ["Rebekah A. Gelpí", "Jörg Tiedemann", "Sigmund H. Høeg",
                             "Aleksandar Anžel"]


@pytest.mark.parametrize("body", [b"", b"<html><body>Service down</body></html>",
                                  b"\x89PNG\r\n\x1a\n garbage", b'{"json": true}'])
def test_garbage_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        arxiv_rss.parse(body)


def test_entity_expansion_bomb_is_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><rss><channel><item>'
            b"<title>&b;</title></item></channel></rss>")
    with pytest.raises(ParseError, match="unsafe"):
        arxiv_rss.parse(bomb)


def test_hostile_title_is_one_line_and_cut() -> None:
    xml = read_data(RSS_4).replace(
        b"<title>The Drift Contract",
        b"<title>Evil\r\nBcc: victim@example.org\r\n" + b"x" * 5000 + b" The Drift Contract")
    title = arxiv_rss.parse(xml)[0].title
    assert "\n" not in title and "\r" not in title
    assert len(title) <= 500
