"""OpenAlex `/works`: a filter and/or a search, newest publication first, paged by `page`.

The abstract comes as an inverted index (word -> positions) and is rebuilt here; `type`
values that are not papers (erratum, peer-review, paratext…) and retracted works are
skipped. A work with an arXiv location is that arXiv paper; a journal article with a
preprint location (bioRxiv, medRxiv) carries the preprint's DOI as its relation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from digest.errors import ParseError
from digest.sources._scholarly import (
    KeyedSource,
    api_key,
    arxiv_of_doi,
    as_dict,
    as_int,
    as_list,
    day,
    identity,
    load_json,
    names,
    relation,
    title_text,
    window_start,
    with_params,
)
from digest.sources.base import SourceType, each_record
from digest.sources.ids import arxiv_id_in_url, canonical_id, normalize_doi, split_arxiv_id
from digest.sources.records import PaperRecord
from digest.text import http_url, one_line, paragraph

DEFAULT_URL = "https://api.openalex.org/works"
PAGE_SIZE = 100
HINT = "check the source URL points at OpenAlex /works"
SELECT = ("id,doi,title,display_name,type,is_paratext,is_retracted,publication_date,"
          "primary_location,best_oa_location,locations,authorships,abstract_inverted_index,"
          "cited_by_count")  # what the parser reads (a full work is half as large again)
PAPER_TYPES = {"article", "preprint", "review", "book-chapter", "report", "dissertation",
               "letter", "posted-content", "proceedings-article"}
_LEADING_ABSTRACT = re.compile(r"^abstract[\s.:]+(?=[A-Z])", re.I)


class OpenAlexSource(KeyedSource):
    """OpenAlex works matching `filter` (OpenAlex filter syntax) and/or `search`."""

    type: Literal["openalex"]
    filter: str | None = None
    search: str | None = None
    where_hint: ClassVar[str | None] = ("give filter (e.g. 'primary_topic.field.id:17'), "
                                        "search, or path")

    def has_location(self) -> bool:
        """A filter, a search (or a saved response) says what to read."""
        return bool(self.filter or self.search or self.path)


def first_urls(src: OpenAlexSource, today: datetime, since: datetime | None = None) -> list[str]:
    """Page 1 of the works published since the window's start."""
    return [works_url(src, since, today, 1)]


def next_page(src: OpenAlexSource, bodies: Sequence[bytes],
              since: datetime | None = None) -> str | None:
    """The next page while OpenAlex has more works and `max_results` is not reached."""
    last = as_dict(load_json(bodies[-1], "OpenAlex", HINT))
    meta = as_dict(last.get("meta"))
    page, per_page, count = (as_int(meta.get(k)) for k in ("page", "per_page", "count"))
    if not page or not per_page or count is None or not as_list(last.get("results")):
        return None
    if page * per_page >= min(count, src.max_results):
        return None
    return works_url(src, since, datetime.now(UTC), page + 1)  # today only matters unpolled


def works_url(src: OpenAlexSource, since: datetime | None, today: datetime, page: int) -> str:
    """One page of the configured works, published since the window's start."""
    window = f"from_publication_date:{window_start(src, since, today)}"
    return with_params(str(src.url) if src.url else DEFAULT_URL, {
        "filter": ",".join(f for f in (src.filter, window) if f), "search": src.search,
        "sort": "publication_date:desc", "per-page": min(PAGE_SIZE, src.max_results),
        "page": page, "select": SELECT, "api_key": api_key(src),
    })


def parse(data: bytes) -> list[PaperRecord]:
    """Parse one `/works` response; works that are not papers are skipped."""
    doc = load_json(data, "OpenAlex", HINT)
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        message = as_dict(doc).get("message") or as_dict(doc).get("error")
        raise ParseError(f"OpenAlex: {message or 'no results list in the response'}", HINT)
    return each_record(_from_work, doc["results"])


