"""Counters in fixed time windows, shared by every replica: send quotas and web rate limits.

One row per (key, window); a hit is one atomic INSERT .. ON CONFLICT DO UPDATE .. WHERE
count < limit RETURNING, so replicas taking hits at the same moment never pass a limit
together. Rows are deleted once the window after theirs is over (at most once a minute per
process), so the table holds only live windows.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection, Engine

from digest.storage.db import insert_on_conflict
from digest.storage.models import Counter

SWEEP_EVERY = 60.0  # seconds between deletions of finished windows, per process
_swept: dict[str, float] = {}
_sweep_lock = threading.Lock()


@dataclass(frozen=True)
class Limit:
    """At most `limit` hits on `key` per fixed window of `seconds` (aligned to the epoch)."""

    key: str
    limit: int
    seconds: int

    def window(self, now: float) -> int:
        """The epoch second the window holding `now` starts at."""
        return int(now // self.seconds) * self.seconds

    def closing(self, now: float) -> float:
        """Seconds left when `now` is in the window's last tenth (at most 5 s), else 0.0: no
        hit is taken then, so a message on its way does not arrive in the next window."""
        left = self.window(now) + self.seconds - now
        return left if left <= min(self.seconds / 10, 5.0) else 0.0


def hashed(bucket: str, value: str) -> str:
    """A counter key that does not store the value itself (an address, an IP)."""
    return f"{bucket}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"


def _upsert(conn: Connection, limit: Limit, now: float, sliding: bool) -> bool:
    start = limit.window(now)
    table = Counter.__table__  # type: ignore[attr-defined]
    room = limit.limit
    if sliding:  # the previous window still counts for the part of it within `seconds` of now
        before = conn.execute(select(table.c.count).where(table.c.key == limit.key)
                              .where(table.c.window == start - limit.seconds)).scalar() or 0
        room -= math.ceil(before * (1 - (now - start) / limit.seconds))
        if room <= 0:
            return False
    stmt = insert_on_conflict(conn, table).values(key=limit.key, window=start, count=1,
                                       expires=start + 2 * limit.seconds)
    stmt = stmt.on_conflict_do_update(index_elements=["key", "window"],
                                      set_={"count": table.c.count + 1},
                                      where=table.c.count < room).returning(table.c.count)
    return conn.execute(stmt).first() is not None


def take(engine: Engine, limits: Sequence[Limit], now: float | None = None,
         sliding: bool = False) -> float:
    """Count one hit against every limit, all or none: 0.0 when taken, else the seconds until
    the window that refused it is over (nothing is counted then).

    Send quotas count calendar windows, and take no hit in a window's last tenth (a message on
    its way must not arrive in the next one). `sliding` (web rate limits) also counts the
    previous window's hits, weighted by how much of it lies within `seconds` of now, so a
    client gets no fresh allowance at a window's start."""
    now = time.time() if now is None else now
    if not sliding and (closing := max((lim.closing(now) for lim in limits), default=0.0)):
        return closing
    _sweep(engine, now)
    with engine.connect() as conn, conn.begin() as tx:
        refused = [lim for lim in limits if not _upsert(conn, lim, now, sliding)]
        if refused:
            tx.rollback()
            return max(lim.window(now) + lim.seconds - now for lim in refused)
    return 0.0


def wait_for(engine: Engine, limits: Sequence[Limit], now: float | None = None) -> float:
    """Seconds until a hit could be taken (0.0: now), counting nothing."""
    now = time.time() if now is None else now
    table = Counter.__table__  # type: ignore[attr-defined]
    wait = 0.0
    with engine.connect() as conn:
        for lim in limits:
            count = conn.execute(select(table.c.count).where(table.c.key == lim.key)
                                 .where(table.c.window == lim.window(now))).scalar()
            if count is not None and count >= lim.limit:
                wait = max(wait, lim.window(now) + lim.seconds - now)
    return wait


def _sweep(engine: Engine, now: float) -> None:
    """Delete windows that are over (bounded table), at most every SWEEP_EVERY seconds."""
    url = str(engine.url)
    with _sweep_lock:
        if now - _swept.get(url, 0.0) < SWEEP_EVERY:
            return
        _swept[url] = now
    sweep(engine, now)


def sweep(engine: Engine, now: float | None = None) -> int:
    """Delete every counter whose window is over; how many rows went."""
    now = time.time() if now is None else now
    table = Counter.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        result = conn.execute(delete(table).where(table.c.expires <= int(now)))
    return int(getattr(result, "rowcount", 0) or 0)
