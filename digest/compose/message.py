"""The MIME message of a digest: multipart/alternative with list headers (RFC 2369, RFC 8058)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, Policy
from email.utils import format_datetime, make_msgid, parseaddr

import idna

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
    unsubscribe_mailto: str | None = None


# Headers are never folded into RFC 2047 encoded-words: a receiver must find the literal
# `<https://...>` of List-Unsubscribe in the raw bytes (RFC 8058). 998 is RFC 5322's line limit.
ASCII_HEADERS = SMTP.clone(max_line_length=998)
UTF8_HEADERS = SMTPUTF8.clone(max_line_length=998)


def mail_address(address: str) -> str:
    """The address as it goes on the wire: an internationalised domain in its IDNA (xn--) form,
    so only a non-ASCII local part still needs SMTPUTF8 (RFC 6531)."""
    local, _, domain = address.strip().rpartition("@")
    if not local or domain.isascii():
        return address.strip()
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return address.strip()


def needs_smtputf8(*addresses: str) -> bool:
    """Whether any of these wire addresses can only travel with SMTPUTF8."""
    return not all(a.isascii() for a in addresses)


def header_policy(*addresses: str) -> Policy:
    """Plain ASCII headers (non-ASCII names as encoded-words), or raw UTF-8 ones when an
    address needs SMTPUTF8 anyway."""
    return UTF8_HEADERS if needs_smtputf8(*addresses) else ASCII_HEADERS


def new_message_id(domain: str) -> str:
    """A unique Message-ID on the sender's domain."""
    return make_msgid(idstring="digest", domain=domain)


def build_message(rendered: Rendered, env: Envelope) -> bytes:
    """A multipart/alternative message with list headers (RFC 2369, RFC 8058)."""
    msg = EmailMessage(policy=header_policy(env.recipient, parseaddr(env.sender)[1]))
    msg["From"] = env.sender
    local, _, domain = env.recipient.rpartition("@")
    msg["To"] = Address(one_line(env.recipient_name or "", 100), local, domain)
    msg["Subject"] = one_line(rendered.subject, 250)
    msg["Date"] = format_datetime(env.date)
    msg["Message-ID"] = env.message_id
    msg["List-Id"] = env.list_id
    targets = [env.unsubscribe_url] + ([env.unsubscribe_mailto] if env.unsubscribe_mailto else [])
    msg["List-Unsubscribe"] = ", ".join(f"<{t}>" for t in targets)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Precedence"] = "list"
    msg.set_content(rendered.text, cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def unsubscribe_mailto(config: Config, sub: Subscriber) -> str | None:
    """The mailto: form of List-Unsubscribe, only when the operator names a mailbox that is
    read (`delivery.unsubscribe_mailto`); otherwise only the one-click https link is offered."""
    address = config.delivery.unsubscribe_mailto
    return f"mailto:{address}?subject=unsubscribe%20{sub.id}" if address else None