def abstract_of(index: Any) -> str:
    """Rebuild an abstract from OpenAlex's inverted index (word -> positions)."""
    words: dict[int, str] = {}
    for word, positions in as_dict(index).items():
        for pos in as_list(positions):
            if type(pos) is int:
                words[pos] = word
    text = " ".join([words[p] for p in sorted(words)])
    return _LEADING_ABSTRACT.sub("", paragraph(text))


def _from_work(work: Any) -> PaperRecord | None:
    work = as_dict(work)
    title = title_text(work.get("title") or work.get("display_name"))
    if not title or str(work.get("type")) not in PAPER_TYPES or work.get("is_paratext") \
            or work.get("is_retracted"):
        return None
    locations = [as_dict(loc) for loc in as_list(work.get("locations"))]
    arxiv_id, doi = identity(_arxiv_location(locations), work.get("doi"))
    preprint = None if work.get("type") == "preprint" else _preprint_doi(locations, doi)
    landing = http_url(as_dict(work.get("primary_location")).get("landing_page_url"))
    return PaperRecord(
        canonical_id=canonical_id(arxiv_id, doi, title, landing), arxiv_id=arxiv_id, doi=doi,
        title=title, abstract=abstract_of(work.get("abstract_inverted_index")),
        authors=names([_author(a) for a in as_list(work.get("authorships"))]),
        published=day(work.get("publication_date")),
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else landing,
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else _pdf(work),
        signals={**_signals(work), **relation(preprint, doi)},
    )


def _arxiv_location(locations: list[dict[str, Any]]) -> str | None:
    for loc in locations:
        loc_id = str(loc.get("id") or "")  # e.g. pmh:oai:arXiv.org:2510.08703
        found = (arxiv_id_in_url(str(loc.get("landing_page_url") or ""))
                 or arxiv_id_in_url(str(loc.get("pdf_url") or ""))
                 or (split_arxiv_id(loc_id) if "arxiv.org:" in loc_id.lower() else None))
        arxiv_id = found[0] if found else arxiv_of_doi(normalize_doi(loc_id))
        if arxiv_id:
            return arxiv_id
    return None


def _preprint_doi(locations: list[dict[str, Any]], doi: str | None) -> str | None:
    """The DOI of a preprint location (a repository copy that is not the published one)."""
    for loc in locations:
        other = normalize_doi(str(loc.get("id") or "")) or normalize_doi(
            str(loc.get("landing_page_url") or ""))
        repository = as_dict(loc.get("source")).get("type") == "repository"
        if other and other != doi and not arxiv_of_doi(other) and (
                repository or loc.get("version") == "submittedVersion"):
            return other
    return None


def _author(authorship: Any) -> str:
    authorship = as_dict(authorship)
    name = as_dict(authorship.get("author")).get("display_name")
    return str(name or authorship.get("raw_author_name") or "")


def _pdf(work: dict[str, Any]) -> str | None:
    for key in ("best_oa_location", "primary_location"):
        url = http_url(as_dict(work.get(key)).get("pdf_url"))
        if url:
            return url
    return None


def _signals(work: dict[str, Any]) -> dict[str, Any]:
    venue = as_dict(as_dict(work.get("primary_location")).get("source")).get("display_name")
    signals = {
        "openalex_id": str(work.get("id") or "").rsplit("/", 1)[-1] or None,
        "cited_by": as_int(work.get("cited_by_count")),
        "venue": title_text(venue) if venue else None,
        "affiliation": _first_affiliation(work),
    }
    return {k: v for k, v in signals.items() if v is not None}


def _first_affiliation(work: dict[str, Any]) -> str | None:
    """The first author's first institution (or the affiliation as printed)."""
    first = as_dict((as_list(work.get("authorships")) or [{}])[0])
    institutions = [as_dict(i).get("display_name") for i in as_list(first.get("institutions"))]
    text = next((t for t in [*institutions, *as_list(first.get("raw_affiliation_strings"))] if t),
                None)
    return one_line(str(text or ""), 200) or None


TYPE = SourceType("openalex", parse, first_urls, next_page, interval_minutes=360)
