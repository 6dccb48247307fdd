"""One daemon per database: a file lock for SQLite, an advisory lock on PostgreSQL."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from digest.errors import AlreadyRunningError

ADVISORY_KEY = 0x5044_4947  # "PDIG"


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

    def try_leader(self) -> bool:
        """PostgreSQL: take the session-level advisory lock if free."""
        conn = self.engine.connect()
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar())
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

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
        if self._conn is not None:
            self._conn.close()
            self._conn = None
