"""Poll sources: fetch -> parse -> store, each feed failing alone with its state saved."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.clock import utcnow
from digest.config import Config, FetchConfig
from digest.errors import (
    DigestError,
    FetchError,
    ParseError,
    PermanentFetchError,
    UnknownSourceError,
)
from digest.ingest.fetch import Fetcher
from digest.ingest.plan import SourceBodies, fetch_by_ids, fetch_source
from digest.rank.stored import embed_recent_papers
from digest.sources import PARSERS, TYPES, SourceConfig, arxiv_api
from digest.sources.ids import is_arxiv_id
from digest.sources.records import PaperRecord
from digest.storage.db import session_scope
from digest.storage.feedback import voted_paper_ids
from digest.storage.feeds import feed_named, feeds_by_name, save_feed
from digest.storage.models import Feed
from digest.storage.papers import (
    LIKED_SOURCE,
    lookups_due,
    not_stored,
    record_lookups,
    upsert_papers,
)
from digest.storage.subscribers import liked_ids, liking_subscribers, sync_subscribers
from digest.text import one_line

log = logging.getLogger(__name__)
NOT_FOUND_RETRY = timedelta(days=1)  # a liked or voted id arXiv did not have: asked daily at most


@dataclass
class PollReport:
    """What polling one source did, for the `digest poll` table and --json."""

    source: str
    type: str
    status: str = "skipped"
    parsed: int = 0
    new: int = 0
    updated: int = 0
    error: str | None = None
    next_check_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO strings)."""
        out = asdict(self)
        out["next_check_at"] = self.next_check_at.isoformat() if self.next_check_at else None
        return out


def sync_feeds(session: Session, sources: list[SourceConfig]) -> dict[str, Feed]:
    """Make sure every configured source has a feed row; return them by name."""
    feeds = feeds_by_name(session)
    for src in sources:
        url = str(src.url) if src.url else (str(src.path) if src.path else None)
        feed = feeds.get(src.name)
        if feed is None:
            feed = feeds[src.name] = Feed(name=src.name, type=src.type, url=url)
        elif feed.type != src.type or feed.url != url:  # source edited: forget validators
            feed.type, feed.url, feed.etag, feed.last_modified = src.type, url, None, None
        if feed.error_count == 0 and feed.last_success_at is not None:  # schedule edits count
            feed.next_check_at = next_poll_at(src, feed.last_success_at)
        session.add(feed)
    session.flush()
    return feeds


def due_feeds(session: Session, sources: list[SourceConfig], now: datetime) -> list[SourceConfig]:
    """Enabled sources whose `next_check_at` has come (or that were never polled).

    `next_check_at` is the one polling clock: the source's schedule after a success, the
    error backoff after a failure. The daemon and `digest poll` both only ask what is due.
    """
    feeds = sync_feeds(session, sources)

    def due(feed: Feed) -> bool:
        return feed.next_check_at is None or feed.next_check_at <= now

    return [s for s in sources if s.enabled and due(feeds[s.name])]


async def poll_sources(config: Config, engine: Engine, *, force: bool = False,
                       now: datetime | None = None, names: list[str] | None = None,
                       fetcher: Fetcher | None = None,
                       should_stop: Callable[[], bool] = lambda: False) -> list[PollReport]:
    """Poll every due source once (all enabled ones with `force`), concurrently; then fetch
    the liked papers no source has brought yet and embed the new papers (until
    `should_stop()`)."""
    now = now or utcnow()
    unknown = sorted(set(names or ()) - {s.name for s in config.sources})
    if unknown:
        raise UnknownSourceError(f"no source named {', '.join(unknown)}",
                                 "check the names against `sources` in the config")
    sources = [s for s in config.sources if names is None or s.name in names]
    with session_scope(engine) as session:
        chosen = [s for s in sources if s.enabled] if force else \
            due_feeds(session, sources, now)
        if force:
            sync_feeds(session, sources)
    if not chosen:
        return []
    async with contextlib.AsyncExitStack() as stack:
        if fetcher is None:  # one shared client for this poll unless the caller brings one
            fetcher = await stack.enter_async_context(Fetcher(config.fetch))
        outcomes = await asyncio.gather(*(poll_source(s, engine, fetcher, config.fetch, now)
                                          for s in chosen), return_exceptions=True)
        try:
            await store_missing_liked(config, engine, fetcher, now=now)
        except Exception:  # liked papers never cost the feeds' reports
            log.exception("could not look up liked papers")
        await embed_new_papers(config, engine, should_stop)
        return [_report_of(src, out) for src, out in zip(chosen, outcomes, strict=True)]


