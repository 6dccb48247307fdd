"""The direct MIME builder against the EmailMessage one: parsed, the two messages are equal,
for plain, non-ASCII, SMTPUTF8, long and awkward inputs; and the raw bytes stay RFC-correct."""

from __future__ import annotations

import base64
import quopri
import re
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

from digest.compose.message import Envelope, build_message, build_message_email
from digest.compose.render import Rendered

LONG = "Gaussian splatting " * 40
HTML = ("<html><body><p>Caf\u00e9 = 1 &amp; 360\u00b0</p>\n" + "x" * 300 + " \n.\nFrom here\n"
        "<td style=\"padding: 0\">\t</td>\r\n\U0001d53d_q\u207f \u2014 \u25b2 212 \u2605 1.2k\n")
TEXT = "Hello J\u00f6rg,\n\n1. A title\n   why: has your keyword \u201cLLM\u201d \n.\n" + LONG + "\n"

CASES = [
    ("ada@example.org", "Ada Lovelace", "Paper digest \u00b7 12 Jun \u00b7 5 papers \u00b7 LLMs", None),
    ("ada@example.org", None, "Plain subject", "mailto:unsub@example.org?subject=unsubscribe%201"),
    ("jorg@example.org", "J\u00f6rg, \"the\" M\u00fcller", "S\u00fcbject \u00e9 " + LONG[:200], None),
    ("j\u00f6rg@m\u00fcnchen.example", "J\u00f6rg M\u00fcller", "Subj\u00e9ct", None),
    ("x@xn--mnchen-3ya.example", "O'Brien (lab) <admin>", "=?utf-8?q?not-encoded?= test", None),
    ("a.b+tag@example.org", "\u674e\u534e", "\u8bba\u6587\u6458\u8981 " * 20, None),
    ("ada@example.org", "Ada", "", None),
    ("a.b+tag_x@mail.example-lab.org", "Ada Lovelace 2", "Ada", None),
    ("reader7@bench.example", None, "Paper digest \u00b7 12 Jun \u00b7 10 papers", None),
    ("ada@example.org", "Ada  Lovelace ", "x", None),
    ("ada@example.org", "Ada.Lovelace", "x", None),
    ("\"odd local\"@example.org", "Ada", "x", None),
]


def envelope(recipient: str, name: str | None, mailto: str | None,
             date: datetime = datetime(2026, 6, 12, 5, 0, tzinfo=UTC)) -> Envelope:
    return Envelope("Paper Digest <digest@lab.example>", recipient, name,
                    "<1781.digest@lab.example>", date, "Paper Digest <digest.lab.example>",
                    "https://digest.lab.example/unsubscribe/eyJ0b2tlbiI6MX0.abc_-", mailto)


def parsed(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def comparable(msg: EmailMessage) -> tuple[object, ...]:
    headers = [(k, str(v)) for k, v in msg.items()
               if k.lower() not in ("content-type", "mime-version")]
    parts = [(p.get_content_type(), p.get_content_charset(), p["Content-Transfer-Encoding"],
              p.get_content()) for p in msg.iter_parts()]
    return msg.get_content_type(), headers, parts


@pytest.mark.parametrize(("recipient", "name", "subject", "mailto"), CASES)
def test_fast_builder_equals_email_message(recipient: str, name: str | None, subject: str,
                                           mailto: str | None) -> None:
    rendered = Rendered(subject, HTML, TEXT)
    env = envelope(recipient, name, mailto)
    fast, reference = build_message(rendered, env), build_message_email(rendered, env)
    assert comparable(parsed(fast)) == comparable(parsed(reference))
    head = fast.split(b"\r\n\r\n", 1)[0]
    if subject.isascii() and (name or "").isascii():  # else folded into shorter encoded-words
        assert head.split(b"\r\n")[:len(reference.split(b"\r\n\r\n", 1)[0].split(b"\r\n")) - 2] \
            == reference.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[:-2]  # same header lines
    words = re.findall(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=", head)
    for charset, kind, encoded in words:  # each word alone: a strict reader decodes them so
        assert len(b"=?%s?%s?%s?=" % (charset, kind, encoded)) <= 75  # RFC 2047's limit
        raw = base64.b64decode(encoded) if kind in b"bB" else \
            quopri.decodestring(encoded.replace(b"_", b" "), header=True)
        raw.decode(charset.decode())  # never a character split between two words
    if recipient.isascii():
        assert head.isascii()  # no bare 8-bit header bytes without SMTPUTF8
    for line in fast.split(b"\r\n"):
        assert len(line) <= 998
    assert b"\n" not in fast.replace(b"\r\n", b"")  # CRLF only


def test_fast_builder_bodies_are_rfc2045_quoted_printable() -> None:
    raw = build_message(Rendered("s", HTML, TEXT), envelope("ada@example.org", "Ada", None))
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    assert body.isascii()


def test_fast_builder_raw_headers() -> None:
    raw = build_message(Rendered("Caf\u00e9", HTML, TEXT),
                        envelope("ada@example.org", "J\u00f6rg", "mailto:u@lab.example"))
    assert (b"List-Unsubscribe: <https://digest.lab.example/unsubscribe/eyJ0b2tlbiI6MX0.abc_->, "
            b"<mailto:u@lab.example>\r\n") in raw
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert re.search(rb"\r\nTo: =\?utf-8\?[bq]\?[^\r\n]+\?= <ada@example.org>\r\n", raw)
    assert raw.isascii()
    utf8 = build_message(Rendered("Caf\u00e9", HTML, TEXT),
                         envelope("j\u00f6rg@example.org", "J\u00f6rg", None))
    assert "To: J\u00f6rg <j\u00f6rg@example.org>\r\n".encode() in utf8
    assert "Subject: Caf\u00e9\r\n".encode() in utf8


def test_fast_builder_dates_and_boundaries_differ_per_message() -> None:
    tz = timezone(timedelta(hours=-5))
    env = envelope("ada@example.org", "Ada", None, datetime(2026, 1, 2, 3, 4, 5, tzinfo=tz))
    one, two = (build_message(Rendered("s", HTML, TEXT), env) for _ in range(2))
    assert b"Date: Fri, 02 Jan 2026 03:04:05 -0500\r\n" in one
    assert comparable(parsed(one)) == comparable(parsed(build_message_email(
        Rendered("s", HTML, TEXT), env)))
    assert one != two  # a fresh boundary each time
