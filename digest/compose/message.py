"""The MIME message of a digest: multipart/alternative with list headers (RFC 2369, RFC 8058)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid

from digest.compose.render import Rendered
from digest.config import Config
from digest.storage.models import Subscriber
from digest.text import one_line


@dataclass(frozen=True)
class Envelope:
    """Header values for one message, fixed when the digest is queued."""

    sender: str
    recipient: str
    recipient_name: str | None
    message_id: str
    date: datetime
    list_id: str
    unsubscribe_url: str
    unsubscribe_mailto: str


def new_message_id(domain: str) -> str:
    """A unique Message-ID on the sender's domain."""
    return make_msgid(idstring="digest", domain=domain)


def build_message(rendered: Rendered, env: Envelope) -> bytes:
    """A multipart/alternative message with list headers (RFC 2369, RFC 8058)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = env.sender
    msg["To"] = formataddr((one_line(env.recipient_name or "", 100), env.recipient))
    msg["Subject"] = one_line(rendered.subject, 250)
    msg["Date"] = format_datetime(env.date)
    msg["Message-ID"] = env.message_id
    msg["List-Id"] = env.list_id
    msg["List-Unsubscribe"] = f"<{env.unsubscribe_url}>, <{env.unsubscribe_mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Precedence"] = "list"
    msg.set_content(rendered.text, cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def unsubscribe_mailto(config: Config, sub: Subscriber) -> str:
    """The mailto: form of List-Unsubscribe."""
    address = config.delivery.unsubscribe_mailto or f"unsubscribe@{config.delivery.list_domain}"
    return f"mailto:{address}?subject=unsubscribe%20{sub.id}"
