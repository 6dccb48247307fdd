"""A parsed library becomes a subscriber's liked papers (`interests["library"]`).

Each item gets one canonical id, tried in this order:
  arXiv id   -> the arXiv id (the next poll fetches it from arXiv when it is not stored);
  DOI        -> the stored paper with that DOI (an arXiv paper's journal DOI names it), else
                `doi:<doi>`;
  title      -> the stored paper with the same title (folded: case, accents, punctuation);
  otherwise  -> "kept as text": `text:<hash of the title>`, with the file's title and abstract.
An entry keeps the file's title, and its abstract while its id names no stored paper, so the
ranker reads it like a liked paper (`digest.rank.stored.liked_texts`). Candidates only ever come
from stored papers first seen by a feed, so an imported entry is never sent as a digest paper.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.errors import UnknownSubscriberError
from digest.library.items import LibraryFormat, LibraryItem, ParsedLibrary, Skipped
from digest.library.parse import read_library
from digest.sources.ids import title_key
from digest.storage.db import session_scope
from digest.storage.models import Subscriber
from digest.storage.papers import canonical_ids_by_doi, not_stored, papers_titled
from digest.storage.subscribers import (
    LIBRARY,
    find_subscriber,
    library_of,
    liked_ids,
    sync_subscribers,
)

LIBRARY_LIMIT = 500  # imported papers kept per subscriber (the newest by year)
MAX_LISTED = 20      # skipped entries a report names one by one


class Via(StrEnum):
    """How an imported entry was resolved."""

    ARXIV = "arxiv"
    DOI = "doi"
    TITLE = "title"
    TEXT = "text"


@dataclass
class ImportReport:
    """What one import did, for the command line and the manage page."""

    file: str
    format: LibraryFormat
    added: dict[Via, int] = field(default_factory=lambda: dict.fromkeys(Via, 0))
    already: int = 0      # already liked, or imported before
    repeated: int = 0     # the same paper twice in this file
    dropped: int = 0      # over LIBRARY_LIMIT
    total: int = 0        # imported papers kept after this import
    skipped: list[Skipped] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report in a few lines of text."""
        a = self.added
        out = [f"{self.file} ({self.format}): {sum(a.values())} papers added — "
               f"{a[Via.ARXIV]} by arXiv id, {a[Via.DOI]} by DOI, {a[Via.TITLE]} by title "
               f"among stored papers, {a[Via.TEXT]} kept as text"]
        if self.already or self.repeated:
            out.append(f"{self.already} already liked, {self.repeated} repeated in the file")
        if self.dropped:
            out.append(f"{self.dropped} older papers not kept: the library keeps at most "
                       f"{LIBRARY_LIMIT} papers, the newest first")
        if self.skipped:
            out.append(f"{len(self.skipped)} entries skipped:")
            out += [f"  {s.where}: {s.reason}" for s in self.skipped[:MAX_LISTED]]
            if len(self.skipped) > MAX_LISTED:
                out.append(f"  … and {len(self.skipped) - MAX_LISTED} more")
        out.append(f"your library now holds {self.total} papers")
        return out


def text_id(item: LibraryItem) -> str:
    """The id of an entry kept as text: a hash of its folded title."""
    return "text:" + hashlib.sha1(title_key(item.title).encode()).hexdigest()[:20]


def title_variants(title: str) -> list[str]:
    """Lower-cased forms a stored title may take in SQL (`lower()` folds only ASCII in
    SQLite, all letters in PostgreSQL), with and without a final period."""
    base = title.rstrip(". ")
    ascii_lower = "".join(c.lower() if c.isascii() else c for c in base)
    return [v for b in {base.lower(), ascii_lower} for v in (b, b + ".")]


def match_titles(session: Session, items: Sequence[LibraryItem]) -> dict[str, str]:
    """Folded title -> canonical id of the stored paper with that title."""
    wanted = {title_key(i.title) for i in items if title_key(i.title)}
    rows = papers_titled(session, [v for i in items if title_key(i.title) in wanted
                                   for v in title_variants(i.title)])
    found: dict[str, str] = {}
    for canonical, title in rows:
        if (key := title_key(title)) in wanted:
            found.setdefault(key, canonical)
    return found


