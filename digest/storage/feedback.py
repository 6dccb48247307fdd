"""Votes: a subscriber's "more like this" / "less like this" on papers, recorded and read back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import Table, delete
from sqlmodel import Session, col, select

from digest.clock import utcnow
from digest.errors import DigestError, UnknownSubscriberError
from digest.sources.ids import normalize_doi, split_arxiv_id
from digest.storage.db import insert_on_conflict, rows_in
from digest.storage.models import Paper, PaperVote, Subscriber, SubscriberStatus
from digest.storage.papers import canonical_ids_by_doi
from digest.storage.subscribers import find_subscriber


class UnknownPaperError(DigestError):
    """A vote names a paper that is neither stored nor an arXiv id."""

    exit_code = 2


VOTES: Table = PaperVote.__table__  # type: ignore[attr-defined]


class VoteAction(StrEnum):
    """What a vote link or `digest feedback` does: vote more or less like this, or take it back."""

    MORE = "more"
    LESS = "less"
    CLEAR = "clear"

    @property
    def value_of(self) -> int:
        """The stored vote: +1 for more, -1 for less (0 for clear, which stores nothing)."""
        return {"more": 1, "less": -1}.get(self.value, 0)

    @property
    def label(self) -> str:
        """'More like this', 'Less like this', 'Undo'."""
        return {"more": "More like this", "less": "Less like this"}.get(self.value, "Undo")


def record_vote(session: Session, subscriber_id: int, paper_id: str, action: VoteAction,
                now: datetime | None = None) -> bool:
    """Record (or take back, for CLEAR) one vote; True when that changed what is stored.

    The same vote again changes nothing (not even its time); the opposite vote replaces it.
    One statement (INSERT ... ON CONFLICT), so two clicks at once cannot both insert.
    """
    if action == VoteAction.CLEAR:
        return clear_votes(session, subscriber_id, [paper_id]) > 0
    now = now or utcnow()
    stmt = insert_on_conflict(session, VOTES).values(subscriber_id=subscriber_id, paper_id=paper_id,
                                       value=action.value_of, created_at=now, updated_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=["subscriber_id", "paper_id"],
        set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        where=VOTES.c.value != stmt.excluded.value).returning(VOTES.c.id)
    return session.execute(stmt).first() is not None  # no row back: the same vote was there


def clear_votes(session: Session, subscriber_id: int, paper_ids: Sequence[str]) -> int:
    """Remove the subscriber's votes on these papers; how many there were."""
    stmt = delete(VOTES).where(VOTES.c.subscriber_id == subscriber_id,
                               VOTES.c.paper_id.in_(sorted(set(paper_ids))))
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


class StoredVote(NamedTuple):
    """One subscriber's vote on a paper: +1 more like this, -1 less; when it was last set."""

    paper_id: str
    value: int
    at: datetime


def votes_of(session: Session, subscriber_ids: Sequence[int]) -> dict[int, list[StoredVote]]:
    """Each subscriber's votes, newest first; one query per chunk of subscribers. Subscribers
    without votes are left out."""
    stmt = select(PaperVote.subscriber_id, PaperVote.paper_id, PaperVote.value,
                  PaperVote.updated_at).order_by(col(PaperVote.updated_at).desc(),
                                                 col(PaperVote.id).desc())
    out: dict[int, list[StoredVote]] = defaultdict(list)
    for sid, paper_id, value, at in rows_in(session, stmt, col(PaperVote.subscriber_id),
                                            sorted(set(subscriber_ids))):
        out[sid].append(StoredVote(paper_id, 1 if value > 0 else -1, at))
    return dict(out)


