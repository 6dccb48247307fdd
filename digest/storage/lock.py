"""One daemon per database: a file lock for SQLite, an advisory lock on PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from digest.errors import AlreadyRunningError

ADVISORY_KEY = 0x5044_4947  # "PDIG"
COMPOSE_CLASS = 0x5043  # "PC": (class, subscriber id) advisory locks while composing
EMBED_CLASS = 0x5045  # "PE": (class, paper id) advisory locks while embedding
log = logging.getLogger(__name__)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


class DaemonLock:
    """Held for the daemon's lifetime; released on exit (or by the OS if it dies)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._file: IO[str] | None = None
        self._conn: Connection | None = None

    def _sqlite_path(self) -> Path:
        database = self.engine.url.database or ""
        return Path(database + ".lock")

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunningError (SQLite); PostgreSQL: try once."""
        if self.engine.dialect.name == "sqlite":
            path = self._sqlite_path()
            handle = path.open("a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                handle.seek(0)
                pid = handle.read().strip() or "?"
                handle.close()
                raise AlreadyRunningError(
                    f"another digest daemon (pid {pid}) is already running on {path.stem}",
                    "stop it first, or point this one at another database") from exc
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            self._file = handle
            return
        if not self.try_leader():
            raise AlreadyRunningError("another digest daemon leads this PostgreSQL database",
                                      "this replica can stand by; it takes over when the leader stops")

    def try_leader(self, quiet: bool = False) -> bool:
        """PostgreSQL: take the session-level advisory lock if free (False, not an error, when
        the database cannot be reached; `quiet`: raise that error instead of logging it, for a
        caller that logs outages itself)."""
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            if quiet:
                raise
            log.warning("cannot reach the database to take the lease: %s", _first_line(exc))
            return False
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                    {"k": ADVISORY_KEY}).scalar())
        except DBAPIError as exc:
            log.warning("cannot take the lease: %s", _first_line(exc))
            got = False
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def still_leading(self) -> bool:
        """PostgreSQL: confirm on the lease's own connection that the lock is still held; a
        broken connection means the server has already released it (another replica may lead)."""
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND classid = 0 AND objid = :k"),
                {"k": ADVISORY_KEY}).scalar()
        except DBAPIError as exc:
            log.warning("lost the lease: %s", _first_line(exc))
            held = 0
        if not held:
            self._drop_connection()
        return bool(held)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False (and nothing held) otherwise."""
        try:
            self.acquire()
        except AlreadyRunningError:
            return False
        return True

    def release(self) -> None:
        """Give the lock back."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        self._drop_connection()  # closed for real, not pooled: the server frees the lock


@contextlib.contextmanager
def claim_subscribers(engine: Engine, ids: Sequence[int]) -> Iterator[list[int]]:
    """Claim these subscribers for composing, for as long as the block runs: yields the ids
    this process got (one advisory lock each, taken in one query, never waiting), so replicas
    whose due lists differ still never compose the same subscriber at once. On SQLite (one
    daemon) every id. The outbox's uniqueness still guards every digest."""
    with claim_ids(engine, COMPOSE_CLASS, ids) as ours:
        yield ours


@contextlib.contextmanager
def claim_ids(engine: Engine, lock_class: int, ids: Sequence[int]) -> Iterator[list[int]]:
    """Session advisory locks (`lock_class`, id) on these ids for as long as the block runs:
    yields the ids this process got, never waiting. On SQLite (one daemon) every id."""
    if engine.dialect.name != "postgresql" or not ids:
        yield list(ids)
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        ours = [int(i) for i in conn.execute(
            text("SELECT id FROM unnest(CAST(:ids AS int[])) AS id "
                 "WHERE pg_try_advisory_lock(:c, id) ORDER BY id"),
            {"ids": list(ids), "c": lock_class}).scalars()]
        try:
            yield ours
        finally:
            if ours:  # a dead connection has released them already
                with contextlib.suppress(DBAPIError):
                    conn.execute(text("SELECT pg_advisory_unlock(:c, id) "
                                      "FROM unnest(CAST(:ids AS int[])) AS id"),
                                 {"ids": ours, "c": lock_class})
