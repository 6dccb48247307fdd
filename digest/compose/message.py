"""The MIME message of a digest: multipart/alternative with list headers (RFC 2369, RFC 8058)."""

from __future__ import annotations

import binascii
import random
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8, Policy
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache

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


def build_message_email(rendered: Rendered, env: Envelope) -> bytes:
    """The reference build through `EmailMessage` (about 3 ms a digest): what `build_message`
    must equal once parsed; kept for the tests that compare the two."""
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


@lru_cache(maxsize=4096)
def _folded(policy: Policy, name: str, value: str) -> bytes:
    """One header as the email package writes it (RFC 2047 encoded-words for non-ASCII under
    the ASCII policy, raw UTF-8 under the SMTPUTF8 one); cached for the headers many digests
    of a run share (From, List-Id, and Subject: one per top paper and count)."""
    return _fold(policy, name, value)


def _fold(policy: Policy, name: str, value: str) -> bytes:
    if policy is ASCII_HEADERS and not value.isascii():
        return _encoded_words(name, value)
    header = policy.header_factory(name, value)  # type: ignore[attr-defined]
    return header.fold(policy=policy).replace("\n", "\r\n").replace("\r\r\n", "\r\n") \
        .encode("utf-8" if policy is UTF8_HEADERS else "ascii")


def _encoded_words(name: str, value: str) -> bytes:
    """A non-ASCII Subject, or the display name of an address header, as RFC 2047
    encoded-words of at most 75 characters on folded lines (the address itself stays as it
    is). The email package's own folder writes 76-character words when it folds, and drops
    the space between two words when it splits a subject there; its `Header` class does
    neither."""
    if name == "Subject":
        return f"{name}: {_header_words(name, value)}\r\n".encode("ascii")
    display, address = parseaddr(value)
    return f"{name}: {_header_words(name, display)} <{address}>\r\n".encode("ascii")


def _header_words(name: str, text: str) -> str:
    return Header(text, "utf-8", maxlinelen=76, header_name=name).encode(linesep="\r\n")


_SIMPLE_NAME = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_SIMPLE_ADDRESS = re.compile(r"[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")


def _to(policy: Policy, name: str, local: str, domain: str) -> bytes:
    """The To header: a plain ASCII name (letters, digits, single spaces) and address go out as
    the email package would write them; anything else takes its parsing and folding."""
    address = f"{local}@{domain}"
    if (not name or _SIMPLE_NAME.fullmatch(name)) and _SIMPLE_ADDRESS.fullmatch(address):
        return (f"To: {name} <{address}>\r\n" if name else f"To: {address}\r\n").encode("ascii")
    return _fold(policy, "To", str(Address(name, local, domain)))


def _plain(policy: Policy, name: str, value: str) -> bytes:
    """A header whose value is printable ASCII and short goes out as it is (what the email
    package writes too); anything else takes the email package's folding."""
    line = f"{name}: {value}\r\n"
    if value.isascii() and value.isprintable() and len(line) <= 1000:
        return line.encode("ascii")
    return _fold(policy, name, value)


def qp_body(text: str) -> bytes:
    """UTF-8 quoted-printable (RFC 2045: lines <= 76, soft breaks), CRLF line ends; the same
    line splitting as the email package's content manager."""
    lines = text.encode("utf-8").splitlines()
    encoded = binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).split(b"\n")
    # b2a_qp lets a line ending in encoded whitespace reach 78: soft-break those again
    return b"\r\n".join(_rewrap(line) if len(line) > 76 else line for line in encoded)


def _rewrap(line: bytes) -> bytes:
    """A quoted-printable line cut into soft-broken lines of <= 76, never inside an =XX."""
    out = []
    while len(line) > 76:
        cut = 75
        if line[cut - 1:cut] == b"=":
            cut -= 1
        elif line[cut - 2:cut - 1] == b"=":
            cut -= 2
        out.append(line[:cut] + b"=")
        line = line[cut:]
    return b"\r\n".join([*out, line])


_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
_PART = (b'Content-Type: text/%s; charset="utf-8"\r\n'
         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n")


def _boundary(*bodies: bytes) -> bytes:
    """A boundary like the email package's, absent from the bodies (quoted-printable bodies
    cannot hold a run of '=', so the first one always fits)."""
    while True:
        token = random.randrange(sys.maxsize)
        boundary = f"==============={token:0{_BOUNDARY_DIGITS}d}==".encode("ascii")
        if not any(boundary in body for body in bodies):
            return boundary


def build_message(rendered: Rendered, env: Envelope) -> bytes:
    """A multipart/alternative message with list headers (RFC 2369, RFC 8058), written as
    bytes directly: the headers that carry names or text go through the email package's
    header folding (so encoded-words and SMTPUTF8 are exactly its own), the rest are fixed
    ASCII, and both bodies are quoted-printable, encoded once. Parsed, it equals
    `build_message_email`'s message."""
    policy = header_policy(env.recipient, parseaddr(env.sender)[1])
    local, _, domain = env.recipient.rpartition("@")
    to = _to(policy, one_line(env.recipient_name or "", 100), local, domain)
    targets = [env.unsubscribe_url] + ([env.unsubscribe_mailto] if env.unsubscribe_mailto else [])
    text, html = qp_body(rendered.text), qp_body(rendered.html)
    boundary = _boundary(text, html)
    return b"".join((
        _folded(policy, "From", env.sender), to,
        _folded(policy, "Subject", one_line(rendered.subject, 250)),
        _plain(policy, "Date", format_datetime(env.date)),
        _plain(policy, "Message-ID", env.message_id),
        _folded(policy, "List-Id", env.list_id),
        _plain(policy, "List-Unsubscribe", ", ".join(f"<{t}>" for t in targets)),
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        b"Auto-Submitted: auto-generated\r\nPrecedence: list\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="', boundary, b'"\r\n\r\n',
        b"--", boundary, b"\r\n", _PART % b"plain", text,
        b"\r\n--", boundary, b"\r\n", _PART % b"html", html,
        b"\r\n--", boundary, b"--\r\n",
    ))


def unsubscribe_mailto(config: Config, sub: Subscriber) -> str | None:
    """The mailto: form of List-Unsubscribe, only when the operator names a mailbox that is
    read (`delivery.unsubscribe_mailto`); otherwise only the one-click https link is offered."""
    address = config.delivery.unsubscribe_mailto
    return f"mailto:{address}?subject=unsubscribe%20{sub.id}" if address else None
