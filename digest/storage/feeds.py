"""Feeds: the polling state of each configured source (validators, backoff, last error)."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from digest.storage.models import Feed


def feeds_by_name(session: Session) -> dict[str, Feed]:
    """Every stored feed row, by source name."""
    return {f.name: f for f in session.exec(select(Feed)).all()}


def feed_named(session: Session, name: str) -> Feed:
    """The feed row of one source (it exists once the source was synced)."""
    return session.exec(select(Feed).where(Feed.name == name)).one()


def save_feed(session: Session, feed: Feed) -> None:
    """Write a feed row's state back (it may come from another session)."""
    session.merge(feed)


def all_feeds(session: Session) -> list[Feed]:
    """Every feed, by name."""
    return list(session.exec(select(Feed).order_by(col(Feed.name))).all())


def failing_feed_count(session: Session) -> int:
    """How many feeds' last poll failed."""
    return int(session.exec(select(func.count()).select_from(Feed)
                            .where(col(Feed.error_count) > 0)).one())