async def embed_new_papers(config: Config, engine: Engine,
                           should_stop: Callable[[], bool] = lambda: False) -> None:
    """Compute the semantic ranker's embeddings of the papers just stored, off the event loop,
    so compose finds them ready; a failure is logged (ranking computes what is missing)."""
    try:
        count = await asyncio.to_thread(embed_recent_papers, engine, config,
                                        should_stop=should_stop)
    except Exception as exc:  # embeddings never cost the feeds' reports; bugs get a traceback
        log.warning("could not compute paper embeddings now (%s); ranking will try again", exc,
                    exc_info=not isinstance(exc, DigestError))
    else:
        if count:
            log.info("embedded %d new papers", count)


def _report_of(src: SourceConfig, outcome: PollReport | BaseException) -> PollReport:
    """A source's report; one whose own bookkeeping failed (its feed row could not be read or
    saved) fails alone, with the reason."""
    if isinstance(outcome, PollReport):
        return outcome
    if not isinstance(outcome, Exception):
        raise outcome  # cancellation and the like stop the poll
    log.error("source %s: %r", src.name, outcome, exc_info=outcome)
    return PollReport(src.name, src.type, status="error",
                      error=one_line(f"internal error: {outcome!r}", 500))


async def store_missing_liked(config: Config, engine: Engine, fetcher: Fetcher | None = None,
                              emails: list[str] | None = None,
                              now: datetime | None = None) -> list[str]:
    """Fetch the papers active subscribers (or `emails`) liked or voted on that are not stored
    yet, from the arXiv API, and store them; returns the ids asked for. An id the API did not
    have is not asked for again for NOT_FOUND_RETRY (kept in the database: every process and
    replica knows). A failure is logged, not raised."""
    now = now or utcnow()
    with session_scope(engine) as session:
        sync_subscribers(session, config.subscribers)
        wanted = [p for s in liking_subscribers(session, emails) for p in liked_ids(s.interests)]
        wanted += voted_paper_ids(session, emails)
        missing = lookups_due(session, not_stored(session, sorted(
            {p for p in wanted if is_arxiv_id(p)})), now)
    if not missing or not config.fetch.fetch_liked:
        return []
    try:
        async with contextlib.AsyncExitStack() as stack:
            if fetcher is None:
                fetcher = await stack.enter_async_context(Fetcher(config.fetch))
            records = await lookup_ids(fetcher, str(config.fetch.arxiv_api_url), missing)
    except Exception as exc:  # liked papers never stop a poll; bugs get a traceback
        log.log(logging.ERROR if isinstance(exc, PermanentFetchError) else logging.WARNING,
                "could not fetch liked or voted papers %s: %s", ", ".join(missing), exc,
                exc_info=not isinstance(exc, DigestError))
        return missing
    got = {r.canonical_id for r in records}
    absent = [i for i in missing if i not in got]
    with session_scope(engine) as session:
        upsert_papers(session, LIKED_SOURCE, records)
        record_lookups(session, [i for i in missing if i in got], absent, now + NOT_FOUND_RETRY)
    if absent:
        log.warning("liked or voted papers not found on arXiv (asked again in %g h): %s",
                    NOT_FOUND_RETRY.total_seconds() / 3600, ", ".join(absent))
    return missing


async def lookup_ids(fetcher: Fetcher, base: str, ids: list[str]) -> list[PaperRecord]:
    """What the arXiv API has of these ids, a page (100 ids) a request. A request it answers
    with its error feed (HTTP 400, or 200: an id it cannot read, which one bad id does to a
    whole batch) is asked again in halves, recursively (about 2·log2(n) more requests for one
    bad id), and a single id so refused counts as not found. Any other answer raises (a 403
    from a proxy, a 404 from a wrong `fetch.arxiv_api_url`): nothing is taken as not found."""
    if not ids:
        return []
    if len(ids) > arxiv_api.PAGE_SIZE:
        return [r for start in range(0, len(ids), arxiv_api.PAGE_SIZE)
                for r in await lookup_ids(fetcher, base, ids[start:start + arxiv_api.PAGE_SIZE])]
    try:
        body = b"".join(await fetch_by_ids(fetcher, base, ids))
    except PermanentFetchError as exc:
        if not (exc.status == 400 and exc.body and arxiv_api.is_error_feed(exc.body)):
            raise _lookup_failed(base, f"HTTP {exc.status}" if exc.status else exc.message,
                                 exc) from exc
        body = exc.body
    if not arxiv_api.is_error_feed(body):
        try:
            return arxiv_api.parse(body)
        except ParseError as exc:
            raise _lookup_failed(base, exc.message, exc) from exc
    log.info("the arXiv API refused the ids %s", ", ".join(ids))
    if len(ids) == 1:
        return []
    half = (len(ids) + 1) // 2
    return [*await lookup_ids(fetcher, base, ids[:half]),
            *await lookup_ids(fetcher, base, ids[half:])]


