"""One paper, one row across sources (on a SQLite file, and PostgreSQL when configured):
preprint and journal version, arXiv seen through Semantic Scholar and OpenAlex, versions."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.sources import arxiv_api, arxiv_rss, biorxiv, europepmc, openalex, semantic_scholar
from digest.sources.records import PaperRecord
from digest.storage.db import session_scope
from digest.storage.models import Paper, Sighting
from digest.storage.papers import UpsertResult, papers_by_canonical_id, upsert_papers
from tests.conftest import read_data
from tests.factories import API_100, rss_feed_with
from tests.sources.captures import (
    JOURNAL,
    OPENALEX,
    PREPRINT,
    biorxiv_posting,
    europepmc_article,
    openalex_work,
    openalex_works,
    preprint_location,
    s2_paper,
)


def store(engine: Engine, source: str, records: list[PaperRecord]) -> UpsertResult:
    with session_scope(engine) as s:
        return upsert_papers(s, source, records, datetime(2026, 8, 5, tzinfo=UTC))


def rows(engine: Engine) -> list[Paper]:
    with Session(engine) as s:
        return list(s.exec(select(Paper).order_by(Paper.id)).all())  # type: ignore[arg-type]


def sighted_by(engine: Engine, paper: Paper) -> set[str]:
    with Session(engine) as s:
        return {x.source for x in s.exec(select(Sighting).where(Sighting.paper_id == paper.id))}


def test_preprint_versions_then_journal_version_are_one_row(engine: Engine) -> None:
    first = store(engine, "biorxiv", biorxiv.parse(biorxiv_posting(1, date="2026-07-01")))
    second = store(engine, "biorxiv", biorxiv.parse(biorxiv_posting(2, published=JOURNAL)))
    journal = store(engine, "europepmc", europepmc.parse(
        europepmc_article(JOURNAL, firstPublicationDate="2026-09-01")))
    assert first.new == [f"doi:{PREPRINT}"]
    assert second.new == [] and second.updated == [f"doi:{PREPRINT}"]
    assert journal.new == [] and journal.updated == [f"doi:{PREPRINT}"]
    [row] = rows(engine)
    assert row.version == 2 and row.doi == PREPRINT
    assert row.title.startswith("Global analysis of the cold-shock response")  # the preprint's
    assert row.published == datetime(2026, 7, 1, tzinfo=UTC)  # v1's date: first posted
    assert row.signals["published_doi"] == JOURNAL and row.signals["preprint_doi"] == PREPRINT
    assert row.signals["pmid"] == "41734270" and row.signals["preprint_server"] == "bioRxiv"
    assert sighted_by(engine, row) == {"biorxiv", "europepmc"}


def test_journal_first_then_its_preprint_versions_are_one_row(engine: Engine) -> None:
    store(engine, "europepmc", europepmc.parse(europepmc_article(JOURNAL)))
    v2 = store(engine, "biorxiv", biorxiv.parse(biorxiv_posting(2, published=JOURNAL)))
    v1 = store(engine, "medrxiv-backfill", biorxiv.parse(biorxiv_posting(1)))  # no relation
    assert v2.new == v1.new == []
    [row] = rows(engine)
    assert row.canonical_id == f"doi:{JOURNAL}" and row.version == 1  # a preprint's v2 is not
    assert row.title.startswith("An Rv1471-expressing chimpanzee adenovirus")  # the journal's v2
    assert row.signals["preprint_doi"] == PREPRINT and row.signals["preprint_server"] == "bioRxiv"
    assert sighted_by(engine, row) == {"europepmc", "biorxiv", "medrxiv-backfill"}


def test_two_versions_in_one_window_are_one_row(engine: Engine) -> None:
    both = biorxiv.parse(biorxiv_posting(1, date="2026-07-02")) + biorxiv.parse(biorxiv_posting(3))
    result = store(engine, "biorxiv", both)
    assert result.seen == 1 and result.new == [f"doi:{PREPRINT}"]
    [row] = rows(engine)
    assert row.version == 3 and row.published == datetime(2026, 7, 2, tzinfo=UTC)


def test_arxiv_paper_seen_through_semantic_scholar_joins_the_arxiv_row(engine: Engine) -> None:
    api = arxiv_api.parse(read_data(API_100))
    target = next(p for p in api if p.doi is None)
    store(engine, "arxiv-api", api)
    result = store(engine, "s2", semantic_scholar.parse(s2_paper(target.canonical_id)))
    assert result.new == [] and result.updated == [target.canonical_id]
    [row] = papers_by_canonical_id_in(engine, target.canonical_id)
    assert row.title == target.title and row.version == target.version  # arXiv's own metadata
    assert row.doi == "10.1109/iccv48922.2021.00986"  # filled in from Semantic Scholar
    assert row.signals["s2_url"].startswith("https://www.semanticscholar.org/paper/")
    assert sighted_by(engine, row) == {"arxiv-api", "s2"}
    assert len(rows(engine)) == len(api)


def test_arxiv_paper_seen_through_openalex_joins_the_arxiv_row(engine: Engine) -> None:
    store(engine, "arxiv-rss", arxiv_rss.parse(rss_feed_with("2510.08703", 2)))
    result = store(engine, "openalex", openalex.parse(read_data(OPENALEX)))
    assert "2510.08703" in result.updated and "2510.08703" not in result.new
    [row] = papers_by_canonical_id_in(engine, "2510.08703")
    assert row.version == 2 and row.title == "An early title"
    assert row.doi == "10.1186/s12859-026-06583-0"
    assert row.signals["openalex_id"] == "W4417114759" and row.signals["venue"] == "BMC Bioinformatics"
    assert len(rows(engine)) == 4 + 4 - 1  # 4 RSS items, 4 OpenAlex papers, one of them shared


def test_journal_row_that_learns_its_arxiv_id_is_keyed_by_it(engine: Engine) -> None:
    doi = "10.1186/s12859-026-06583-0"
    store(engine, "europepmc", europepmc.parse(europepmc_article(doi)))
    [before] = rows(engine)
    store(engine, "openalex", openalex.parse(openalex_works(openalex_work(2))))
    rss = store(engine, "arxiv-rss", arxiv_rss.parse(rss_feed_with("2510.08703", 3)))
    assert "2510.08703" in rss.updated and "2510.08703" not in rss.new
    [row] = papers_by_canonical_id_in(engine, "2510.08703")
    assert (row.id, row.canonical_id, row.arxiv_id, row.doi) == (before.id, "2510.08703",
                                                                  "2510.08703", doi)
    assert row.version == 3 and row.title == "An early title"  # arXiv v3 is a newer version
    assert sighted_by(engine, row) == {"europepmc", "openalex", "arxiv-rss"}


def test_preprint_and_article_in_one_response_are_one_row(engine: Engine) -> None:
    preprint = openalex_work(5, id="https://openalex.org/W1", type="preprint",
                             doi=f"https://doi.org/{PREPRINT}", locations=[])
    article = openalex_work(5)
    article["locations"].append(preprint_location(PREPRINT))
    result = store(engine, "openalex", openalex.parse(openalex_works(preprint, article)))
    assert result.seen == 1 and result.new == [f"doi:{PREPRINT}"]
    [row] = rows(engine)
    assert row.signals["published_doi"] == "10.1007/s12194-026-01110-5"
    later = store(engine, "biorxiv", biorxiv.parse(biorxiv_posting(1)))
    assert later.new == [] and len(rows(engine)) == 1


def test_two_arxiv_ids_sharing_a_doi_stay_two_papers(engine: Engine) -> None:
    store(engine, "rss", arxiv_rss.parse(rss_feed_with("2510.08703", 1)))
    work = openalex_work(2, locations=[{"landing_page_url": "https://arxiv.org/abs/2510.09999"}])
    result = store(engine, "openalex", openalex.parse(openalex_works(work)))
    assert result.new == ["2510.09999"]
    with session_scope(engine) as s:
        upsert_papers(s, "x", [PaperRecord("2510.08703", "t", arxiv_id="2510.08703",
                                           doi="10.1186/s12859-026-06583-0")])
    assert len(papers_by_canonical_id_in(engine, "2510.08703", "2510.09999")) == 2


def papers_by_canonical_id_in(engine: Engine, *ids: str) -> list[Paper]:
    with Session(engine) as s:
        return papers_by_canonical_id(s, list(ids))
