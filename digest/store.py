"""Store parsed papers: one row per canonical id; dedupe and merging live here only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from digest.clock import utcnow
from digest.sources.records import PaperRecord
from digest.storage.models import Paper, Sighting

CHUNK = 500
NEWER_VERSION_REPLACES = ("title", "abstract", "authors", "categories", "comment", "updated")
FILLED_WHEN_EMPTY = ("abstract", "authors", "categories", "comment", "doi", "arxiv_id", "url",
                     "pdf_url")
PAPERS: Table = Paper.__table__  # type: ignore[attr-defined]
SIGHTINGS: Table = Sighting.__table__  # type: ignore[attr-defined]


@dataclass
class UpsertResult:
    """What one upsert did: canonical ids of new and updated papers, and how many it saw."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    seen: int = 0


def upsert_papers(session: Session, source: str, records: Iterable[PaperRecord],
                  now: datetime | None = None) -> UpsertResult:
    """Insert new papers, update known ones (newer version, merged signals), note sightings."""
    now = now or utcnow()
    batch = merge_batch(records)
    batch = _rekey_by_doi(session, batch)
    result = UpsertResult(seen=len(batch))
    items = list(batch.values())
    for start in range(0, len(items), CHUNK):
        _upsert_chunk(session, items[start:start + CHUNK], now, result)
    _record_sightings(session, source, items, now)
    return result


def merge_batch(records: Iterable[PaperRecord]) -> dict[str, PaperRecord]:
    """Collapse one batch to one record per canonical id (a cross-listing appears twice)."""
    batch: dict[str, PaperRecord] = {}
    for rec in records:
        prev = batch.get(rec.canonical_id)
        if prev is None:
            batch[rec.canonical_id] = rec
            continue
        newer, older = (rec, prev) if rec.version >= prev.version else (prev, rec)
        newer.signals = {**older.signals, **newer.signals}
        newer.categories = list(dict.fromkeys(newer.categories + older.categories))
        batch[rec.canonical_id] = newer
    return batch


def _rekey_by_doi(session: Session, batch: dict[str, PaperRecord]) -> dict[str, PaperRecord]:
    """A DOI-only record for a paper already stored under its arXiv id joins that row."""
    dois = {r.doi: key for key, r in batch.items() if key.startswith("doi:") and r.doi}
    if not dois:
        return batch
    rows = session.exec(select(Paper.doi, Paper.canonical_id)
                        .where(col(Paper.doi).in_(list(dois)))).all()
    for doi, canonical in rows:
        if doi and canonical != dois[doi] and canonical not in batch:
            rec = batch.pop(dois[doi])
            rec.canonical_id = canonical
            batch[canonical] = rec
    return batch


def _upsert_chunk(session: Session, chunk: Sequence[PaperRecord], now: datetime,
                  result: UpsertResult) -> None:
    ids = [r.canonical_id for r in chunk]
    existing = {p.canonical_id: p for p in
                session.exec(select(Paper).where(col(Paper.canonical_id).in_(ids))).all()}
    fresh = [_row_values(r, now) for r in chunk if r.canonical_id not in existing]
    if fresh:
        session.execute(_insert_ignore(session, PAPERS), fresh)
        result.new.extend(v["canonical_id"] for v in fresh)
    for rec in chunk:
        paper = existing.get(rec.canonical_id)
        if paper is not None and apply_record(paper, rec, now):
            session.add(paper)
            result.updated.append(paper.canonical_id)
    session.flush()


def _insert_ignore(session: Session, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=["canonical_id"])


def _row_values(rec: PaperRecord, now: datetime) -> dict[str, Any]:
    return {
        "canonical_id": rec.canonical_id, "arxiv_id": rec.arxiv_id, "doi": rec.doi,
        "version": rec.version, "title": rec.title, "abstract": rec.abstract,
        "authors": rec.authors, "categories": rec.categories, "published": rec.published,
        "updated": rec.updated, "url": rec.url, "pdf_url": rec.pdf_url, "comment": rec.comment,
        "signals": rec.signals, "first_seen_at": now, "changed_at": now,
    }


def apply_record(paper: Paper, rec: PaperRecord, now: datetime) -> bool:
    """Merge `rec` into a stored paper; a newer version replaces the metadata. True if changed."""
    before = paper.model_dump()
    if rec.version > paper.version:
        paper.version = rec.version
        for name in NEWER_VERSION_REPLACES:
            setattr(paper, name, getattr(rec, name) or getattr(paper, name))
    for name in FILLED_WHEN_EMPTY:
        setattr(paper, name, getattr(paper, name) or getattr(rec, name))
    if rec.published and (paper.published is None or rec.published < paper.published):
        paper.published = rec.published
    paper.signals = {**paper.signals, **rec.signals}
    changed = paper.model_dump() != before
    if changed:
        paper.changed_at = now
    return changed


def _record_sightings(session: Session, source: str, items: Sequence[PaperRecord],
                      now: datetime) -> None:
    if not source or not items:
        return
    ids: dict[str, int | None] = {}
    for start in range(0, len(items), CHUNK):
        keys = [r.canonical_id for r in items[start:start + CHUNK]]
        ids.update(session.exec(select(Paper.canonical_id, Paper.id)
                                .where(col(Paper.canonical_id).in_(keys))).all())
    rows = [{"paper_id": ids[r.canonical_id], "source": source, "version": r.version,
             "signals": r.signals, "first_seen_at": now, "last_seen_at": now}
            for r in items if r.canonical_id in ids]
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(SIGHTINGS)
    stmt = stmt.on_conflict_do_update(
        index_elements=["paper_id", "source"],
        set_={"version": stmt.excluded.version, "signals": stmt.excluded.signals,
              "last_seen_at": stmt.excluded.last_seen_at},
    )
    for start in range(0, len(rows), CHUNK):
        session.execute(stmt, rows[start:start + CHUNK])
    session.flush()
