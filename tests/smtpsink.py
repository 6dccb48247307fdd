"""A real SMTP server on loopback (aiosmtpd): plain, STARTTLS or implicit TLS, optional AUTH."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


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
                                          bytes(envelope.original_content or envelope.content)))
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.recipients]


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
        self.controller = Controller(self.sink, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
