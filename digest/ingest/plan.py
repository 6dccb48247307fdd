"""Turn a source's config into the bytes to parse: HTTP requests per type, or a local file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from digest.errors import PermanentFetchError
from digest.ingest.fetch import Fetcher
from digest.sources import TYPES, SourceConfig, arxiv_api


@dataclass
class SourceBodies:
    """The bodies one poll of a source produced (none when nothing changed)."""

    status: str
    bodies: list[bytes] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None


async def fetch_source(src: SourceConfig, fetcher: Fetcher, etag: str | None,
                       last_modified: str | None, today: datetime | None = None,
                       since: datetime | None = None) -> SourceBodies:
    """Fetch what `src` points at: its type's first URL conditionally (a 304 ends the poll),
    the rest of its plan unconditionally, then further pages while the type asks for them."""
    if src.path is not None:
        return read_local(src, etag)
    kind = TYPES[src.type]
    urls = kind.first_urls(src, today or datetime.now(UTC), since)
    first = await fetcher.get(urls[0], etag, last_modified)
    if first.not_modified:
        return SourceBodies("304", [], first.etag, first.last_modified)
    bodies = [first.body or b""]
    for url in urls[1:]:  # e.g. Hugging Face backfill days
        bodies.append((await fetcher.get(url)).body or b"")
    while (page := kind.next_page(src, bodies, since)) is not None:  # e.g. arXiv API pages
        bodies.append((await fetcher.get(page)).body or b"")
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
