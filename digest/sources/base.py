"""What every source type shares: its config base class, its schedule, and its `SourceType`."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from digest.sources.records import PaperRecord

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
ARXIV_ANNOUNCE_CRON = ("5,35 20-23 * * sun,mon,tue,wed,thu", "America/New_York")  # after 20:00 ET


def check_zone(value: str) -> str:
    """An IANA time zone name, or a ValueError saying what is accepted."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown time zone; use an IANA name such as Europe/London") from exc
    return value


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Schedule(StrictModel):
    """When the daemon polls a source: every N minutes, or a cron expression in a time zone."""

    every_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60)
    cron: str | None = None
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            from apscheduler.triggers.cron import CronTrigger
            try:
                CronTrigger.from_crontab(value)
            except ValueError as exc:
                raise ValueError(f"not a cron expression ({exc}); use 5 fields, "
                                 "e.g. '5,35 20-23 * * sun,mon,tue,wed,thu'") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.every_minutes is None) == (self.cron is None):
            raise ValueError("give exactly one of every_minutes or cron")
        return self


class SourceBase(StrictModel):
    """Keys every source takes; a type adds its own and names itself in `type`."""

    name: str
    url: HttpUrl | None = None
    path: Path | None = None
    enabled: bool = True
    schedule: Schedule | None = None
    where_hint: ClassVar[str | None] = None  # None: the type has a default endpoint

    def has_location(self) -> bool:
        """Whether the source says where its papers come from."""
        return bool(self.url or self.path)

    @model_validator(mode="after")
    def _where(self) -> Self:
        if self.where_hint and not self.has_location():
            raise ValueError(self.where_hint)
        return self

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use lower-case letters, digits, '-', '_' or '.', at most 64")
        return value


def each_record(convert: Callable[[Any], PaperRecord | None],
                items: Iterable[Any]) -> list[PaperRecord]:
    """Each item of a feed as a record; an item that cannot be read is logged and skipped, so
    one bad item never costs the page (and the source) its other papers."""
    records = []
    for item in items:
        try:
            record = convert(item)
        except Exception:
            log.warning("skipped an item %s could not read", convert.__module__, exc_info=True)
            continue
        if record is not None:
            records.append(record)
    return records


def given_url(src: SourceBase, today: datetime, since: datetime | None = None) -> list[str]:
    """The request plan of a source whose only endpoint is its `url`."""
    assert src.url is not None, "config validation guarantees a url or a path"
    return [str(src.url)]


def no_more_pages(src: Any, bodies: Sequence[bytes], since: datetime | None = None) -> str | None:
    """The paging rule of a source that answers in one page."""
    return None


@dataclass(frozen=True)
class SourceType:
    """One source type: the pure parts the poller composes.

    `first_urls` plans one poll (the conditional request first); `next_page` asks for one
    more page given the bodies so far (None: done); both get `since`, the feed's last
    successful poll (None before the first), for sources that ask for a date window. `cron` is
    the publisher's own rhythm for sources read over HTTP, `interval_minutes` the default
    otherwise.
    """

    name: str
    parse: Callable[[bytes], list[PaperRecord]]
    first_urls: Callable[[Any, datetime, datetime | None], list[str]] = given_url
    next_page: Callable[[Any, Sequence[bytes], datetime | None], str | None] = no_more_pages
    interval_minutes: int = 60
    cron: tuple[str, str] | None = None
