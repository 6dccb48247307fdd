"""JSON Lines import format: one paper per line, for backfills and other tools' exports."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar, Literal

from digest.errors import ParseError
from digest.sources._xml import parse_date
from digest.sources.base import SourceBase, SourceType
from digest.sources.ids import canonical_id, normalize_doi, split_arxiv_id
from digest.sources.records import PaperRecord
from digest.text import MAX_AUTHORS, author_name, http_url, one_line, paragraph, safe_signals

log = logging.getLogger(__name__)
SOURCE_ID = "source_id"  # signal: a non-arXiv `id` as the caller wrote it (the key is a DOI or hash)


class JsonlSource(SourceBase):
    """A JSON Lines file of papers (see the README for the format)."""

    type: Literal["jsonl"]
    where_hint: ClassVar[str | None] = "give path (or url) of the .jsonl file"



def parse(data: bytes) -> list[PaperRecord]:
    """Parse JSONL; bad lines are logged and skipped, a file with no good line is an error."""
    records: list[PaperRecord] = []
    bad: list[str] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(from_dict(json.loads(line)))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            bad.append(f"line {number}: {exc}")
    for problem in bad[:20]:
        log.warning("jsonl: skipped %s", problem)
    if bad and not records:
        raise ParseError(f"JSONL: no valid line ({bad[0]})",
                         'each line needs at least {"id" or "url", "title"}; see the README')
    return records


def from_dict(doc: dict[str, Any]) -> PaperRecord:
    """One JSONL object -> PaperRecord; accepts `summary`/`abstract`, `abs`/`url`, `created`."""
    title = one_line(str(doc["title"]))
    if not title:
        raise ValueError("empty title")
    url = http_url(doc.get("url") or doc.get("abs")) or ""
    raw_id = str(doc.get("id") or "")
    found = split_arxiv_id(raw_id) or split_arxiv_id(url)
    doi = normalize_doi(str(doc.get("doi") or "")) or (normalize_doi(raw_id) if not found else None)
    arxiv_id = found[0] if found else None
    version = int(doc.get("version") or (found[1] if found and found[1] else 1))
    authors = doc.get("authors") or []
    if isinstance(authors, str):
        authors = authors.split(",")
    key = canonical_id(arxiv_id, doi, title, url or None)
    signals = safe_signals(doc["signals"]) if isinstance(doc.get("signals"), dict) else {}
    caller_id = one_line(raw_id, 200)
    if caller_id and not split_arxiv_id(raw_id) and caller_id != key:
        signals[SOURCE_ID] = caller_id  # the caller's own id, shown by `digest rank --json`
    return PaperRecord(
        canonical_id=key,
        arxiv_id=arxiv_id, version=version, title=title,
        abstract=paragraph(str(doc.get("abstract") or doc.get("summary") or "")),
        authors=[a for a in (author_name(str(x)) for x in authors) if a][:MAX_AUTHORS],
        categories=[one_line(str(c), 80) for c in doc.get("categories") or []][:20],
        doi=doi, published=parse_date(str(doc.get("published") or doc.get("created") or "")),
        updated=parse_date(str(doc.get("updated") or "")),
        url=url or (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None),
        pdf_url=http_url(doc.get("pdf")) or (f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else None),
        comment=one_line(str(doc["comment"]), 1000) if doc.get("comment") else None,
        signals=signals,
    )


TYPE = SourceType("jsonl", parse, interval_minutes=1440)
