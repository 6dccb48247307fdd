"""Database tables (SQLModel). Schema changes go through Alembic (storage/migrations)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from digest.clock import utcnow


class OutboxStatus(StrEnum):
    """Where a composed digest stands; `sending` means claimed by a deliverer."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DigestKind(StrEnum):
    """A digest with papers, the short note sent on an empty day (`empty_digest: note`), or a
    web notice queued like them: the confirmation link or the manage link."""

    DIGEST = "digest"
    EMPTY = "empty"
    CONFIRM = "confirm"
    MANAGE = "manage"


DIGEST_KINDS = (DigestKind.DIGEST, DigestKind.EMPTY)  # one per subscriber and date; notices repeat
_ONE_DIGEST_A_DAY = text("kind IN ('digest', 'empty')")


class SubscriberStatus(StrEnum):
    """`pending` until the web double opt-in is confirmed; only `active` subscribers get mail."""

    ACTIVE = "active"
    PAUSED = "paused"
    PENDING = "pending"
    UNSUBSCRIBED = "unsubscribed"


class Origin(StrEnum):
    """Where a subscriber was declared: the config file (synced in) or the web form."""

    CONFIG = "config"
    WEB = "web"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store in UTC; naive input is taken to be UTC already."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Always hand back an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Paper(SQLModel, table=True):
    """One paper, whatever sources reported it; `canonical_id` is unique."""

    __tablename__ = "papers"

    id: int | None = Field(default=None, primary_key=True)
    canonical_id: str = Field(max_length=120, unique=True, index=True)
    arxiv_id: str | None = Field(default=None, max_length=40, index=True)
    doi: str | None = Field(default=None, max_length=200, index=True)
    version: int = 1
    title: str = Field(sa_type=Text)
    abstract: str = Field(default="", sa_type=Text)
    authors: list[str] = Field(default_factory=list, sa_type=JSON)
    categories: list[str] = Field(default_factory=list, sa_type=JSON)
    published: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    updated: datetime | None = Field(default=None, sa_type=UTCDateTime)
    url: str | None = Field(default=None, sa_type=Text)
    pdf_url: str | None = Field(default=None, sa_type=Text)
    comment: str | None = Field(default=None, sa_type=Text)
    signals: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # indexed: the embedding step after each poll and the corpus version read the recent ones
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class Sighting(SQLModel, table=True):
    """Which source saw which paper, with that source's own signals (e.g. HF upvotes)."""

    __tablename__ = "sightings"
    __table_args__ = (UniqueConstraint("paper_id", "source", name="uq_sightings_paper_source"),)

    id: int | None = Field(default=None, primary_key=True)
    paper_id: int = Field(sa_column=Column(Integer, ForeignKey("papers.id", ondelete="CASCADE"),
                                           nullable=False, index=True))
    source: str = Field(max_length=64, index=True)
    version: int = 1
    signals: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Feed(SQLModel, table=True):
    """Polling state of one configured source; backoff is data, not a sleeping loop."""

    __tablename__ = "feeds"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    type: str = Field(max_length=20)
    url: str | None = Field(default=None, sa_type=Text)
    etag: str | None = Field(default=None, sa_type=Text)
    last_modified: str | None = Field(default=None, sa_type=Text)
    next_check_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: str | None = Field(default=None, max_length=40)
    error_count: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)


