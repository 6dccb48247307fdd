"""Which papers go into a group of subscribers' digests: the window's papers, ranked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from digest.config import Config
from digest.rank import Interest
from digest.rank.stored import Ranked, interest_of, rank_configured
from digest.storage.models import Paper, Subscriber
from digest.storage.papers import papers_first_seen
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
    """Rank the papers first seen in [since, now) for these subscribers, never repeating one."""
    papers = papers_first_seen(session, since, now)
    interests = [interest_of(s) for s in subscribers]
    ranked = rank_configured(session, config, papers, interests,
                             already_sent={s.email: sent.get(s.id or 0, set())
                                           for s in subscribers})
    return Selection({p.canonical_id: p for p in papers}, interests, ranked,
                     secret_key(session, config.delivery.secret_key_env))
