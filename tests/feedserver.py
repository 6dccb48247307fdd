"""A real HTTP server on loopback that serves feed captures, with ETags and scripted failures."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Reply:
    """One scripted response."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True
    delay: float = 0.0
    trickle: float = 0.0   # send the body one byte per `trickle` seconds
    reset: bool = False    # drop the connection without an answer


@dataclass
class Hit:
    """One request the server received."""

    path: str
    query: str
    headers: dict[str, str]
    at: float


class FeedServer:
    """Serve `routes[path]`: a Reply, or a queue of Replies consumed one per request."""

    def __init__(self) -> None:
        self.routes: dict[str, deque[Reply] | Reply] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        # A client that gave up (timeout tests) is not an error worth a traceback; printing one
        # from this thread would also race CPython 3.11's traceback caret code (ast.parse)
        # with the main thread's own ast.parse (gh-106905: "AST constructor recursion depth").
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        """Absolute URL of `path` on this server."""
        return self.base + path

    def serve(self, path: str, *replies: Reply) -> str:
        """Script the replies for `path` (the last one repeats); return its URL."""
        self.routes[path] = deque(replies) if len(replies) > 1 else replies[0]
        return self.url(path)

    def hits_for(self, path: str) -> list[Hit]:
        """Requests received for `path`."""
        return [h for h in self.hits if h.path == path]

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_reply(self, path: str) -> Reply | None:
        with self._lock:
            route = self.routes.get(path)
            if isinstance(route, deque):
                return route.popleft() if len(route) > 1 else route[0]
            return route

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                server.hits.append(Hit(parts.path, parts.query, dict(self.headers), time.monotonic()))
                reply = server._next_reply(parts.path)
                if reply is None:
                    return self._send(404, b"not found", {})
                time.sleep(reply.delay)
                if reply.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return None
                headers = dict(reply.headers)
                if reply.etag and reply.status == 200:
                    tag = '"' + hashlib.sha1(reply.body).hexdigest()[:16] + '"'
                    headers["ETag"] = tag
                    if self.headers.get("If-None-Match") == tag:
                        return self._send(304, b"", headers)
                self._send(reply.status, reply.body, headers, reply.trickle)

            def _send(self, status: int, body: bytes, headers: dict[str, str],
                      trickle: float = 0.0) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        self._write(body, trickle)  # the client may have gone (timeouts)

            def _write(self, body: bytes, trickle: float) -> None:
                if not trickle:
                    self.wfile.write(body)
                    return
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(trickle)

        return Handler
