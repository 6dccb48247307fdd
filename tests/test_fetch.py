"""The fetcher against a real loopback HTTP server."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from digest.config import FetchConfig
from digest.errors import PermanentFetchError, TransientFetchError, UnreachableError
from digest.ingest.fetch import Fetcher, parse_retry_after
from tests.feedserver import FeedServer, Reply

FAST = FetchConfig(contact="ops@lab.example", retries=2, backoff_seconds=0.01,
                   max_retry_wait_seconds=2, polite_hosts={}, timeout_seconds=5,
                   max_body_bytes=10_000)


async def test_conditional_get_and_user_agent(feed_server: FeedServer) -> None:
    url = feed_server.serve("/feed", Reply(b"<rss/>"))
    async with Fetcher(FAST) as f:
        first = await f.get(url)
        second = await f.get(url, etag=first.etag)
    assert first.status == 200 and first.body == b"<rss/>" and first.etag
    assert second.not_modified and second.body is None
    hit = feed_server.hits_for("/feed")[1]
    assert hit.headers["If-None-Match"] == first.etag
    assert "mailto:ops@lab.example" in hit.headers["User-Agent"]


async def test_transient_errors_are_retried_then_succeed(feed_server: FeedServer) -> None:
    url = feed_server.serve("/f", Reply(status=503), Reply(status=429, headers={"Retry-After": "0"}),
                            Reply(b"ok"))
    async with Fetcher(FAST) as f:
        assert (await f.get(url)).body == b"ok"
    assert len(feed_server.hits_for("/f")) == 3


async def test_retries_are_capped(feed_server: FeedServer) -> None:
    url = feed_server.serve("/down", Reply(status=500))
    async with Fetcher(FAST) as f:
        with pytest.raises(TransientFetchError, match="HTTP 500"):
            await f.get(url)
    assert len(feed_server.hits_for("/down")) == FAST.retries + 1


async def test_long_retry_after_is_not_slept_but_reported(feed_server: FeedServer) -> None:
    url = feed_server.serve("/slow", Reply(status=429, headers={"Retry-After": "3600"}))
    async with Fetcher(FAST) as f:
        with pytest.raises(TransientFetchError) as info:
            await f.get(url)
    assert info.value.retry_after == 3600 and len(feed_server.hits_for("/slow")) == 1


async def test_client_errors_are_not_retried(feed_server: FeedServer) -> None:
    url = feed_server.serve("/gone", Reply(b"nope", status=404))
    async with Fetcher(FAST) as f:
        with pytest.raises(PermanentFetchError, match="HTTP 404"):
            await f.get(url)
    assert len(feed_server.hits_for("/gone")) == 1


async def test_body_over_the_cap_is_refused(feed_server: FeedServer) -> None:
    url = feed_server.serve("/huge", Reply(b"x" * 20_000))
    async with Fetcher(FAST) as f:
        with pytest.raises(PermanentFetchError, match="larger than 10000 bytes"):
            await f.get(url)


async def test_timeouts_are_transient_and_not_retried_within_the_poll(
        feed_server: FeedServer) -> None:
    url = feed_server.serve("/hang", Reply(b"late", delay=1.0))
    cfg = FAST.model_copy(update={"timeout_seconds": 0.2, "retries": 2})
    async with Fetcher(cfg) as f:
        with pytest.raises(UnreachableError, match=r"no complete answer .* within 0\.2 s"):
            await f.get(url)
    assert len(feed_server.hits_for("/hang")) == 1


async def test_a_trickling_server_is_cut_at_the_total_deadline(feed_server: FeedServer) -> None:
    url = feed_server.serve("/trickle", Reply(b"<rss>" + b"x" * 100, trickle=0.2))
    cfg = FAST.model_copy(update={"timeout_seconds": 0.6, "retries": 2})
    started = time.monotonic()
    async with Fetcher(cfg) as f:
        with pytest.raises(UnreachableError, match=r"within 0\.6 s"):
            await f.get(url)
    assert time.monotonic() - started < 1.2  # each byte came within the read timeout


async def test_refused_and_reset_connections_say_why(feed_server: FeedServer) -> None:
    from tests.smtpsink import free_port

    reset = feed_server.serve("/reset", Reply(reset=True))
    async with Fetcher(FAST.model_copy(update={"retries": 1})) as f:
        with pytest.raises(UnreachableError, match="connection refused"):
            await f.get(f"http://127.0.0.1:{free_port()}/feed")
        with pytest.raises(TransientFetchError, match="broke off"):
            await f.get(reset)
    assert len(feed_server.hits_for("/reset")) == 2  # a dropped answer is retried once


async def test_polite_host_gets_one_request_at_a_time_spaced_out(feed_server: FeedServer) -> None:
    import asyncio
    import itertools

    url = feed_server.serve("/p", Reply(b"ok", etag=False))
    cfg = FAST.model_copy(update={"polite_hosts": {"127.0.0.1": 0.3}})
    async with Fetcher(cfg) as f:
        await asyncio.gather(*(f.get(url) for _ in range(3)))
    times = [h.at for h in feed_server.hits_for("/p")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) == 3 and all(g >= 0.28 for g in gaps)


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0