def voted_paper_ids(session: Session, emails: Sequence[str] | None = None) -> list[str]:
    """Papers voted on by active subscribers (or by these addresses, whatever their status)."""
    stmt = select(PaperVote.paper_id).join(
        Subscriber, col(Subscriber.id) == col(PaperVote.subscriber_id))
    if emails is None:
        stmt = stmt.where(Subscriber.status == SubscriberStatus.ACTIVE)
    else:
        stmt = stmt.where(col(Subscriber.email).in_([e.strip().lower() for e in emails]))
    return sorted(set(session.exec(stmt.distinct()).all()))


@dataclass(frozen=True)
class VoteEntry:
    """One vote as the manage page lists it: the paper's title and link when it is stored."""

    paper_id: str
    value: int
    title: str
    url: str
    at: datetime


def vote_entries(session: Session, subscriber_id: int) -> list[VoteEntry]:
    """The subscriber's votes, newest first, with the voted papers' titles."""
    rows = session.exec(
        select(PaperVote, Paper.title, Paper.url, Paper.arxiv_id)
        .join(Paper, col(Paper.canonical_id) == col(PaperVote.paper_id), isouter=True)
        .where(PaperVote.subscriber_id == subscriber_id)
        .order_by(col(PaperVote.updated_at).desc(), col(PaperVote.id).desc())).all()
    return [VoteEntry(v.paper_id, v.value, title or v.paper_id,
                      url or (f"https://arxiv.org/abs/{arxiv}" if arxiv else ""), v.updated_at)
            for v, title, url, arxiv in rows]


@dataclass
class PaperIds:
    """Paper ids as typed, resolved: input -> canonical id, and the inputs that name no paper."""

    found: dict[str, str]
    unknown: list[str]


def resolve_paper_ids(session: Session, typed: Sequence[str]) -> PaperIds:
    """Canonical ids for what a user typed: a stored paper's canonical id, an arXiv id or URL
    (with or without version; accepted even when not stored yet), or a stored paper's DOI."""
    typed = [t.strip() for t in typed]
    stored = set(rows_in(session, select(Paper.canonical_id), col(Paper.canonical_id), typed))
    found: dict[str, str] = {}
    dois: dict[str, str] = {}
    for text in typed:
        arxiv = split_arxiv_id(text)
        if text in stored:
            found[text] = text
        elif arxiv is not None:
            found[text] = arxiv[0]
        elif (doi := normalize_doi(text)) is not None:
            dois[text] = doi
    if dois:
        wanted = sorted(set(dois.values()))
        keyed = rows_in(session, select(Paper.canonical_id), col(Paper.canonical_id),
                        [f"doi:{d}" for d in wanted])  # papers whose key is their DOI
        by_doi = {cid.removeprefix("doi:"): cid for cid in keyed} \
            | canonical_ids_by_doi(session, wanted)  # ... or that carry it (a journal DOI)
        found |= {text: by_doi[doi] for text, doi in dois.items() if doi in by_doi}
    return PaperIds(found, [t for t in typed if t not in found])


@dataclass(frozen=True)
class Feedback:
    """What one vote (or clear) did to one paper: its canonical id and whether it changed."""

    paper_id: str
    action: VoteAction
    changed: bool


def give_feedback(session: Session, email: str, action: VoteAction, typed: Sequence[str],
                  now: datetime | None = None) -> list[Feedback]:
    """Record `action` on each paper for the subscriber at `email`, exactly as a vote link does;
    nothing is recorded when the address or any paper id is unknown."""
    row = find_subscriber(session, email)
    if row is None or row.id is None:
        raise UnknownSubscriberError(f"no subscriber {email!r}",
                                     "check the address against `digest subscribers list`")
    ids = resolve_paper_ids(session, typed)
    if ids.unknown:
        raise UnknownPaperError(
            f"no stored paper {', '.join(repr(t) for t in ids.unknown)}",
            "give a stored paper's id or DOI (see `digest papers`) or an arXiv id")
    wanted = list(dict.fromkeys(ids.found[t.strip()] for t in typed))
    return [Feedback(pid, action, record_vote(session, row.id, pid, action, now))
            for pid in wanted]
