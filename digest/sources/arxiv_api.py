"""The arXiv API (export.arxiv.org/api/query): current and legacy Atom, paging, error feeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal
from urllib.parse import urlencode
from xml.etree.ElementTree import Element

from pydantic import Field

from digest.errors import ParseError
from digest.sources._xml import NS, parse_date, parse_xml, text_of
from digest.sources.base import ARXIV_ANNOUNCE_CRON, SourceBase, SourceType, each_record
from digest.sources.ids import normalize_doi, split_arxiv_id
from digest.sources.records import PaperRecord
from digest.text import author_name, one_line, paragraph

DEFAULT_URL = "https://export.arxiv.org/api/query"
PAGE_SIZE = 100


class ArxivApiSource(SourceBase):
    """arXiv API search: `query` in arXiv's search syntax, newest first."""

    type: Literal["arxiv_api"]
    query: str | None = None
    max_results: int = Field(200, ge=1, le=2000)
    where_hint: ClassVar[str | None] = "give query (e.g. 'cat:cs.CL AND abs:retrieval') or path"

    def has_location(self) -> bool:
        """The query (or a saved response) says what to read."""
        return bool(self.query or self.path)


def first_urls(src: ArxivApiSource, today: datetime,
               since: datetime | None = None) -> list[str]:
    """The first page of the search, newest first."""
    base = str(src.url) if src.url else DEFAULT_URL
    return [query_url(base, src.query, max_results=min(PAGE_SIZE, src.max_results))]


def next_page(src: ArxivApiSource, bodies: Sequence[bytes],
              since: datetime | None = None) -> str | None:
    """The next page while the search has more and `max_results` is not reached."""
    per = min(PAGE_SIZE, src.max_results)
    start = per * len(bodies)
    last_count = page_info(bodies[0]).per_page if len(bodies) == 1 else len(parse(bodies[-1]))
    if start >= min(page_info(bodies[0]).total, src.max_results) or last_count == 0:
        return None
    base = str(src.url) if src.url else DEFAULT_URL
    return query_url(base, src.query, start=start, max_results=min(per, src.max_results - start))


@dataclass(frozen=True, slots=True)
class Page:
    """Where one API response sits in its result set."""

    total: int
    start: int
    per_page: int


def query_url(base: str, query: str | None, id_list: list[str] | None = None,
              start: int = 0, max_results: int = PAGE_SIZE) -> str:
    """Build an API URL for a search query or an id list, newest submissions first."""
    params = {
        "search_query": query or "", "id_list": ",".join(id_list or []),
        "start": start, "max_results": max_results,
        "sortBy": "submittedDate", "sortOrder": "descending",
    }
    sep = "&" if "?" in base else "?"
    return base + sep + urlencode(params)


def parse(data: bytes) -> list[PaperRecord]:
    """Parse one API response into records; an API error feed raises ParseError."""
    root = parse_xml(data, "arXiv API")
    entries = root.findall("atom:entry", NS)
    _raise_api_error(entries)
    return each_record(_from_entry, entries)


def page_info(data: bytes) -> Page:
    """The opensearch paging numbers of one API response."""
    root = parse_xml(data, "arXiv API")

    def num(name: str, default: int) -> int:
        try:
            return int(text_of(root, f"opensearch:{name}").strip())
        except ValueError:
            return default

    entries = len(root.findall("atom:entry", NS))
    return Page(num("totalResults", entries), num("startIndex", 0), num("itemsPerPage", entries))


def is_error_feed(data: bytes) -> bool:
    """Whether a body is the API's error feed: its answer to an id (or query) it cannot read."""
    try:
        root = parse_xml(data, "arXiv API")
    except ParseError:
        return False
    return any("/api/errors" in text_of(e, "atom:id") for e in root.findall("atom:entry", NS))


def _raise_api_error(entries: list[Element]) -> None:
    for entry in entries:
        if "/api/errors" in text_of(entry, "atom:id"):
            message = one_line(text_of(entry, "atom:summary")) or "unknown error"
            raise ParseError(f"arXiv API error: {message}",
                             "fix the source's query or id list in the config")


def _from_entry(entry: Element) -> PaperRecord | None:
    found = split_arxiv_id(text_of(entry, "atom:id"))
    if not found:
        return None
    arxiv_id, version = found
    primary = entry.find("arxiv:primary_category", NS)
    categories = [c.get("term", "") for c in entry.findall("atom:category", NS)]
    if primary is not None and primary.get("term") in categories:
        categories.remove(primary.get("term", ""))
        categories.insert(0, primary.get("term", ""))
    journal = one_line(text_of(entry, "arxiv:journal_ref"))
    return PaperRecord(
        canonical_id=arxiv_id, arxiv_id=arxiv_id, version=version or 1,
        title=one_line(text_of(entry, "atom:title")),
        abstract=paragraph(text_of(entry, "atom:summary")),
        authors=[author_name(a.text or "") for a in entry.findall("atom:author/atom:name", NS)],
        categories=[c for c in categories if c],
        doi=normalize_doi(text_of(entry, "arxiv:doi")),
        published=parse_date(text_of(entry, "atom:published")),
        updated=parse_date(text_of(entry, "atom:updated")),
        url=f"https://arxiv.org/abs/{arxiv_id}",
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
        comment=one_line(text_of(entry, "arxiv:comment"), 1000) or None,
        signals={"journal_ref": journal} if journal else {},
    )


TYPE = SourceType("arxiv_api", parse, first_urls, next_page, interval_minutes=720,
                  cron=ARXIV_ANNOUNCE_CRON)
