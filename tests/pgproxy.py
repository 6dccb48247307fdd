"""A loopback TCP proxy (in front of PostgreSQL) that a test can cut and restore.

`cut()` aborts every connection through it (both sides: the server sees its client vanish, so a
session's advisory locks are released at once) and stops listening, so new connections are
refused; `restore()` listens again on the same port. One asyncio loop on a daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from tests.smtpsink import free_port

CHUNK = 64 * 1024


class PgProxy:
    """127.0.0.1:`port` -> `upstream_host`:`upstream_port`, byte for byte."""

    def __init__(self, upstream_host: str, upstream_port: int, port: int | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self.accepted = 0        # connections accepted since start
        self.aborted = 0         # connections cut by cut()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pgproxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    # -- the test's side -------------------------------------------------------------------
    def start(self) -> PgProxy:
        """Start the loop thread and listen."""
        self._thread.start()
        self._call(self._listen())
        return self

    @property
    def up(self) -> bool:
        """Listening (not cut)."""
        return self._server is not None

    def cut(self) -> int:
        """Abort every open connection and refuse new ones; returns how many were cut."""
        return int(self._call(self._cut()))

    def restore(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen())

    def stop(self) -> None:
        """Cut everything and stop the loop thread."""
        if self._thread.is_alive():
            self._call(self._cut())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # -- the loop's side -------------------------------------------------------------------
    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port,
                                                      reuse_address=True)

    async def _cut(self) -> int:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # no new connections: a connect() is refused from now on
        pairs, self._pairs = list(self._pairs), set()
        for client, upstream in pairs:
            client.transport.abort()
            upstream.transport.abort()
        self.aborted += len(pairs)
        return len(pairs)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # raced with cut()
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        self.accepted += 1
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            for w in pair:  # either side gone: close both, so the server ends that session
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()
