"""Any RSS 2.0 / Atom feed (bioRxiv, journals, lab blogs) via feedparser."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import feedparser

from digest.errors import ParseError
from digest.sources.base import SourceBase, SourceType, each_record
from digest.sources.ids import arxiv_id_in_url, canonical_id, normalize_doi, split_arxiv_id
from digest.sources.records import PaperRecord
from digest.text import MAX_AUTHORS, author_name, html_to_text, http_url, one_line, paragraph


class RssSource(SourceBase):
    """Any RSS 2.0 / Atom feed."""

    type: Literal["rss"]
    where_hint: ClassVar[str | None] = "give url (or path to a saved feed)"


_BARE_ID = re.compile(r"/(\d{4}\.\d{4,5})(?:v(\d+))?/?$")


def parse(data: bytes) -> list[PaperRecord]:
    """Parse a generic feed; papers are keyed by DOI, an arXiv id in a link, or a hash."""
    feed = feedparser.parse(data, sanitize_html=True, resolve_relative_uris=False)
    if feed.bozo and not feed.entries:
        raise ParseError(f"RSS: not a readable feed ({feed.get('bozo_exception')})",
                         "check that the URL points at an RSS or Atom feed")
    if not feed.entries and not feed.get("feed"):
        raise ParseError("RSS: no feed found in the response",
                         "check that the URL points at an RSS or Atom feed")
    return each_record(_from_entry, feed.entries)


def _from_entry(entry: Any) -> PaperRecord | None:
    title = one_line(html_to_text(entry.get("title", "")))
    link = str(entry.get("link", ""))
    if not title:
        return None
    arxiv = _find_arxiv(entry, link)
    doi = _find_doi(entry, link)
    named, abstract = _labelled(html_to_text(entry.get("summary", "") or _content(entry)))
    return PaperRecord(
        canonical_id=canonical_id(arxiv[0] if arxiv else None, doi, title, link or None),
        arxiv_id=arxiv[0] if arxiv else None, version=(arxiv[1] if arxiv else None) or 1,
        title=title, abstract=paragraph(abstract), authors=_authors(entry) or named,
        categories=[one_line(t.get("term", ""), 80) for t in entry.get("tags", [])
                    if t.get("term")][:20],
        doi=doi, published=_date(entry),
        # an aggregator's page (tldr.takara.ai/p/<id>) is not the paper's: link arXiv itself
        url=f"https://arxiv.org/abs/{arxiv[0]}" if arxiv else http_url(link),
        pdf_url=f"https://arxiv.org/pdf/{arxiv[0]}" if arxiv else None,
    )


_AUTHORS_LINE = re.compile(r"^\s*Authors?:\s*(.+?)\s*$", re.M | re.I)
_SUMMARY_LINE = re.compile(r"^\s*(?:Summary|Abstract):\s*", re.M | re.I)


def _labelled(text: str) -> tuple[list[str], str]:
    """Authors and abstract of a description written as 'Authors: …', 'Summary: …' lines
    (Hugging Face daily-papers RSS); other descriptions are the abstract as they are."""
    authors = _AUTHORS_LINE.search(text)
    summary = _SUMMARY_LINE.search(text)
    if not (authors and summary):
        return [], text
    names = (author_name(n) for n in authors.group(1).split(","))
    return [n for n in names if n][:MAX_AUTHORS], text[summary.end():]


def _content(entry: Any) -> str:
    content = entry.get("content") or []
    return str(content[0].get("value", "")) if content else ""


def _find_arxiv(entry: Any, link: str) -> tuple[str, int | None] | None:
    for candidate in [link, entry.get("id", "")] + [x.get("href", "") for x in entry.get("links", [])]:
        found = arxiv_id_in_url(str(candidate))
        if found:
            return found
    guid = str(entry.get("id", ""))
    if guid.lower().startswith(("arxiv:", "oai:arxiv")):
        return split_arxiv_id(guid)
    tail = _BARE_ID.search(link)  # aggregators such as tldr.takara.ai/p/2604.26238
    return (tail.group(1), int(tail.group(2)) if tail.group(2) else None) if tail else None


def _find_doi(entry: Any, link: str) -> str | None:
    for key in ("prism_doi", "dc_identifier", "id"):
        doi = normalize_doi(str(entry.get(key, "")))
        if doi:
            return doi
    return normalize_doi(link) if "doi" in link.lower() else None


def _authors(entry: Any) -> list[str]:
    names = [a.get("name", "") for a in entry.get("authors", []) if isinstance(a, dict)]
    if len(names) == 1 and "," in names[0]:
        names = names[0].split(",")
    cleaned = (author_name(n) for n in names)
    return [n for n in cleaned if n][:MAX_AUTHORS]


def _date(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None


TYPE = SourceType("rss", parse, interval_minutes=60)