class Subscriber(SQLModel, table=True):
    """A person who gets digests, from the config file or the web."""

    __tablename__ = "subscribers"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str | None = Field(default=None, max_length=100)
    origin: str = Field(default=Origin.CONFIG, max_length=10)
    status: str = Field(default=SubscriberStatus.ACTIVE, max_length=20)
    timezone: str = Field(default="UTC", max_length=64)
    send_at: str = Field(default="07:00", max_length=5)
    cadence: str = Field(default="daily", max_length=10)
    weekly_day: str = Field(default="mon", max_length=3)   # the day of a weekly cadence
    interests: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    last_digest_date: date | None = None
    failure_streak: int = 0
    confirm_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    token_nonce: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Outbox(SQLModel, table=True):
    """One digest for one subscriber and one local date, or a web notice (any number); the
    rendered message is fixed here."""

    __tablename__ = "outbox"
    __table_args__ = (Index("uq_outbox_digest_subscriber_date", "subscriber_id", "digest_date",
                            unique=True, sqlite_where=_ONE_DIGEST_A_DAY,
                            postgresql_where=_ONE_DIGEST_A_DAY),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(sa_column=Column(Integer, ForeignKey("subscribers.id",
                                                                    ondelete="CASCADE"),
                                                nullable=False, index=True))
    digest_date: date
    kind: str = Field(default=DigestKind.DIGEST, max_length=10)
    status: str = Field(default=OutboxStatus.QUEUED, max_length=10, index=True)
    message_id: str = Field(max_length=250, unique=True)
    recipient: str = Field(max_length=320)
    subject: str = Field(sa_type=Text)
    message: bytes | None = Field(default=None, sa_type=LargeBinary)
    paper_count: int = 0
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutboxPaper(SQLModel, table=True):
    """A paper placed in a digest; (subscriber, paper) is unique, so no paper is sent twice."""

    __tablename__ = "outbox_papers"
    __table_args__ = (UniqueConstraint("subscriber_id", "paper_id",
                                       name="uq_outbox_papers_subscriber_paper"),)

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(sa_column=Column(Integer, ForeignKey("outbox.id", ondelete="CASCADE"),
                                            nullable=False, index=True))
    subscriber_id: int = Field(sa_column=Column(Integer, ForeignKey("subscribers.id",
                                                                    ondelete="CASCADE"),
                                                nullable=False))
    paper_id: int = Field(sa_column=Column(Integer, ForeignKey("papers.id", ondelete="CASCADE"),
                                           nullable=False))
    position: int
    score: float
    why: str = Field(default="", sa_type=Text)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)


class Setting(SQLModel, table=True):
    """Small key/value state the application generates itself (e.g. a signing key)."""

    __tablename__ = "settings"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)


class PaperEmbedding(SQLModel, table=True):
    """A paper's embedding under one model, computed once (semantic ranking)."""

    __tablename__ = "paper_embeddings"
    __table_args__ = (UniqueConstraint("paper_id", "model", name="uq_paper_embeddings_paper_model"),)

    id: int | None = Field(default=None, primary_key=True)
    paper_id: int = Field(sa_column=Column(Integer, ForeignKey("papers.id", ondelete="CASCADE"),
                                           nullable=False, index=True))
    model: str = Field(max_length=200)
    version: int = 1
    vector: bytes = Field(sa_type=LargeBinary)


class PaperLookup(SQLModel, table=True):
    """A paper id someone liked or voted on that the arXiv API did not have when last asked:
    it is not asked for again before `retry_at` (one request a day at most for a bad id)."""

    __tablename__ = "paper_lookups"

    canonical_id: str = Field(primary_key=True, max_length=120)
    failures: int = 0
    retry_at: datetime = Field(sa_type=UTCDateTime)


class PaperVote(SQLModel, table=True):
    """A subscriber's vote on a paper: +1 "more like this", -1 "less like this"; one per pair."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("subscriber_id", "paper_id", name="uq_votes_subscriber_paper"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(sa_column=Column(Integer, ForeignKey("subscribers.id",
                                                                    ondelete="CASCADE"),
                                                nullable=False, index=True))
    paper_id: str = Field(max_length=120)   # the paper's canonical id (it may not be stored yet)
    value: int = Field(sa_type=SmallInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Counter(SQLModel, table=True):
    """Hits on one key in one fixed time window (send quotas, web rate limits), shared by every
    replica; a row is deleted once its window is over."""

    __tablename__ = "counters"

    key: str = Field(primary_key=True, max_length=200)
    window: int = Field(sa_column=Column(BigInteger, primary_key=True))  # epoch seconds it starts
    count: int = 0
    expires: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))  # epoch seconds
