"""Subscribers in the database: config-file subscribers synced in, looked up, listed."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from digest.clock import utcnow
from digest.storage.models import Origin, Subscriber, SubscriberStatus
from digest.storage.outbox import cancel_queued

if TYPE_CHECKING:
    from digest.config import SubscriberConfig

INTEREST_FIELDS = ("topics", "keywords", "authors", "categories", "categories_only", "exclude",
                   "liked", "min_score", "max_papers", "trending_weight")


def interests_of(config: SubscriberConfig) -> dict[str, Any]:
    """The interest fields of a config subscriber, as stored in `subscribers.interests`."""
    return {name: getattr(config, name) for name in INTEREST_FIELDS}


def sync_subscribers(session: Session, configured: Sequence[SubscriberConfig]) -> list[Subscriber]:
    """Upsert config-file subscribers (origin 'config'); web subscribers are left alone."""
    wanted = {str(s.email).lower(): s for s in configured}
    rows = {r.email: r for r in session.exec(select(Subscriber)
                                             .where(col(Subscriber.email).in_(list(wanted))))}
    out = []
    for email, cfg in wanted.items():
        row = rows.get(email) or Subscriber(email=email, origin=Origin.CONFIG,
                                            token_nonce=secrets.token_hex(8))
        fields = {"name": cfg.name, "timezone": cfg.timezone, "cadence": cfg.cadence,
                  "weekly_day": cfg.weekly_day, "send_at": cfg.send_at.strftime("%H:%M"),
                  "interests": interests_of(cfg)}
        if row.id is None or any(getattr(row, k) != v for k, v in fields.items()):
            for name, value in fields.items():  # runs every delivery cycle: write only changes
                setattr(row, name, value)
            row.updated_at = utcnow()
            session.add(row)
        out.append(row)
    session.flush()
    return out


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
    return [s for s in session.exec(stmt).all() if s.interests.get("liked")]


def active_subscribers(session: Session, only: str | None = None) -> list[Subscriber]:
    """Active subscribers by id (just `only`, an address, when given)."""
    stmt = select(Subscriber).where(Subscriber.status == SubscriberStatus.ACTIVE)
    if only:
        stmt = stmt.where(Subscriber.email == only.strip().lower())
    return list(session.exec(stmt.order_by(col(Subscriber.id))).all())


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
