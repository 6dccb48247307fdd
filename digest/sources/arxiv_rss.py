"""arXiv listing feeds from rss.arxiv.org, in both their RSS 2.0 and Atom flavours."""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar, Literal
from xml.etree.ElementTree import Element

from digest.errors import ParseError
from digest.sources._xml import NS, parse_date, parse_xml, text_of
from digest.sources.base import ARXIV_ANNOUNCE_CRON, SourceBase, SourceType, each_record
from digest.sources.ids import arxiv_id_in_url, normalize_doi, split_arxiv_id
from digest.sources.records import PaperRecord
from digest.text import one_line, paragraph, split_authors

DEFAULT_URL = "https://rss.arxiv.org/rss/"


class ArxivRssSource(SourceBase):
    """rss.arxiv.org listing feed: give `url` or `categories`."""

    type: Literal["arxiv_rss"]
    categories: list[str] = []
    where_hint: ClassVar[str | None] = "give url, path or categories (e.g. [cs.LG, cs.AI])"

    def has_location(self) -> bool:
        """A category list is enough: the default endpoint is built from it."""
        return bool(self.url or self.path or self.categories)


def first_urls(src: ArxivRssSource, today: datetime,
               since: datetime | None = None) -> list[str]:
    """The listing of the configured categories (or the given URL)."""
    return [str(src.url) if src.url else DEFAULT_URL + "+".join(src.categories)]


_PREAMBLE = re.compile(
    r"^\s*arXiv:\S+\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?", re.S
)


def parse(data: bytes) -> list[PaperRecord]:
    """Parse an rss.arxiv.org feed (RSS or Atom); an empty weekend feed gives []."""
    root = parse_xml(data, "arXiv RSS")
    if root.tag == "rss":
        items = root.findall("./channel/item")
        return each_record(_from_rss_item, items)
    if root.tag == f"{{{NS['atom']}}}feed":
        entries = root.findall("atom:entry", NS)
        return each_record(_from_atom_entry, entries)
    raise ParseError(f"arXiv RSS: unexpected root element <{root.tag}>",
                     "use an https://rss.arxiv.org/rss/<categories> URL")


def split_description(text: str) -> tuple[str, str | None]:
    """Split `arXiv:… Announce Type: new Abstract: …` into (abstract, announce type)."""
    m = _PREAMBLE.match(text or "")
    if not m:
        return paragraph(text), None
    return paragraph(text[m.end():]), m.group("type")


def _record(guid: str, link: str, title: str, description: str, categories: list[str],
            creators: str, date: str, announce: str, doi: str) -> PaperRecord | None:
    found = split_arxiv_id(guid) or arxiv_id_in_url(link)
    if not found:
        return None
    arxiv_id, version = found
    abstract, preamble_type = split_description(description)
    announce_type = announce.strip() or preamble_type
    return PaperRecord(
        canonical_id=arxiv_id, arxiv_id=arxiv_id, version=version or 1,
        title=one_line(title), abstract=abstract, authors=split_authors(creators),
        categories=[c.strip() for c in categories if c and c.strip()],
        doi=normalize_doi(doi), published=parse_date(date),
        url=f"https://arxiv.org/abs/{arxiv_id}", pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
        signals={"announce_type": announce_type} if announce_type else {},
    )


def _from_rss_item(item: Element) -> PaperRecord | None:
    return _record(
        guid=text_of(item, "guid"), link=text_of(item, "link"), title=text_of(item, "title"),
        description=text_of(item, "description"),
        categories=[c.text or "" for c in item.findall("category")],
        creators=", ".join(c.text or "" for c in item.findall("dc:creator", NS)),
        date=text_of(item, "pubDate"), announce=text_of(item, "arxiv:announce_type"),
        doi=text_of(item, "arxiv:DOI") or text_of(item, "arxiv:doi"),
    )


def _from_atom_entry(entry: Element) -> PaperRecord | None:
    link = entry.find("atom:link[@rel='alternate']", NS)
    return _record(
        guid=text_of(entry, "atom:id"), link=link.get("href", "") if link is not None else "",
        title=text_of(entry, "atom:title"), description=text_of(entry, "atom:summary"),
        categories=[c.get("term", "") for c in entry.findall("atom:category", NS)],
        creators=", ".join(c.text or "" for c in entry.findall("dc:creator", NS)),
        date=text_of(entry, "atom:published"), announce=text_of(entry, "arxiv:announce_type"),
        doi=text_of(entry, "arxiv:DOI") or text_of(entry, "arxiv:doi"),
    )


TYPE = SourceType("arxiv_rss", parse, first_urls, interval_minutes=360, cron=ARXIV_ANNOUNCE_CRON)
