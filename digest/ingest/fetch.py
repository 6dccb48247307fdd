"""Polite HTTP fetching: one shared client, conditional GET, size cap, capped retries."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from digest import __version__
from digest.config import FetchConfig
from digest.errors import (
    FetchError,
    PermanentFetchError,
    TransientFetchError,
    UnreachableError,
)
from digest.text import one_line

TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(slots=True)
class FetchResult:
    """One response: status, body (None on 304) and the validators for the next request."""

    url: str
    status: int
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        """True when the server answered 304 Not Modified."""
        return self.status == 304


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HostLimiter:
    """At most one request at a time, and a minimum gap, per polite host (e.g. arXiv)."""

    def __init__(self, intervals: dict[str, float]) -> None:
        self._intervals = intervals
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    def rule(self, host: str) -> tuple[str, float] | None:
        """The configured (domain, seconds) that applies to `host`, if any."""
        host = host.lower()
        for domain, seconds in self._intervals.items():
            if host == domain or host.endswith("." + domain):
                return domain, seconds
        return None

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Wait for this host's turn; unlisted hosts go straight through."""
        rule = self.rule(host)
        if rule is None:
            yield
            return
        domain, seconds = rule
        async with self._locks.setdefault(domain, asyncio.Lock()):
            wait = self._last.get(domain, -1e9) + seconds - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._last[domain] = time.monotonic()


class Fetcher:
    """Shared `httpx.AsyncClient` with politeness and retry policy from FetchConfig."""

    def __init__(self, config: FetchConfig, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self.limiter = HostLimiter(config.polite_hosts)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @property
    def user_agent(self) -> str:
        """User-Agent naming the software and the operator's contact address."""
        return f"paper-digest/{__version__} (self-hosted; mailto:{self.config.contact})"

    async def __aenter__(self) -> Fetcher:
        self._client = httpx.AsyncClient(
            timeout=self.config.timeout_seconds, follow_redirects=True, max_redirects=5,
            headers={"User-Agent": self.user_agent}, transport=self._transport,
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def get(self, url: str, etag: str | None = None,
                  last_modified: str | None = None) -> FetchResult:
        """GET with conditional headers; retries transient failures with backoff and jitter."""
        attempt = 0
        while True:
            try:
                return await self._get_once(url, etag, last_modified)
            except UnreachableError:
                raise  # the feed's backoff tries again later; no second wait in this poll
            except TransientFetchError as exc:
                wait = exc.retry_after if exc.retry_after is not None else self._backoff(attempt)
                if attempt >= self.config.retries or wait > self.config.max_retry_wait_seconds:
                    raise
                attempt += 1
                await asyncio.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return self.config.backoff_seconds * (2 ** attempt) * random.uniform(0.5, 1.5)

    async def _get_once(self, url: str, etag: str | None, last_modified: str | None) -> FetchResult:
        assert self._client is not None, "use `async with Fetcher(...)`"
        headers = {k: v for k, v in (("If-None-Match", etag),
                                     ("If-Modified-Since", last_modified)) if v}
        limit = self.config.timeout_seconds
        async with self.limiter.slot(urlsplit(url).hostname or ""):
            try:
                async with asyncio.timeout(limit), \
                        self._client.stream("GET", url, headers=headers) as resp:
                    return await self._read(url, resp)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise UnreachableError(f"no complete answer from {shown(url)} within {limit:g} s",
                                       "the server is slow or silent; the feed backs off and "
                                       "tries again later") from exc
            except httpx.ConnectError as exc:
                raise UnreachableError(f"cannot connect to {shown(url)}: {_reason(exc)}",
                                       "check the URL and that the server is up") from exc
            except httpx.TransportError as exc:
                raise TransientFetchError(f"the answer from {shown(url)} broke off: {_reason(exc)}",
                                          "retried within the poll (fetch.retries), then the feed "
                                          "backs off") from exc

    async def _read(self, url: str, resp: httpx.Response) -> FetchResult:
        status = resp.status_code
        if status == 304:
            return FetchResult(url, 304, None, resp.headers.get("ETag"),
                               resp.headers.get("Last-Modified"))
        body = await self._capped_body(url, resp)
        if status in TRANSIENT_STATUS:
            raise TransientFetchError(f"HTTP {status} from {shown(url)}", "the server asked us to retry",
                                      status=status,
                                      retry_after=parse_retry_after(resp.headers.get("Retry-After")))
        if status >= 400:
            err = PermanentFetchError(f"HTTP {status} from {shown(url)}: {one_line(resp.reason_phrase, 80)}",
                                      "check the source URL or query in the config", status=status)
            err.body = body
            raise err
        return FetchResult(url, status, body, resp.headers.get("ETag"),
                           resp.headers.get("Last-Modified"))

    async def _capped_body(self, url: str, resp: httpx.Response) -> bytes:
        cap = self.config.max_body_bytes
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _too_big(url, cap)
        chunks, size = [], 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise _too_big(url, cap)
            chunks.append(chunk)
        return b"".join(chunks)


def _too_big(url: str, cap: int) -> FetchError:
    return PermanentFetchError(f"response from {shown(url)} is larger than {cap} bytes",
                               "raise fetch.max_body_bytes if this feed is really that large")


def _reason(exc: Exception) -> str:
    """The operating system's words for a network failure ('connection refused')."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and (cause.errno or cause.strerror):
            errno = cause.errno or 0  # a resolver's codes are negative: use its own words
            return (os.strerror(errno) if errno > 0 else str(cause.strerror)).lower()
        cause = cause.__cause__ or cause.__context__
    return str(exc) or exc.__class__.__name__


_SECRET_PARAMS = re.compile(r"(?i)([?&](?:api_key|apikey|key|token|access_token|mailto)=)[^&#]*")


def shown(url: str) -> str:
    """A URL as errors and logs may show it: query secrets (api_key=, token=...) masked."""
    return _SECRET_PARAMS.sub(r"\1***", url)
