"""The config file's sections as pydantic models (types, limits, per-field checks)."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    EmailStr,
    Field,
    HttpUrl,
    field_validator,
)

from digest.config.delivery import DeliveryConfig
from digest.rank.model import MAX_PAPERS
from digest.sources import SourceConfig
from digest.sources.base import StrictModel, check_zone
from digest.sources.ids import split_arxiv_id
from digest.text import has_control


class SemanticConfig(StrictModel):
    """The semantic ranker: on by default with the shipped MiniLM on ONNX Runtime; the other
    backends need `pip install 'paper-digest[semantic]'`."""

    enabled: bool = True
    backend: Literal["onnx", "sentence-transformers", "model2vec"] = "onnx"
    model: str | None = None          # a path or model name; defaults per backend
    weight: float = Field(1.0, ge=0.0, le=10.0)


class RankingConfig(StrictModel):
    """Ranking options shared by every subscriber."""

    semantic: SemanticConfig = SemanticConfig()


class WebConfig(StrictModel):
    """The subscription web app (`digest serve`, or `digest run` with daemon.http_port)."""

    enabled: bool = True
    title: str = Field("Paper Digest", max_length=80)
    confirm_max_age_hours: float = Field(48.0, gt=0)
    confirm_resend_minutes: float = Field(60.0, ge=0)
    rate_limit_per_ip: int = Field(20, ge=1)            # form posts per IP per hour
    rate_limit_per_address: int = Field(5, ge=1)        # subscribe attempts per address per day
    preview_window_days: int = Field(3, ge=1, le=30)
    trust_proxy_headers: bool = False                   # use X-Forwarded-For behind a proxy
    trusted_proxy_hops: int = Field(1, ge=1, le=10)     # how many proxies of yours add to it


class DaemonConfig(StrictModel):
    """`digest run`: delivery cadence, the HTTP endpoint, shutdown."""

    delivery_every_seconds: float = Field(60.0, ge=0.5, le=3600)
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(None, ge=0, le=65535)
    shutdown_grace_seconds: float = Field(10.0, ge=0)


class SubscriberConfig(StrictModel):
    """One subscriber: where and when to send, and what they care about."""

    email: EmailStr
    name: str | None = Field(None, max_length=100)
    timezone: str = "UTC"
    send_at: time = time(7, 0)
    cadence: Literal["daily", "weekdays", "weekly"] = "daily"
    weekly_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    max_papers: int = Field(10, ge=1, le=MAX_PAPERS)
    min_score: float = Field(0.0, ge=0.0)
    topics: list[Annotated[str, Field(min_length=1, max_length=500)]] = []
    keywords: list[Annotated[str, Field(min_length=1, max_length=100)]] = []
    authors: list[Annotated[str, Field(min_length=1, max_length=100)]] = []
    categories: list[Annotated[str, Field(pattern=r"^[a-z\-]+(\.[A-Za-z\-]+)?$")]] = []
    categories_only: bool = False
    exclude: list[Annotated[str, Field(min_length=1, max_length=100)]] = []
    liked: list[str] = []
    trending_weight: float = Field(0.1, ge=0.0, le=1.0)

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and (has_control(value) or any(c in value for c in "\r\n")):
            raise ValueError("the name must be one line without control characters")
        return value

    @field_validator("topics", "keywords", "authors", "exclude")
    @classmethod
    def _printable(cls, value: list[str]) -> list[str]:
        for item in value:
            if has_control(item):
                raise ValueError(f"{item!r} holds a control character (such as NUL); "
                                 "remove it")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("send_at", mode="before")
    @classmethod
    def _hhmm(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML 1.1 reads unquoted 07:30 as the integer 450
            if not 0 <= value < 24 * 60:
                raise ValueError('use 24-hour "HH:MM", e.g. "07:30"')
            return time(value // 60, value % 60)
        if isinstance(value, str) and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError('use 24-hour "HH:MM", e.g. "07:30"')
        return value

    @field_validator("liked")
    @classmethod
    def _arxiv_ids(cls, value: list[str]) -> list[str]:
        out = []
        for item in value:
            found = split_arxiv_id(str(item))
            if not found:
                raise ValueError(f"{item!r} is not an arXiv id; use e.g. '2306.15626'")
            out.append(found[0])
        return out


POLITE_HOSTS = {"arxiv.org": 3.0, "biorxiv.org": 1.0, "ebi.ac.uk": 0.2, "openalex.org": 0.2,
                "semanticscholar.org": 1.0}  # seconds between requests, as each publisher asks


class FetchConfig(StrictModel):
    """How feeds are fetched: politeness, limits and retries."""

    contact: str = "admin@example.org"
    timeout_seconds: float = Field(30.0, gt=0, le=300)
    max_body_bytes: int = Field(20_000_000, ge=1024)
    retries: int = Field(2, ge=0, le=10)
    backoff_seconds: float = Field(2.0, ge=0)
    max_retry_wait_seconds: float = Field(60.0, ge=0)
    error_backoff_max_hours: float = Field(24.0, gt=0)
    polite_hosts: dict[str, float] = Field(default_factory=lambda: dict(POLITE_HOSTS))
    arxiv_api_url: HttpUrl = HttpUrl("https://export.arxiv.org/api/query")
    fetch_liked: bool = True

    @field_validator("polite_hosts", mode="before")
    @classmethod
    def _over_the_defaults(cls, value: object) -> object:
        """Hosts listed in the config add to (or, with 0, lift) the publishers' own gaps;
        listing one host no longer drops arXiv's 3 s."""
        return {**POLITE_HOSTS, **value} if isinstance(value, dict) else value


class Config(StrictModel):
    """The whole configuration file."""

    database: str = "sqlite:///var/digest.db"
    fetch: FetchConfig = FetchConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    daemon: DaemonConfig = DaemonConfig()
    web: WebConfig = WebConfig()
    ranking: RankingConfig = RankingConfig()
    sources: list[SourceConfig] = []
    subscribers: list[SubscriberConfig] = []
    subscribers_file: Path | None = None
    path: Path | None = Field(None, exclude=True)

    @field_validator("database")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", value):
            raise ValueError("use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db")
        return value
