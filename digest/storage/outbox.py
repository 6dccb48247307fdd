"""The outbox: composed digests (one per subscriber and local date) and web notices, claimed,
sent, failed."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlmodel import Session, col, func, select

from digest.storage.db import rows_in, session_scope
from digest.storage.models import (
    DIGEST_KINDS,
    DigestKind,
    Outbox,
    OutboxPaper,
    OutboxStatus,
    Paper,
    Subscriber,
)

log = logging.getLogger(__name__)


def composed_pairs(session: Session, subscriber_ids: Sequence[int],
                   since: date | None = None) -> set[tuple[int, date]]:
    """(subscriber id, digest date) of the digests already composed for these subscribers
    (dated `since` or later, when given: a cycle asks about its own dates, not all history)."""
    stmt = select(col(Outbox.subscriber_id), col(Outbox.digest_date)) \
        .where(col(Outbox.kind).in_(DIGEST_KINDS))
    if since is not None:
        stmt = stmt.where(col(Outbox.digest_date) >= since)
    rows = rows_in(session, stmt, col(Outbox.subscriber_id), list(subscriber_ids))
    return {(int(a), b) for a, b in rows}


def last_digest_at(session: Session, subscriber_ids: Sequence[int]) -> dict[int, datetime]:
    """When each subscriber's latest digest was composed."""
    rows = rows_in(session, select(Outbox.subscriber_id, func.max(Outbox.created_at))
                   .where(col(Outbox.kind).in_(DIGEST_KINDS))
                   .group_by(col(Outbox.subscriber_id)),
                   col(Outbox.subscriber_id), list(subscriber_ids))
    return {int(a): b for a, b in rows if b is not None}


def already_sent(session: Session, subscriber_ids: Sequence[int],
                 first_seen_since: datetime | None = None) -> dict[int, set[str]]:
    """Canonical ids of the papers already placed in each subscriber's digests; only those
    first seen at or after `first_seen_since`, when given (today's candidates: a paper can
    only be in digests composed after it was first seen, so the rest cannot matter)."""
    out: dict[int, set[str]] = defaultdict(set)
    stmt = select(OutboxPaper.subscriber_id, Paper.canonical_id) \
        .join(Paper, col(Paper.id) == col(OutboxPaper.paper_id))
    if first_seen_since is not None:
        stmt = stmt.where(col(Paper.first_seen_at) >= first_seen_since)
    rows = rows_in(session, stmt, col(OutboxPaper.subscriber_id), list(subscriber_ids))
    for sid, pid in rows:
        out[int(sid)].add(pid)
    return out


def save_digest(engine: Engine, row: Outbox, papers: Sequence[OutboxPaper]) -> bool:
    """The outbox row and its papers in one transaction; False when that digest (or one of
    its papers for this subscriber) was composed already, and nothing is written."""
    try:
        with session_scope(engine) as session:
            session.add(row)
            session.flush()
            for paper in papers:
                paper.outbox_id, paper.subscriber_id = row.id or 0, row.subscriber_id
                session.add(paper)
    except IntegrityError:
        log.info("digest for %s on %s already composed", row.recipient, row.digest_date)
        return False
    return True


_OUTBOX_COLUMNS = [name for name in Outbox.model_fields if name != "id"]
_INSERT_OUTBOX = insert(Outbox).returning(col(Outbox.id), sort_by_parameter_order=True)


def save_digests(engine: Engine,
                 digests: Sequence[tuple[Outbox, Sequence[dict[str, Any]]]]) -> list[int] | None:
    """Many outbox rows and their papers (`paper_id`, `position`, `score`, `why`, `reasons`
    each) in one transaction of two multi-row inserts, instead of one transaction per digest.
    Returns the new rows' ids; None when any was refused (a digest or paper already composed,
    data the database refuses): then nothing is written, and the caller saves them one by one
    with `save_digest`, so that only the bad one fails. An unreachable database raises."""
    try:
        with session_scope(engine) as session:
            ids = [int(i) for i in session.execute(
                _INSERT_OUTBOX, [{c: getattr(row, c) for c in _OUTBOX_COLUMNS}
                                 for row, _ in digests]).scalars()]
            placed = [{**paper, "outbox_id": oid, "subscriber_id": row.subscriber_id}
                      for oid, (row, papers) in zip(ids, digests, strict=True)
                      for paper in papers]
            if placed:
                session.execute(insert(OutboxPaper), placed)
    except (OperationalError, InterfaceError):
        raise
    except Exception:  # any refusal: the caller retries row by row
        log.info("a batch of %d digests was refused; saving them one by one", len(digests))
        return None
    return ids


def record_compose_failure(engine: Engine, subscriber_id: int, recipient: str, day: date,
                           reason: str, message_id: str, now: datetime) -> None:
    """That date's digest could not be composed: a failed row with the reason, no message."""
    row = Outbox(subscriber_id=subscriber_id, digest_date=day, status=OutboxStatus.FAILED,
                 message_id=message_id, recipient=recipient, subject="", message=None,
                 last_error=reason, created_at=now)
    save_digest(engine, row, [])


def latest_failures(session: Session) -> dict[int, tuple[date, str]]:
    """Each subscriber's most recent failed digest: its date and reason."""
    rows = session.exec(select(col(Outbox.subscriber_id), col(Outbox.digest_date), col(Outbox.last_error))
                        .where(Outbox.status == OutboxStatus.FAILED)
                        .where(col(Outbox.kind).in_(DIGEST_KINDS))
                        .order_by(col(Outbox.digest_date))).all()
    return {int(sid): (day, error or "") for sid, day, error in rows}


