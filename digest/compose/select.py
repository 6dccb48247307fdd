"""Which papers go into a group of subscribers' digests: the window's papers, ranked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.clock import utcnow
from digest.config import Config
from digest.errors import UnknownSubscriberError
from digest.rank import Interest, Pick
from digest.rank.stored import Ranked, interests_with_votes, rank_configured
from digest.storage.db import session_scope
from digest.storage.models import Paper, Subscriber
from digest.storage.outbox import last_digest_at
from digest.storage.papers import papers_first_seen, papers_published
from digest.storage.subscribers import find_subscriber, sync_subscribers
from digest.tokens import secret_key

FIRST_WINDOW = timedelta(days=1)


@dataclass
class Selection:
    """What a group of subscribers' digests are made from: the window's papers and the picks."""

    papers: dict[str, Paper]
    interests: list[Interest]
    ranked: Ranked
    key: str


def select_papers(session: Session, config: Config, subscribers: Sequence[Subscriber],
                  since: datetime, now: datetime, sent: dict[int, set[str]]) -> Selection:
    """Rank the papers first seen in [since, now) for these subscribers (with the votes they
    have given so far), never repeating one."""
    papers = papers_first_seen(session, since, now)
    interests = interests_with_votes(session, subscribers, now)
    ranked = rank_configured(session, config, papers, interests,
                             already_sent={s.email: sent.get(s.id or 0, set())
                                           for s in subscribers})
    return Selection({p.canonical_id: p for p in papers}, interests, ranked,
                     secret_key(session, config.delivery.secret_key_env))


def window_papers(session: Session, since: date | None, until: date | None,
                  subscriber_id: int, now: datetime) -> list[Paper]:
    """Papers published in [since, until], or by default first seen since the last digest
    (the same window the next digest is composed from)."""
    if since or until:
        return papers_published(session, since or date(1991, 8, 14), until or now.date())
    start = last_digest_at(session, [subscriber_id]).get(subscriber_id, now - FIRST_WINDOW)
    return papers_first_seen(session, start)


@dataclass
class RankedWindow:
    """One subscriber's picks over a window, and the window's papers by canonical id."""

    picks: list[Pick]
    papers: dict[str, Paper]


def rank_window(engine: Engine, config: Config, email: str, since: date | None = None,
                until: date | None = None, now: datetime | None = None) -> RankedWindow:
    """What `digest rank` shows: one subscriber's ranking of a window; records nothing."""
    now = now or utcnow()
    with session_scope(engine) as session:
        sync_subscribers(session, config.subscribers)
        row = find_subscriber(session, email)
        if row is None:
            raise UnknownSubscriberError(f"no subscriber {email!r}",
                                         "check the address against `subscribers` in the config")
        interest = interests_with_votes(session, [row], now)[0]
        papers = window_papers(session, since, until, row.id or 0, now)
        ranked = rank_configured(session, config, papers, [interest])
    return RankedWindow(ranked.picks[interest.key], {p.canonical_id: p for p in papers})