def resolve(session: Session, items: Sequence[LibraryItem]) -> list[tuple[LibraryItem, str, Via]]:
    """Each item with its canonical id and how it was found (see the module docstring)."""
    by_doi = canonical_ids_by_doi(session, [i.doi for i in items if i.doi and not i.arxiv_id])
    by_title = match_titles(session, [i for i in items if not (i.arxiv_id or i.doi)])
    out: list[tuple[LibraryItem, str, Via]] = []
    for item in items:
        if item.arxiv_id:
            out.append((item, item.arxiv_id, Via.ARXIV))
        elif item.doi:
            out.append((item, by_doi.get(item.doi, f"doi:{item.doi}"), Via.DOI))
        elif (hit := by_title.get(title_key(item.title))) is not None:
            out.append((item, hit, Via.TITLE))
        else:
            out.append((item, text_id(item), Via.TEXT))
    return out


def entry(item: LibraryItem, canonical: str, via: Via, stored: bool) -> dict[str, Any]:
    """The stored form of one imported paper (the abstract only while no stored paper has it)."""
    out: dict[str, Any] = {"id": canonical, "title": item.title or canonical, "via": str(via)}
    if item.year:
        out["year"] = item.year
    if item.abstract and not stored:
        out["abstract"] = item.abstract
    return out


def store_library(session: Session, row: Subscriber, parsed: ParsedLibrary, file: str,
                  replace: bool = False, limit: int = LIBRARY_LIMIT) -> ImportReport:
    """Add the parsed items to `row`'s imported library (or replace it), newest first up to
    `limit`; papers already liked or repeated in the file are counted, not added twice."""
    report = ImportReport(file, parsed.format, skipped=list(parsed.skipped))
    interests = dict(row.interests or {})
    kept = [] if replace else library_of(interests)
    seen = set(liked_ids({**interests, LIBRARY: kept}))
    resolved = resolve(session, parsed.items)
    missing = set(not_stored(session, [c for _, c, _ in resolved]))
    fresh: list[tuple[LibraryItem, str, Via]] = []
    in_file: set[str] = set()
    for item, canonical, via in resolved:
        if canonical in seen or canonical in in_file:
            report.already += canonical in seen
            report.repeated += canonical in in_file and canonical not in seen
            continue
        in_file.add(canonical)
        fresh.append((item, canonical, via))
    merged: list[tuple[dict[str, Any], Via | None]] = [(e, None) for e in kept]
    merged += [(entry(item, canonical, how, canonical not in missing), how)
               for item, canonical, how in fresh]  # earlier entries first within a year
    merged.sort(key=lambda r: -int(r[0].get("year") or 0))  # stable: the newest `limit` stay
    report.dropped = max(len(merged) - limit, 0)
    for _, how in merged[:limit]:
        if how is not None:
            report.added[how] += 1
    kept = [e for e, _ in merged[:limit]]
    interests[LIBRARY] = kept
    row.interests = interests  # a new dict: the JSON column sees the change
    session.add(row)
    report.total = len(kept)
    return report


def import_library(engine: Engine, email: str, data: bytes, file: str, replace: bool = False,
                   configured: Sequence[Any] = ()) -> ImportReport:
    """Parse `data` (the export named `file`) and add it to `email`'s liked papers.

    `configured` (the config's subscribers) are synced first, so a subscriber only listed in
    the config file is found. Raises LibraryFileError for an unreadable file and
    UnknownSubscriberError for an unknown address.
    """
    parsed = read_library(data, file)
    with session_scope(engine) as session:
        sync_subscribers(session, configured)
        row = find_subscriber(session, email)
        if row is None:
            raise UnknownSubscriberError(f"no subscriber {email!r}",
                                         "see `digest subscribers list`")
        return store_library(session, row, parsed, file, replace)