def _lookup_failed(base: str, answer: str, exc: DigestError) -> PermanentFetchError:
    """A look-up answered by something other than the arXiv API's records or error feed."""
    status = exc.status if isinstance(exc, FetchError) else None
    return PermanentFetchError(
        f"the arXiv API at {base} did not answer an id look-up ({answer}); no id was taken "
        "as not found", "check fetch.arxiv_api_url (https://export.arxiv.org/api/query) and "
        "any proxy between here and arXiv", status=status)


async def poll_source(src: SourceConfig, engine: Engine, fetcher: Fetcher,
                      fetch_cfg: FetchConfig, now: datetime) -> PollReport:
    """Fetch, parse and store one source; its feed row records the outcome either way."""
    report = PollReport(src.name, src.type)
    with session_scope(engine) as session:
        feed = feed_named(session, src.name)
    retry_after: float | None = None
    started = time.monotonic()
    try:
        got = await fetch_source(src, fetcher, feed.etag, feed.last_modified, today=now,
                                 since=feed.last_success_at)
        report.status = got.status
        if got.bodies:
            _store(src, got, engine, now, report)
        feed.etag, feed.last_modified = got.etag or feed.etag, got.last_modified or feed.last_modified
    except Exception as exc:  # each feed fails alone; bugs are logged with a traceback
        report.status, report.error = _describe_failure(src, exc)
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        log.warning("source %s failed: %s", src.name, report.error,
                    exc_info=not isinstance(exc, DigestError))
    except asyncio.CancelledError:  # stopped mid-poll: neither a success nor a failure
        log.info("poll of %s interrupted; its state is left as it was", src.name)
        raise
    # the schedule counts from the poll's start; a failure's backoff from its end, so a slow
    # failure is not due again at once
    finished = now + timedelta(seconds=time.monotonic() - started)
    _save_feed_state(engine, feed, report, now if report.error is None else finished,
                     fetch_cfg, src, retry_after)
    return report


def _store(src: SourceConfig, got: SourceBodies, engine: Engine, now: datetime,
           report: PollReport) -> None:
    parse = PARSERS[src.type]
    records = [rec for body in got.bodies for rec in parse(body)]
    for rec in records:
        rec.source = src.name
    report.parsed = len(records)
    with session_scope(engine) as session:
        result = upsert_papers(session, src.name, records, now)
    report.new, report.updated = len(result.new), len(result.updated)


def _describe_failure(src: SourceConfig, exc: BaseException) -> tuple[str, str]:
    status = str(exc.status) if isinstance(exc, FetchError) and exc.status else "error"
    if isinstance(exc, FetchError) and exc.body:  # e.g. the arXiv API's HTTP 400 error feed
        try:
            PARSERS[src.type](exc.body)
        except ParseError as parsed:
            return status, f"{exc.message}: {parsed.message}"
        except Exception:
            pass
    message = str(exc) if isinstance(exc, DigestError) else f"internal error: {exc!r}"
    return status, one_line(message, 500)


def _save_feed_state(engine: Engine, feed: Feed, report: PollReport, now: datetime,
                     cfg: FetchConfig, src: SourceConfig, retry_after: float | None) -> None:
    feed.last_polled_at, feed.last_status = now, report.status
    if report.error is None:
        feed.error_count, feed.last_error, feed.last_success_at = 0, None, now
        feed.next_check_at = next_poll_at(src, now)
    else:
        feed.error_count += 1
        feed.last_error = report.error
        feed.next_check_at = now + timedelta(seconds=error_backoff(feed.error_count, cfg,
                                                                   retry_after))
    report.next_check_at = feed.next_check_at
    with session_scope(engine) as session:
        save_feed(session, feed)


def next_poll_at(src: SourceConfig, after: datetime) -> datetime:
    """When a healthy source is next due after a poll at `after`: its own schedule, else its
    publisher's rhythm (arXiv: after the 20:00 US/Eastern announcement), else its type's interval."""
    kind = TYPES[src.type]
    if src.schedule and src.schedule.every_minutes:
        return after + timedelta(minutes=src.schedule.every_minutes)
    if src.schedule and src.schedule.cron:
        cron = CronTrigger.from_crontab(src.schedule.cron, timezone=src.schedule.timezone)
    elif kind.cron is not None and src.path is None:
        cron = CronTrigger.from_crontab(kind.cron[0], timezone=kind.cron[1])
    else:
        return after + timedelta(minutes=kind.interval_minutes)
    fire = cron.get_next_fire_time(None, after + timedelta(seconds=1))
    return fire.astimezone(UTC) if fire else after + timedelta(days=1)


def error_backoff(error_count: int, cfg: FetchConfig, retry_after: float | None) -> float:
    """Seconds until a failing feed is tried again: Retry-After, else 2^n minutes with jitter."""
    cap = cfg.error_backoff_max_hours * 3600
    if retry_after is not None:
        return min(max(retry_after, 1.0), cap)
    return min(cap, 60 * 2 ** min(error_count - 1, 20)) * random.uniform(0.9, 1.1)
