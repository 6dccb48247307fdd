"""Semantic Scholar Graph API `/paper/search`: a relevance-ranked query, paged by offset.

A paper with `externalIds.ArXiv` is that arXiv paper (one row with what arXiv brought);
`publicationDate` may be null (the date is then left unknown, not guessed from `year`).
The service serves at most 1,000 results per query. The key it offers travels in an
`x-api-key` header, which the shared fetcher does not send yet, so polls are anonymous.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from digest.errors import ParseError
from digest.sources._scholarly import (
    WindowedSource,
    as_dict,
    as_int,
    as_list,
    day,
    identity,
    load_json,
    names,
    title_text,
    window_start,
    with_params,
)
from digest.sources.base import SourceType, each_record
from digest.sources.ids import canonical_id, split_arxiv_id
from digest.sources.records import PaperRecord
from digest.text import http_url, paragraph

DEFAULT_URL = "https://api.semanticscholar.org/graph/v1/paper/search"
PAGE_SIZE = 100
MAX_RESULTS = 1000  # /paper/search never returns more for one query
FIELDS = ("title,abstract,authors,externalIds,url,venue,year,publicationDate,"
          "publicationTypes,openAccessPdf,citationCount")
HINT = "check the source URL points at the Graph API /paper/search"
NOT_PAPERS = {"Editorial", "LettersAndComments", "News", "Erratum"}


class SemanticScholarSource(WindowedSource):
    """A Semantic Scholar search (`query`), papers published since the window's start."""

    type: Literal["semantic_scholar"]
    query: str | None = None
    max_results: int = Field(200, ge=1, le=MAX_RESULTS)
    days_back: int = Field(7, ge=1, le=90)
    where_hint: ClassVar[str | None] = "give query (e.g. 'retrieval augmented generation') or path"

    def has_location(self) -> bool:
        """The query (or a saved response) says what to read."""
        return bool(self.query or self.path)


def first_urls(src: SemanticScholarSource, today: datetime,
               since: datetime | None = None) -> list[str]:
    """The first page of the search, limited to papers published since the window's start."""
    return [search_url(src, since, today, 0)]


def next_page(src: SemanticScholarSource, bodies: Sequence[bytes],
              since: datetime | None = None) -> str | None:
    """The server's `next` offset until the cap (no `next`: the last page)."""
    offset = as_int(as_dict(load_json(bodies[-1], "Semantic Scholar", HINT)).get("next"))
    if offset is None or offset >= src.max_results:
        return None
    return search_url(src, since, datetime.now(UTC), offset)  # today only matters unpolled


def search_url(src: SemanticScholarSource, since: datetime | None, today: datetime,
               offset: int) -> str:
    """One page of the search, with the fields the parser reads."""
    return with_params(str(src.url) if src.url else DEFAULT_URL, {
        "query": src.query, "offset": offset,
        "limit": min(PAGE_SIZE, src.max_results - offset), "fields": FIELDS,
        "publicationDateOrYear": f"{window_start(src, since, today)}:",
    })


def parse(data: bytes) -> list[PaperRecord]:
    """Parse one search response; editorials, news and errata are skipped."""
    doc = load_json(data, "Semantic Scholar", HINT)
    if not isinstance(doc, dict) or ("data" not in doc and "total" not in doc):
        message = as_dict(doc).get("message") or as_dict(doc).get("error")
        raise ParseError(f"Semantic Scholar: {message or 'not a search response'}", HINT)
    return each_record(_from_paper, as_list(doc.get("data")))


def _from_paper(paper: Any) -> PaperRecord | None:
    paper = as_dict(paper)
    title = title_text(paper.get("title"))
    kinds = {str(k) for k in as_list(paper.get("publicationTypes"))}
    if not title or (kinds and kinds <= NOT_PAPERS):
        return None
    ext = as_dict(paper.get("externalIds"))
    found = split_arxiv_id(str(ext.get("ArXiv") or ""))
    arxiv_id, doi = identity(found[0] if found else None, ext.get("DOI"))
    page = http_url(paper.get("url"))
    return PaperRecord(
        canonical_id=canonical_id(arxiv_id, doi, title, page), arxiv_id=arxiv_id, doi=doi,
        title=title, abstract=paragraph(str(paper.get("abstract") or "")),
        authors=names([str(as_dict(a).get("name") or "") for a in as_list(paper.get("authors"))]),
        published=day(paper.get("publicationDate")),
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else page,
        pdf_url=http_url(as_dict(paper.get("openAccessPdf")).get("url")),
        signals=_signals(paper, page),
    )


def _signals(paper: dict[str, Any], page: str | None) -> dict[str, Any]:
    signals = {"s2_url": page, "citation_count": as_int(paper.get("citationCount")),
               "venue": title_text(paper.get("venue")) or None}
    return {k: v for k, v in signals.items() if v is not None}


TYPE = SourceType("semantic_scholar", parse, first_urls, next_page, interval_minutes=360)
