"""An in-memory Mailer for tests: keeps every accepted message; can refuse on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from digest.errors import DeliveryError


@dataclass(frozen=True)
class Sent:
    """One accepted message: envelope sender, recipient and the raw bytes."""

    sender: str
    recipient: str
    message: bytes


@dataclass
class MemoryMailer:
    """Accepts messages into `sent`; `refuse(recipient)` may return a DeliveryError to raise."""

    sent: list[Sent] = field(default_factory=list)
    refuse: Callable[[str], DeliveryError | None] = lambda recipient: None

    async def __aenter__(self) -> MemoryMailer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Keep the message, or raise what `refuse` says for this recipient."""
        error = self.refuse(recipient)
        if error is not None:
            raise error
        self.sent.append(Sent(sender, recipient, message))
