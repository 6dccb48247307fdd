"""The Mailer interface the delivery loop and the web app's notices send through, and the
configured transport."""

from __future__ import annotations

from typing import Protocol

from digest.config import Config
from digest.deliver.files import FileMailer
from digest.deliver.smtp import Pacer, SmtpMailer


class Mailer(Protocol):
    """Sends finished messages; raises DeliveryError when a message is not accepted."""

    async def __aenter__(self) -> Mailer: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Deliver one message (or raise DeliveryError)."""


def make_mailer(config: Config, pacer: Pacer | None = None) -> Mailer:
    """The configured transport (SMTP connections sending side by side share one `pacer`)."""
    if config.delivery.transport == "smtp":
        return SmtpMailer(config.delivery.smtp, pacer)
    return FileMailer(config.delivery.outbox_dir)


def connection_count(config: Config) -> int:
    """How many connections the configured transport may use side by side."""
    return config.delivery.smtp.connections if config.delivery.transport == "smtp" else 1
