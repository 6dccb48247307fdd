"""Papers: upsert parsed records (one row per canonical id; dedupe and merging live here only),
and every query that reads papers, their embeddings and corpus statistics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table, and_, delete, exists, not_, or_
from sqlmodel import Session, col, func, select

from digest.clock import utcnow
from digest.sources.records import PaperRecord
from digest.storage.db import IN_CHUNK, delete_in, insert_on_conflict, rows_in
from digest.storage.models import Paper, PaperEmbedding, PaperLookup, Sighting

NEWER_VERSION_REPLACES = ("title", "abstract", "authors", "categories", "comment", "updated")
FILLED_WHEN_EMPTY = ("abstract", "authors", "categories", "comment", "doi", "arxiv_id", "url",
                     "pdf_url")
LIKED_SOURCE = "liked"  # the sighting source of papers fetched because a subscriber liked them
RELATIONS = ("preprint_doi", "published_doi")  # signals tying a preprint to its journal version
PAPERS: Table = Paper.__table__  # type: ignore[attr-defined]
SIGHTINGS: Table = Sighting.__table__  # type: ignore[attr-defined]
LOOKUPS: Table = PaperLookup.__table__  # type: ignore[attr-defined]


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
    batch = _rekey_to_stored(session, merge_batch(records))
    result = UpsertResult(seen=len(batch))
    items = list(batch.values())
    for start in range(0, len(items), IN_CHUNK):
        _upsert_chunk(session, items[start:start + IN_CHUNK], now, result)
    _record_sightings(session, source, items, now)
    return result


def merge_batch(records: Iterable[PaperRecord]) -> dict[str, PaperRecord]:
    """Collapse one batch to one record per paper: the same canonical id (a cross-listing, or
    bioRxiv's v1 and v2 in one window), or a shared arXiv id or DOI (a preprint and its
    journal version in one response)."""
    batch: dict[str, PaperRecord] = {}
    for rec in records:
        prev = batch.get(rec.canonical_id)
        batch[rec.canonical_id] = rec if prev is None else _newer_of(prev, rec)
    return _join_related(batch)


def _newer_of(prev: PaperRecord, rec: PaperRecord) -> PaperRecord:
    newer, older = (rec, prev) if rec.version >= prev.version else (prev, rec)
    newer.signals = {**older.signals, **newer.signals}
    newer.categories = list(dict.fromkeys(newer.categories + older.categories))
    newer.published = _earliest(newer.published, older.published)
    return newer


def _join_related(batch: dict[str, PaperRecord]) -> dict[str, PaperRecord]:
    """Fold records sharing an identifier into the first of them (an arXiv-keyed one leads)."""
    groups: dict[str, PaperRecord] = {}
    owner: dict[str, str] = {}
    for key, rec in batch.items():
        idents = identifiers(rec)
        group = next((owner[i] for i in idents if i in owner and _fits(groups[owner[i]], rec)),
                     None)
        if group is None:
            group, groups[key] = key, rec
        else:
            groups[group] = _fold(groups[group], rec)
        for ident in idents:
            owner.setdefault(ident, group)
    return {rec.canonical_id: rec for rec in groups.values()}


def identifiers(rec: PaperRecord) -> list[str]:
    """Every id a record can be matched by: its arXiv id, its DOI and its DOI relations."""
    dois = [rec.doi, *(rec.signals.get(k) for k in RELATIONS)]
    found = [f"arxiv:{rec.arxiv_id}"] if rec.arxiv_id else []
    return found + list(dict.fromkeys(f"doi:{d}" for d in dois if isinstance(d, str) and d))


def _fits(paper: PaperRecord | _Hit, rec: PaperRecord) -> bool:
    """Two different arXiv ids are two papers, whatever DOI they share."""
    return not (rec.arxiv_id and paper.arxiv_id and rec.arxiv_id != paper.arxiv_id)


def _fold(one: PaperRecord, other: PaperRecord) -> PaperRecord:
    """One record of a paper from two of another's: the arXiv-keyed one leads, the other fills."""
    lead, rest = (other, one) if other.arxiv_id and not one.arxiv_id else (one, other)
    for name in FILLED_WHEN_EMPTY:
        setattr(lead, name, getattr(lead, name) or getattr(rest, name))
    lead.categories = list(dict.fromkeys(lead.categories + rest.categories))
    lead.published = _earliest(lead.published, rest.published)
    lead.signals = {**rest.signals, **lead.signals}
    return lead


