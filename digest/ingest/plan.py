"""Turn a source's config into the bytes to parse: HTTP requests per type, or a local file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from digest.config import ArxivApiSource, ArxivRssSource, HfDailySource, SourceConfig
from digest.errors import PermanentFetchError
from digest.ingest.fetch import Fetcher
from digest.ingest.sources import arxiv_api, hf_daily

ARXIV_RSS_URL = "https://rss.arxiv.org/rss/"


@dataclass
class SourceBodies:
    """The bodies one poll of a source produced (none when nothing changed)."""

    status: str
    bodies: list[bytes] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None


async def fetch_source(src: SourceConfig, fetcher: Fetcher, etag: str | None,
                       last_modified: str | None) -> SourceBodies:
    """Fetch what `src` points at; conditional on the stored validators where possible."""
    if src.path is not None:
        return read_local(src, etag)
    if isinstance(src, ArxivApiSource):
        return await _fetch_arxiv_api(src, fetcher, etag, last_modified)
    urls = first_urls(src)
    first = await fetcher.get(urls[0], etag, last_modified)
    if first.not_modified:
        return SourceBodies("304", [], first.etag, first.last_modified)
    bodies = [first.body or b""]
    for url in urls[1:]:  # HF backfill days: unconditional
        bodies.append((await fetcher.get(url)).body or b"")
    return SourceBodies(str(first.status), bodies, first.etag, first.last_modified)


def first_urls(src: SourceConfig, today: datetime | None = None) -> list[str]:
    """The URL(s) one poll requests for a non-paged source, the conditional one first."""
    if isinstance(src, ArxivRssSource):
        return [str(src.url) if src.url else ARXIV_RSS_URL + "+".join(src.categories)]
    if isinstance(src, HfDailySource):
        base = str(src.url) if src.url else hf_daily.DEFAULT_URL
        if src.sort == "trending":
            return [hf_daily.daily_url(base, sort="trending")]
        day = (today or datetime.now(UTC)).date()
        return [hf_daily.daily_url(base, day - timedelta(days=n)) for n in range(src.backfill_days + 1)]
    assert src.url is not None, "config validation guarantees a url or a path"
    return [str(src.url)]


async def _fetch_arxiv_api(src: ArxivApiSource, fetcher: Fetcher, etag: str | None,
                           last_modified: str | None) -> SourceBodies:
    base = str(src.url) if src.url else arxiv_api.DEFAULT_URL
    per = min(arxiv_api.PAGE_SIZE, src.max_results)
    first = await fetcher.get(arxiv_api.query_url(base, src.query, max_results=per),
                              etag, last_modified)
    if first.not_modified or first.body is None:
        return SourceBodies("304", [], first.etag, first.last_modified)
    bodies = [first.body]
    page = arxiv_api.page_info(first.body)
    start, last_count = per, page.per_page
    while start < min(page.total, src.max_results) and last_count > 0:
        size = min(per, src.max_results - start)
        got = await fetcher.get(arxiv_api.query_url(base, src.query, start=start, max_results=size))
        bodies.append(got.body or b"")
        last_count = len(arxiv_api.parse(bodies[-1]))
        start += size
    return SourceBodies(str(first.status), bodies, first.etag, first.last_modified)


def read_local(src: SourceConfig, etag: str | None) -> SourceBodies:
    """Read a saved capture or export; its content hash plays the role of an ETag."""
    assert src.path is not None
    try:
        data = src.path.read_bytes()
    except OSError as exc:
        raise PermanentFetchError(f"cannot read {src.path}: {exc.strerror}",
                                  f"fix sources[{src.name}].path in the config") from exc
    digest = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    if digest == etag:
        return SourceBodies("unchanged", [], digest)
    return SourceBodies("file", [data], digest)


async def fetch_by_ids(fetcher: Fetcher, base: str, ids: list[str]) -> list[bytes]:
    """arXiv API responses for an id list (liked papers not stored yet), 100 ids a request."""
    bodies = []
    for start in range(0, len(ids), arxiv_api.PAGE_SIZE):
        chunk = ids[start:start + arxiv_api.PAGE_SIZE]
        url = arxiv_api.query_url(base, None, id_list=chunk, max_results=len(chunk))
        bodies.append((await fetcher.get(url)).body or b"")
    return bodies