def claim_outbox(session: Session, now: datetime, limit: int, stale_after: float) -> list[Outbox]:
    """Mark up to `limit` due rows 'sending' and return them (SKIP LOCKED on PostgreSQL)."""
    stale = now - timedelta(seconds=stale_after)
    stmt = (select(Outbox)
            .where(or_(col(Outbox.status) == OutboxStatus.QUEUED,
                       (col(Outbox.status) == OutboxStatus.SENDING) & (col(Outbox.claimed_at) < stale)))
            .where(or_(col(Outbox.next_attempt_at).is_(None), col(Outbox.next_attempt_at) <= now))
            .order_by(col(Outbox.id)).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.exec(stmt).all())
    for row in rows:
        row.status, row.claimed_at = OutboxStatus.SENDING, now
        session.add(row)
    session.flush()
    return rows


_MARK_SENT = (update(Outbox).where(col(Outbox.id) == bindparam("row_id"))
              .where(col(Outbox.claimed_at) == bindparam("claimed"))  # fencing: still our claim
              .values(status=OutboxStatus.SENT, sent_at=bindparam("sent_at"), last_error=None))
_SUBSCRIBER_OK = (update(Subscriber).where(col(Subscriber.id) == bindparam("sub_id"))
                  .values(failure_streak=0, last_digest_date=case(
                      (col(Subscriber.last_digest_date) > bindparam("day"),
                       col(Subscriber.last_digest_date)), else_=bindparam("day"))))


def mark_sent(engine: Engine, rows: Sequence[Outbox], now: datetime) -> None:
    """Accepted by the server: these rows are sent and, for digests, their subscribers'
    streaks reset and last digest dates moved on, in one commit."""
    digests = [r for r in rows if r.kind in DIGEST_KINDS]
    with engine.begin() as conn:
        conn.execute(_MARK_SENT, [{"row_id": r.id, "sent_at": now, "claimed": r.claimed_at}
                                  for r in rows])
        if digests:
            conn.execute(_SUBSCRIBER_OK, [{"sub_id": r.subscriber_id, "day": r.digest_date}
                                          for r in digests])


def queue_notice(session: Session, subscriber_id: int, kind: DigestKind, recipient: str,
                 subject: str, message_id: str, message: bytes, now: datetime) -> Outbox:
    """Queue a web notice (confirmation or manage link) like a digest; flushed, so it has
    its id."""
    row = Outbox(subscriber_id=subscriber_id, digest_date=now.date(), kind=kind,
                 message_id=message_id, recipient=recipient, subject=subject, message=message,
                 created_at=now)
    session.add(row)
    session.flush()
    return row


def claim_row(engine: Engine, row_id: int, now: datetime) -> Outbox | None:
    """Claim one queued row by id (a notice sent right after the request that queued it);
    None when it is not queued any more (a deliverer took it, or it was cancelled)."""
    with session_scope(engine) as session:
        result = session.execute(update(Outbox).where(col(Outbox.id) == row_id)
                                 .where(col(Outbox.status) == OutboxStatus.QUEUED)
                                 .values(status=OutboxStatus.SENDING, claimed_at=now))
        if getattr(result, "rowcount", 0) != 1:
            return None
        row = session.get(Outbox, row_id)
        if row is not None:
            session.expunge(row)
        return row


def reassert_claim(engine: Engine, row: Outbox, now: datetime) -> bool:
    """Renew our claim on a row about to be sent; False when another deliverer took it over
    (our claim went stale), and the row must not be sent by us."""
    with engine.begin() as conn:
        result = conn.execute(update(Outbox).where(col(Outbox.id) == row.id)
                              .where(col(Outbox.status) == OutboxStatus.SENDING)
                              .where(col(Outbox.claimed_at) == row.claimed_at)
                              .values(claimed_at=now))
    if getattr(result, "rowcount", 0) != 1:
        return False
    row.claimed_at = now
    return True


def requeue_sending(engine: Engine, ids: Sequence[int | None] | None = None) -> int:
    """Put 'sending' rows (these ids, or all) back in the queue; returns how many."""
    stmt = update(Outbox).where(col(Outbox.status) == OutboxStatus.SENDING)
    if ids is not None:
        stmt = stmt.where(col(Outbox.id).in_(list(ids)))
    with session_scope(engine) as session:
        result = session.execute(stmt.values(status=OutboxStatus.QUEUED, claimed_at=None))
        return int(getattr(result, "rowcount", 0) or 0)


def cancel_queued(session: Session, subscriber_id: int) -> int:
    """Cancel a subscriber's unsent digests (unsubscribe stops queued ones too)."""
    result = session.execute(update(Outbox).where(col(Outbox.subscriber_id) == subscriber_id)
                             .where(col(Outbox.status).in_([OutboxStatus.QUEUED, OutboxStatus.SENDING]))
                             .values(status=OutboxStatus.CANCELLED))
    return int(getattr(result, "rowcount", 0) or 0)


def queue_counts(session: Session) -> dict[str, int]:
    """Outbox rows per status."""
    rows = session.exec(select(Outbox.status, func.count()).group_by(col(Outbox.status))).all()
    return {status: int(n) for status, n in rows}