def _earliest(one: datetime | None, other: datetime | None) -> datetime | None:
    return min(one, other) if one and other else one or other


@dataclass
class _Hit:
    """A stored row a record may belong to."""

    canonical_id: str
    arxiv_id: str | None


def _rekey_to_stored(session: Session, batch: dict[str, PaperRecord]) -> dict[str, PaperRecord]:
    """Point each record at the stored row of its paper: its own canonical id, else a row sharing
    its arXiv id, DOI or DOI relation. A DOI-keyed row that learns its arXiv id is re-keyed to
    it (its row id, sightings and sent history stay)."""
    known = set(rows_in(session, select(Paper.canonical_id), col(Paper.canonical_id), list(batch)))
    hits = _stored_matches(session, [r for k, r in batch.items() if k not in known])
    renamed: dict[str, str] = {}
    targets = {key: key if key in known else _target(session, rec, hits, renamed)
               for key, rec in batch.items()}
    out: dict[str, PaperRecord] = {}
    for key, rec in batch.items():
        rec.canonical_id = target = renamed.get(targets[key], targets[key])
        out[target] = _fold(out[target], rec) if target in out else rec
    return out


def _target(session: Session, rec: PaperRecord, hits: dict[str, _Hit],
            renamed: dict[str, str]) -> str:
    hit = next((hits[i] for i in identifiers(rec) if i in hits and _fits(hits[i], rec)), None)
    if hit is None:
        return rec.canonical_id
    if rec.arxiv_id and not hit.arxiv_id:  # the row learns its arXiv id: that is its key now
        row = session.exec(select(Paper).where(Paper.canonical_id == hit.canonical_id)).one()
        row.canonical_id = row.arxiv_id = rec.arxiv_id
        session.add(row)
        session.flush()
        renamed[hit.canonical_id] = rec.arxiv_id
        hit.canonical_id = hit.arxiv_id = rec.arxiv_id
    return hit.canonical_id


def _stored_matches(session: Session, pending: Sequence[PaperRecord]) -> dict[str, _Hit]:
    """Stored rows sharing an identifier with a pending record, by identifier (arXiv id first,
    then canonical DOI, DOI column, DOI relations)."""
    arxiv_ids = sorted({r.arxiv_id for r in pending if r.arxiv_id})
    dois = sorted({i[4:] for r in pending for i in identifiers(r) if i.startswith("doi:")})
    if not arxiv_ids and not dois:
        return {}
    related = [PAPERS.c.signals[k].as_string() for k in RELATIONS]
    stmt = select(Paper.canonical_id, Paper.arxiv_id, Paper.doi, *related)
    rows = [*rows_in(session, stmt, col(Paper.arxiv_id), arxiv_ids),
            *rows_in(session, stmt, col(Paper.canonical_id), [f"doi:{d}" for d in dois]),
            *rows_in(session, stmt, col(Paper.doi), dois)]
    for start in range(0, len(dois), IN_CHUNK):  # relations live in signals: a scan, one a chunk
        chunk = dois[start:start + IN_CHUNK]
        rows += session.exec(stmt.where(or_(*(r.in_(chunk) for r in related)))).all()
    hits: dict[str, _Hit] = {}
    for canonical, arxiv_id, doi, *relations in rows:
        hit = _Hit(canonical, arxiv_id)
        own = canonical[4:] if canonical.startswith("doi:") else None
        for ident in ([f"arxiv:{arxiv_id}"] if arxiv_id else []) + [
                f"doi:{d}" for d in (own, doi, *relations) if d]:
            hits.setdefault(ident, hit)
    return hits


