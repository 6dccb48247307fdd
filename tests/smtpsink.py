"""A real SMTP server on loopback (aiosmtpd): plain, STARTTLS or implicit TLS, optional AUTH."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    """One accepted message."""

    sender: str
    recipients: list[str]
    data: bytes
    peer: int = 0       # the client's port: one per SMTP session
    at: float = 0.0     # time.time() when accepted

    @property
    def message(self) -> EmailMessage:
        parsed: EmailMessage = message_from_bytes(self.data, policy=policy.default)  # type: ignore[assignment]
        return parsed


@dataclass
class Sink:
    """Collects messages; refuses recipients listed in `refuse` with `refuse_code`."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    refuse_code: str = "550 5.1.1 no such user"
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    max_sessions: int | None = None  # more at once are greeted with 421
    sessions: int = 0
    peak: int = 0                    # the most sessions open at once
    refused_sessions: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        if address in self.refuse:
            return self.refuse_code
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          bytes(envelope.original_content or envelope.content),
                                          int(session.peer[1]), time.time()))
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]


class _LimitedSMTP(SMTP):
    """Greets with 421 when the sink already has `max_sessions` sessions open."""

    async def _handle_client(self) -> None:
        sink: Sink = self.event_handler
        with sink.lock:
            over = sink.max_sessions is not None and sink.sessions >= sink.max_sessions
            if over:
                sink.refused_sessions += 1
            else:
                sink.sessions += 1
                sink.peak = max(sink.peak, sink.sessions)
        if over:
            await self.push("421 4.7.0 Too many connections from your host, try later")
            assert self.transport is not None
            self.transport.close()
            return
        try:
            await super()._handle_client()
        finally:
            with sink.lock:
                sink.sessions -= 1


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _LimitedSMTP(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """Start/stop an aiosmtpd Controller around a Sink, on a fixed loopback port."""

    def __init__(self, sink: Sink | None = None, *, mode: str = "none",
                 context: ssl.SSLContext | None = None, users: dict[str, str] | None = None,
                 port: int | None = None, smtputf8: bool = True) -> None:
        self.sink = sink or Sink()
        self.port = port or free_port()
        self.mode, self.context, self.users = mode, context, users
        self.smtputf8 = smtputf8
        self.controller: Controller | None = None

    def _authenticator(self, server: Any, session: Any, envelope: Any, mechanism: str,
                       auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and self.users is not None
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": self.port,
                                  "enable_SMTPUTF8": self.smtputf8}
        if self.mode == "starttls":
            kwargs.update(tls_context=self.context, require_starttls=True)
        elif self.mode == "tls":
            kwargs.update(ssl_context=self.context, server_hostname="localhost")
        if self.users is not None:
            kwargs.update(authenticator=self._authenticator, auth_required=True,
                          # aiosmtpd only counts STARTTLS as TLS; implicit TLS is TLS too
                          auth_require_tls=self.mode == "starttls")
        self.controller = _Controller(self.sink, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
