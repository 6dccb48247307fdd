"""Europe PMC REST `search` (resultType=core, JSON), paged by cursorMark.

Journal articles (source MED, PMC) and preprints (PPR) alike; titles and abstracts carry
inline HTML, sometimes entity-escaped (`&lt;i&gt;`); errata, retractions and comments are
skipped. An arXiv preprint's DOI (10.48550/arXiv.…) makes it the arXiv paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal

from digest.errors import ParseError
from digest.sources._scholarly import (
    WindowedSource,
    as_dict,
    as_int,
    as_list,
    day,
    identity,
    load_json,
    markup_text,
    names,
    title_text,
    utc_day,
    window_start,
    with_params,
)
from digest.sources.base import SourceType, each_record
from digest.sources.ids import canonical_id
from digest.sources.records import PaperRecord
from digest.text import http_url, one_line

DEFAULT_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/search"
PAGE_SIZE = 100
HINT = "check the source URL points at Europe PMC's REST search"
NOT_PAPERS = ("erratum", "correction", "retraction", "expression of concern", "comment",
              "editorial", "news", "published peer review")


class EuropePmcSource(WindowedSource):
    """A Europe PMC search (its query syntax), limited to papers first published recently."""

    type: Literal["europepmc"]
    query: str | None = None
    where_hint: ClassVar[str | None] = "give query (e.g. '\"CRISPR\" AND SRC:PPR') or path"

    def has_location(self) -> bool:
        """The query (or a saved response) says what to read."""
        return bool(self.query or self.path)


def first_urls(src: EuropePmcSource, today: datetime, since: datetime | None = None) -> list[str]:
    """The first page of the query, limited to first publication since the window's start."""
    window = f"FIRST_PDATE:[{window_start(src, since, today)} TO {utc_day(today)}]"
    return [search_url(src, f"({src.query}) AND {window}", "*", min(PAGE_SIZE, src.max_results))]


def next_page(src: EuropePmcSource, bodies: Sequence[bytes],
              since: datetime | None = None) -> str | None:
    """The next cursorMark of the same query (echoed by the server) until the cap or the end."""
    last = as_dict(load_json(bodies[-1], "Europe PMC", HINT))
    request, cursor = as_dict(last.get("request")), last.get("nextCursorMark")
    fetched = len(bodies) * min(PAGE_SIZE, src.max_results)  # every page but the last is full
    limit = min(as_int(last.get("hitCount")) or 0, src.max_results)
    if not cursor or cursor == request.get("cursorMark") or not _results(last) \
            or fetched >= limit or not request.get("queryString"):
        return None
    return search_url(src, str(request["queryString"]), str(cursor),
                      min(PAGE_SIZE, src.max_results - fetched))


def search_url(src: EuropePmcSource, query: str, cursor: str, size: int) -> str:
    """A core-result JSON search, newest publication first."""
    base = str(src.url) if src.url else DEFAULT_URL
    return with_params(base, {"query": query, "resultType": "core", "format": "json",
                              "pageSize": size, "cursorMark": cursor, "sort": "P_PDATE_D desc"})


def parse(data: bytes) -> list[PaperRecord]:
    """Parse one search response; results that are not papers are skipped."""
    doc = load_json(data, "Europe PMC", HINT)
    if not isinstance(doc, dict) or "resultList" not in doc:
        message = one_error(doc)
        raise ParseError(f"Europe PMC: {message or 'no resultList in the response'}", HINT)
    return each_record(_from_result, _results(doc))


def one_error(doc: Any) -> str:
    """The error text Europe PMC puts in a failed response, if any."""
    doc = as_dict(doc)
    return str(doc.get("errMsg") or doc.get("message") or doc.get("error") or "")


def _results(doc: dict[str, Any]) -> list[Any]:
    return as_list(as_dict(doc.get("resultList")).get("result"))


def _from_result(res: Any) -> PaperRecord | None:
    res = as_dict(res)
    title = title_text(res.get("title"))
    kinds = " ".join(str(t) for t in as_list(as_dict(res.get("pubTypeList")).get("pubType")))
    if not title or any(word in kinds.lower() for word in NOT_PAPERS):
        return None
    arxiv_id, doi = identity(None, res.get("doi"))
    url = f"https://europepmc.org/article/{res.get('source') or 'MED'}/{res.get('id') or ''}"
    return PaperRecord(
        canonical_id=canonical_id(arxiv_id, doi, title, url), arxiv_id=arxiv_id, doi=doi,
        title=title, abstract=markup_text(res.get("abstractText")), authors=_authors(res),
        published=day(res.get("firstPublicationDate")) or day(res.get("electronicPublicationDate")),
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else url, pdf_url=_pdf(res),
        signals=_signals(res),
    )


def _authors(res: dict[str, Any]) -> list[str]:
    people = [as_dict(a) for a in as_list(as_dict(res.get("authorList")).get("author"))]
    full = [f"{a.get('firstName') or ''} {a.get('lastName') or ''}".strip()
            or str(a.get("fullName") or a.get("collectiveName") or "") for a in people]
    if not any(full):
        full = str(res.get("authorString") or "").rstrip(".").split(",")
    return names(full)


def _pdf(res: dict[str, Any]) -> str | None:
    for link in as_list(as_dict(res.get("fullTextUrlList")).get("fullTextUrl")):
        link = as_dict(link)
        if link.get("documentStyle") == "pdf" and link.get("availabilityCode") in ("OA", "F"):
            return http_url(link.get("url"))
    return None


def _signals(res: dict[str, Any]) -> dict[str, Any]:
    journal = as_dict(as_dict(res.get("journalInfo")).get("journal")).get("title")
    signals = {
        "pmid": str(res["pmid"]) if res.get("pmid") else None,
        "pmcid": str(res["pmcid"]) if res.get("pmcid") else None,
        "journal": title_text(journal) if journal else None,
        "cited_by": as_int(res.get("citedByCount")),
        "affiliation": _first_affiliation(res),
    }
    return {k: v for k, v in signals.items() if v is not None}


def _first_affiliation(res: dict[str, Any]) -> str | None:
    """The first author's affiliation (the top-level `affiliation` is that one too)."""
    first = as_dict((as_list(as_dict(res.get("authorList")).get("author")) or [{}])[0])
    details = as_list(as_dict(first.get("authorAffiliationDetailsList")).get("authorAffiliation"))
    text = as_dict(details[0]).get("affiliation") if details else res.get("affiliation")
    first_of_several = str(text or "").split("; ")[0].rstrip(".")  # "Dept A, Univ X; Dept B, …"
    return one_line(first_of_several, 200) or None


TYPE = SourceType("europepmc", parse, first_urls, next_page, interval_minutes=720)