def _upsert_chunk(session: Session, chunk: Sequence[PaperRecord], now: datetime,
                  result: UpsertResult) -> None:
    ids = [r.canonical_id for r in chunk]
    existing = {p.canonical_id: p for p in
                session.exec(select(Paper).where(col(Paper.canonical_id).in_(ids))).all()}
    fresh = [_row_values(r, now) for r in chunk if r.canonical_id not in existing]
    if fresh:
        session.execute(_insert_ignore(session, PAPERS), fresh)
        result.new.extend(v["canonical_id"] for v in fresh)
    retext = []
    for rec in chunk:
        paper = existing.get(rec.canonical_id)
        if paper is None:
            continue
        before = (paper.version, paper.title, paper.abstract)
        if apply_record(paper, rec, now):
            session.add(paper)
            result.updated.append(paper.canonical_id)
            if before[0] == paper.version and before[1:] != (paper.title, paper.abstract):
                retext.append(paper.id)
    if retext:  # text filled in without a new version: the old vectors describe other words
        session.execute(delete(PaperEmbedding).where(col(PaperEmbedding.paper_id).in_(retext)))
    session.flush()


def _insert_ignore(session: Session, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    return insert_on_conflict(session, table).on_conflict_do_nothing(
        index_elements=["canonical_id"])


def _row_values(rec: PaperRecord, now: datetime) -> dict[str, Any]:
    return {
        "canonical_id": rec.canonical_id, "arxiv_id": rec.arxiv_id, "doi": rec.doi,
        "version": rec.version, "title": rec.title, "abstract": rec.abstract,
        "authors": rec.authors, "categories": rec.categories, "published": rec.published,
        "updated": rec.updated, "url": rec.url, "pdf_url": rec.pdf_url, "comment": rec.comment,
        "signals": rec.signals, "first_seen_at": now, "changed_at": now,
    }


def apply_record(paper: Paper, rec: PaperRecord, now: datetime) -> bool:
    """Merge `rec` into a stored paper. A newer version of the paper's own id (arXiv vN, a
    bioRxiv DOI's vN) replaces the metadata; a record that joined through another id (a journal
    DOI, an arXiv id) only fills what is missing; signals merge. True if changed."""
    before = paper.model_dump()
    if rec.version > paper.version and same_lineage(paper, rec):
        paper.version = rec.version
        for name in NEWER_VERSION_REPLACES:
            setattr(paper, name, getattr(rec, name) or getattr(paper, name))
    for name in FILLED_WHEN_EMPTY:
        setattr(paper, name, getattr(paper, name) or getattr(rec, name))
    paper.published = _earliest(paper.published, rec.published)
    paper.signals = {**paper.signals, **rec.signals}
    changed = paper.model_dump() != before
    if changed:
        paper.changed_at = now
    return changed


def same_lineage(paper: Paper, rec: PaperRecord) -> bool:
    """Whether `rec`'s version number counts for `paper`: both are versions of one arXiv id, or
    of one DOI the paper is keyed by (bioRxiv, medRxiv), or neither has an id at all."""
    if rec.arxiv_id or paper.arxiv_id:
        return rec.arxiv_id == paper.arxiv_id
    return rec.doi is None or paper.canonical_id == f"doi:{rec.doi}"


def _record_sightings(session: Session, source: str, items: Sequence[PaperRecord],
                      now: datetime) -> None:
    if not source or not items:
        return
    ids: dict[str, int | None] = dict(rows_in(session, select(Paper.canonical_id, Paper.id),
                                              col(Paper.canonical_id),
                                              [r.canonical_id for r in items]))
    rows = [{"paper_id": ids[r.canonical_id], "source": source, "version": r.version,
             "signals": r.signals, "first_seen_at": now, "last_seen_at": now}
            for r in items if r.canonical_id in ids]
    stmt = insert_on_conflict(session, SIGHTINGS)
    stmt = stmt.on_conflict_do_update(
        index_elements=["paper_id", "source"],
        set_={"version": stmt.excluded.version, "signals": stmt.excluded.signals,
              "last_seen_at": stmt.excluded.last_seen_at},
    )
    for start in range(0, len(rows), IN_CHUNK):
        session.execute(stmt, rows[start:start + IN_CHUNK])
    session.flush()


def papers_published(session: Session, since: date, until: date) -> list[Paper]:
    """Stored papers whose `published` date (UTC) falls in [since, until]."""
    start, end = _utc(since), _utc(until + timedelta(days=1))
    stmt = select(Paper).where(col(Paper.published) >= start, col(Paper.published) < end)
    return list(session.exec(stmt.order_by(col(Paper.id))).all())


def _only_liked() -> Any:
    """A paper that only the liked-papers lookup brought (an old paper someone liked or
    imported from a library): not news, so never a digest candidate."""
    sighted = select(Sighting.id).where(col(Sighting.paper_id) == col(Paper.id))
    return and_(exists(sighted.where(col(Sighting.source) == LIKED_SOURCE)),
                not_(exists(sighted.where(col(Sighting.source) != LIKED_SOURCE))))


def papers_first_seen(session: Session, since: datetime, until: datetime | None = None,
                      limit: int | None = None) -> list[Paper]:
    """Stored papers first seen in [since, until) (the newest `limit` of them, if given);
    papers that only the liked-papers lookup brought are left out."""
    stmt = select(Paper).where(col(Paper.first_seen_at) >= since, not_(_only_liked()))
    if until is not None:
        stmt = stmt.where(col(Paper.first_seen_at) < until)
    if limit is not None:
        stmt = stmt.order_by(col(Paper.id).desc()).limit(limit)
        return sorted(session.exec(stmt).all(), key=lambda p: p.id or 0)
    return list(session.exec(stmt.order_by(col(Paper.id))).all())


def newest_papers(session: Session, limit: int) -> tuple[int, list[Paper]]:
    """How many papers are stored, and the `limit` most recently first seen."""
    total = session.exec(select(func.count()).select_from(Paper)).one()
    rows = session.exec(select(Paper).order_by(col(Paper.first_seen_at).desc(),
                                               col(Paper.id).desc()).limit(limit)).all()
    return int(total), list(rows)


def _utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def corpus_version(session: Session) -> tuple[int, int, datetime | None]:
    """(newest id, count, last change): changes whenever a paper is added or updated."""
    newest, count, changed = session.exec(
        select(func.max(Paper.id), func.count(), func.max(Paper.changed_at))).one()
    return int(newest or 0), int(count), changed


def corpus_sample(session: Session, sample: int) -> list[tuple[str, str]]:
    """Title and abstract of the `sample` most recently stored papers."""
    rows = session.exec(select(Paper.title, Paper.abstract)
                        .order_by(col(Paper.id).desc()).limit(sample)).all()
    return [(t, a) for t, a in rows]


def texts_of(session: Session, canonical_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Title and abstract of each of these papers that is stored."""
    rows = rows_in(session, select(Paper.canonical_id, Paper.title, Paper.abstract),
                   col(Paper.canonical_id), sorted(set(canonical_ids)))
    return {pid: (title, abstract) for pid, title, abstract in rows}


def not_stored(session: Session, canonical_ids: Sequence[str]) -> list[str]:
    """Which of these canonical ids no stored paper has, sorted."""
    wanted = sorted(set(canonical_ids))
    have = set(rows_in(session, select(Paper.canonical_id), col(Paper.canonical_id), wanted))
    return sorted(set(wanted) - have)


def canonical_ids_by_doi(session: Session, dois: Sequence[str]) -> dict[str, str]:
    """Lower-cased DOI -> canonical id of the stored paper that has it (an arXiv paper's
    journal DOI names the arXiv paper); one query per chunk."""
    rows = rows_in(session, select(Paper.doi, Paper.canonical_id).order_by(col(Paper.id)),
                   col(Paper.doi), sorted(set(dois)))
    found: dict[str, str] = {}
    for doi, canonical in rows:
        found.setdefault(str(doi).lower(), canonical)
    return found


def papers_titled(session: Session, titles: Sequence[str]) -> list[tuple[str, str]]:
    """(canonical id, title) of stored papers whose lower-cased title is one of `titles`
    (give them lower-cased); one query per chunk, oldest paper first."""
    return [(c, t) for c, t in rows_in(
        session, select(Paper.canonical_id, Paper.title).order_by(col(Paper.id)),
        func.lower(Paper.title), sorted(set(titles)))]


def papers_by_canonical_id(session: Session, canonical_ids: Sequence[str]) -> list[Paper]:
    """The stored papers among these canonical ids."""
    return rows_in(session, select(Paper), col(Paper.canonical_id), sorted(set(canonical_ids)))


def stored_embeddings(session: Session, model: str, paper_ids: Sequence[int]
                      ) -> dict[int, tuple[int, bytes]]:
    """paper id -> (paper version it was computed for, float32 bytes), under `model`."""
    rows = rows_in(session, select(PaperEmbedding.paper_id, PaperEmbedding.version,
                                   PaperEmbedding.vector).where(PaperEmbedding.model == model),
                   col(PaperEmbedding.paper_id), list(paper_ids))
    return {pid: (version, vector) for pid, version, vector in rows}


def save_embeddings(session: Session, model: str, vectors: Sequence[tuple[Paper, bytes]]) -> None:
    """Store (or refresh) papers' embeddings under `model` in one statement; replicas that
    computed the same paper at once both succeed."""
    if not vectors:
        return
    insert = insert_on_conflict(session, PaperEmbedding)
    session.execute(insert.values([
        {"paper_id": p.id, "model": model, "version": p.version, "vector": v} for p, v in vectors
    ]).on_conflict_do_update(index_elements=["paper_id", "model"],
                             set_={"version": insert.excluded.version,
                                   "vector": insert.excluded.vector},
                             where=insert.excluded.version >= col(PaperEmbedding.version)))


def delete_other_embeddings(session: Session, model: str, limit: int = IN_CHUNK) -> int:
    """Delete at most `limit` stored embeddings of models other than `model`; how many."""
    ids = session.exec(select(PaperEmbedding.id).where(col(PaperEmbedding.model) != model)
                       .limit(limit)).all()
    if ids:
        session.execute(delete(PaperEmbedding).where(col(PaperEmbedding.id).in_(ids)))
    return len(ids)


def papers_without_embedding(session: Session, model: str, since: datetime) -> list[int]:
    """Row ids (ascending) of the papers first seen or changed since `since` with no embedding
    under `model` for their current version. One query that reads only the window's papers
    (the index on `changed_at`; nothing orders or pages by id, which would make SQLite walk
    the whole table), so a poll that stored nothing pays little."""
    current = and_(col(PaperEmbedding.paper_id) == col(Paper.id),
                   col(PaperEmbedding.model) == model,
                   col(PaperEmbedding.version) == col(Paper.version))
    ids = session.exec(select(Paper.id).where(col(Paper.changed_at) >= since,
                                              ~exists().where(current))).all()
    return sorted(i for i in ids if i is not None)


def papers_by_id(session: Session, ids: Sequence[int]) -> list[Paper]:
    """The stored papers with these row ids, in id order."""
    return sorted(rows_in(session, select(Paper), col(Paper.id), list(ids)),
                  key=lambda p: p.id or 0)


def lookups_due(session: Session, canonical_ids: Sequence[str], now: datetime) -> list[str]:
    """Those of these ids (sorted) that may be looked up now: never looked up in vain, or
    their `retry_at` has come."""
    wanted = sorted(set(canonical_ids))
    waiting = set(rows_in(session, select(PaperLookup.canonical_id)
                          .where(col(PaperLookup.retry_at) > now),
                          col(PaperLookup.canonical_id), wanted))
    return [i for i in wanted if i not in waiting]


def record_lookups(session: Session, found: Sequence[str], absent: Sequence[str],
                   retry_at: datetime) -> None:
    """After a lookup: the `absent` ids wait until `retry_at` (their failures counted); the
    `found` ones are forgotten."""
    delete_in(session, PaperLookup, col(PaperLookup.canonical_id), found)
    if absent:
        stmt = insert_on_conflict(session, LOOKUPS)
        session.execute(stmt.on_conflict_do_update(
            index_elements=["canonical_id"],
            set_={"failures": LOOKUPS.c.failures + 1, "retry_at": stmt.excluded.retry_at}),
            [{"canonical_id": i, "failures": 1, "retry_at": retry_at} for i in absent])
