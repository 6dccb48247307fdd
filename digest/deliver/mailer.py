"""The Mailer interface the delivery loop and the web app's notices send through, and the
configured transport."""

from __future__ import annotations

from typing import Protocol

from digest.config import Config
from digest.deliver.files import FileMailer
from digest.deliver.smtp import SmtpMailer


class Mailer(Protocol):
    """Sends finished messages; raises DeliveryError when a message is not accepted."""

    async def __aenter__(self) -> Mailer: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Deliver one message (or raise DeliveryError)."""


def make_mailer(config: Config) -> Mailer:
    """The configured transport."""
    if config.delivery.transport == "smtp":
        return SmtpMailer(config.delivery.smtp)
    return FileMailer(config.delivery.outbox_dir)
