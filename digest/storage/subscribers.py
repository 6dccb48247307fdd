"""Subscribers in the database: config-file subscribers synced in, looked up, listed."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from digest.clock import utcnow
from digest.storage.db import insert_on_conflict, rows_in
from digest.storage.models import Origin, Subscriber, SubscriberStatus
from digest.storage.outbox import cancel_queued

if TYPE_CHECKING:
    from digest.config import SubscriberConfig

INTEREST_FIELDS = ("topics", "keywords", "authors", "categories", "categories_only", "exclude",
                   "liked", "min_score", "max_papers", "trending_weight")
# interests["library"]: papers imported from the subscriber's reference library (see
# digest.library.resolve), a list of {"id", "title", "via"[, "abstract", "year"]}. Neither the
# config file nor the manage form owns it, so syncing the config or saving the form keeps it.
LIBRARY = "library"


def library_of(interests: dict[str, Any]) -> list[dict[str, Any]]:
    """The imported library entries of stored interests (well-formed ones only)."""
    entries = interests.get(LIBRARY)
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)] \
        if isinstance(entries, list) else []


def liked_ids(interests: dict[str, Any]) -> list[str]:
    """Every liked paper's canonical id: the `liked` list, then the imported library's."""
    ids = [str(p) for p in interests.get("liked") or ()] + [e["id"] for e in library_of(interests)]
    return list(dict.fromkeys(ids))


def kept_on_edit(interests: dict[str, Any]) -> dict[str, Any]:
    """The part of stored interests that replacing them from a form or the config keeps."""
    return {LIBRARY: interests[LIBRARY]} if LIBRARY in interests else {}


def library_texts(session: Session, emails: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Title and abstract the imported libraries of these subscribers hold, by entry id (the
    ranker's fallback for liked papers that are not stored); one query per chunk."""
    rows = rows_in(session, select(Subscriber.interests), col(Subscriber.email),
                   sorted({e.strip().lower() for e in emails}))
    seen: dict[str, set[tuple[str, str]]] = {}
    for interests in rows:
        for e in library_of(interests or {}):
            if e.get("title"):
                seen.setdefault(e["id"], set()).add((str(e["title"]), str(e.get("abstract") or "")))
    # an id two libraries describe differently is nobody's to define (one subscriber's upload
    # must never put its text into another's ranking or email): it has no text
    return {pid: next(iter(texts)) for pid, texts in seen.items() if len(texts) == 1}


def interests_of(config: SubscriberConfig) -> dict[str, Any]:
    """The interest fields of a config subscriber, as stored in `subscribers.interests`."""
    return {name: getattr(config, name) for name in INTEREST_FIELDS}


def sync_subscribers(session: Session, configured: Sequence[SubscriberConfig]) -> list[Subscriber]:
    """Upsert config-file subscribers (origin 'config'); web subscribers are left alone."""
    wanted = {str(s.email).lower(): s for s in configured}
    rows = {r.email: r for r in session.exec(select(Subscriber)
                                             .where(col(Subscriber.email).in_(list(wanted))))}
    if missing := [email for email in wanted if email not in rows]:
        # replicas starting together insert the same addresses: the later ones skip them
        fresh = [Subscriber(email=email, origin=Origin.CONFIG, token_nonce=secrets.token_hex(8))
                 .model_dump(exclude={"id"}) for email in missing]
        session.execute(_insert_ignore(session), fresh)
        rows.update({r.email: r for r in session.exec(
            select(Subscriber).where(col(Subscriber.email).in_(missing)))})
    out = []
    for email, cfg in wanted.items():
        row = rows[email]
        fields = {"name": cfg.name, "timezone": cfg.timezone, "cadence": cfg.cadence,
                  "weekly_day": cfg.weekly_day, "send_at": cfg.send_at.strftime("%H:%M"),
                  "interests": {**interests_of(cfg), **kept_on_edit(row.interests or {})}}
        if any(getattr(row, k) != v for k, v in fields.items()):
            for name, value in fields.items():  # runs every delivery cycle: write only changes
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.add(row)
        out.append(row)
    session.flush()
    return out


def _insert_ignore(session: Session) -> Any:
    """INSERT INTO subscribers … ON CONFLICT (email) DO NOTHING for the session's dialect."""
    table = Subscriber.__table__  # type: ignore[attr-defined]
    return insert_on_conflict(session, table).on_conflict_do_nothing(index_elements=["email"])


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """A subscriber by email address (case-insensitive)."""
    return session.exec(select(Subscriber).where(Subscriber.email == email.strip().lower())).first()


def liking_subscribers(session: Session, emails: Sequence[str] | None = None) -> list[Subscriber]:
    """Active subscribers (or these addresses, whatever their status) with liked papers."""
    stmt = select(Subscriber)
    if emails is None:
        stmt = stmt.where(Subscriber.status == SubscriberStatus.ACTIVE)
    else:
        stmt = stmt.where(col(Subscriber.email).in_([e.strip().lower() for e in emails]))
    return [s for s in session.exec(stmt).all() if liked_ids(s.interests)]


class SendSchedule(NamedTuple):
    """An active subscriber's address and send settings, without the interests: what deciding
    who is due needs, small enough to hold for every subscriber at once."""

    id: int
    email: str
    timezone: str
    send_at: str
    cadence: str
    weekly_day: str


def send_schedules(session: Session, only: str | None = None) -> list[SendSchedule]:
    """Active subscribers' send settings by id (just `only`, an address, when given)."""
    stmt = sa_select(col(Subscriber.id), col(Subscriber.email), col(Subscriber.timezone),
                     col(Subscriber.send_at), col(Subscriber.cadence),
                     col(Subscriber.weekly_day)) \
        .where(col(Subscriber.status) == SubscriberStatus.ACTIVE)
    if only:
        stmt = stmt.where(col(Subscriber.email) == only.strip().lower())
    rows = session.execute(stmt.order_by(col(Subscriber.id))).all()
    return [SendSchedule(*row) for row in rows]


def active_by_ids(session: Session, ids: Sequence[int]) -> dict[int, Subscriber]:
    """The full rows of those of `ids` still active (one chunk of a compose cycle)."""
    stmt = select(Subscriber).where(Subscriber.status == SubscriberStatus.ACTIVE)
    return {row.id or 0: row for row in rows_in(session, stmt, col(Subscriber.id), list(ids))}


def subscriber_topics(session: Session) -> Iterator[list[Any]]:
    """The `topics` list of every stored subscriber, whatever their status, taken out of the
    interests JSON by the database (an imported library, ~1 KB a paper, never leaves it) and
    streamed a thousand rows at a time."""
    topics = Subscriber.__table__.c.interests["topics"]  # type: ignore[attr-defined]
    rows = session.execute(select(topics).execution_options(yield_per=1000))
    for (value,) in rows:
        yield value if isinstance(value, list) else []


def all_subscribers(session: Session) -> list[Subscriber]:
    """Every subscriber, by address."""
    return list(session.exec(select(Subscriber).order_by(col(Subscriber.email))).all())


def remove_subscriber(session: Session, email: str) -> Subscriber | None:
    """Delete one subscriber and cancel their unsent digests; None when nobody has `email`."""
    target = find_subscriber(session, email)
    if target is None:
        return None
    cancel_queued(session, target.id or 0)
    session.delete(target)
    return target
