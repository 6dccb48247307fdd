"""The file transport (the embedded default): each message an .eml file and a standalone .html
page, plus an index page linking the pages, newest first."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from digest.text import escape_text

MAX_INDEXED = 500

INDEX_STYLE = """
:root { color-scheme: light dark; }
body { margin: 0; background: #f4f4f5; color: #18181b;
       font: 15px/1.5 -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 760px; margin: 0 auto; padding: 24px 16px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
p.lead { color: #71717a; margin: 0 0 16px; }
ol { list-style: none; margin: 0; padding: 0; }
li { background: #fff; border-radius: 8px; padding: 12px 16px; margin: 0 0 8px; }
a.subject { color: #1d4ed8; font-weight: 600; text-decoration: none; overflow-wrap: anywhere; }
.meta { font-size: 13px; color: #71717a; }
.meta a { color: inherit; }
@media (prefers-color-scheme: dark) {
  body { background: #09090b; color: #f4f4f5; }
  li { background: #18181b; }
  a.subject { color: #93c5fd; }
  p.lead, .meta { color: #a1a1aa; }
}
"""


class FileMailer:
    """Writes each message as an .eml file and an .html page under `outbox_dir`, plus index.html."""

    def __init__(self, outbox_dir: Path) -> None:
        self.dir = outbox_dir
        self.written = False

    async def __aenter__(self) -> FileMailer:
        self.dir.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.written:  # the index reads every file: only when this run added one
            await asyncio.to_thread(write_index, self.dir)

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Write `<time>-<recipient>.eml`, and `.html` when the message has an HTML part."""
        self.written = True
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        stem = f"{stamp}-{re.sub(r'[^A-Za-z0-9@._-]', '_', recipient)[:80]}"
        page = html_part(message)
        if page is not None:
            write_atomically(self.dir / f"{stem}.html", page.encode("utf-8"))
        write_atomically(self.dir / f"{stem}.eml", message)


def write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def parse(message: bytes) -> EmailMessage:
    """The message, parsed with the modern policy (decoded headers)."""
    parsed = message_from_bytes(message, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def html_part(message: bytes) -> str | None:
    """The HTML body of a message (a whole page for digests), or None."""
    body = parse(message).get_body(("html",))
    return str(body.get_content()) if body is not None else None


@dataclass
class Entry:
    """One delivered message as the index lists it."""

    eml: str
    page: str | None
    date: str
    to: str
    subject: str


def entries(folder: Path) -> list[Entry]:
    """The folder's messages, newest first."""
    out = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:MAX_INDEXED]:
        msg = parse(path.read_bytes())
        page = path.with_suffix(".html")
        out.append(Entry(path.name, page.name if page.exists() else None, str(msg["Date"] or ""),
                         str(msg["To"] or ""), str(msg["Subject"] or "(no subject)")))
    return out


def index_row(entry: Entry) -> str:
    """One <li>: the subject linking the page (else the .eml), then date, recipient, .eml."""
    target = escape_text(entry.page or entry.eml)
    return (f'<li><a class="subject" href="{target}">{escape_text(entry.subject)}</a>'
            f'<div class="meta">{escape_text(entry.date)} · to {escape_text(entry.to)} · '
            f'<a href="{escape_text(entry.eml)}">.eml</a></div></li>')


def write_index(folder: Path) -> Path:
    """index.html listing the messages, newest first, each linking its readable page."""
    rows = [index_row(e) for e in entries(folder)]
    lead = f"{len(rows)} message{'s' if len(rows) != 1 else ''}, newest first." if rows \
        else "No messages yet."
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>paper-digest outbox</title><style>{INDEX_STYLE}</style></head><body><main>"
            f"<h1>paper-digest outbox</h1><p class=\"lead\">{lead} Open a digest to read it; "
            "the .eml file is the message as sent.</p>"
            f"<ol>{''.join(rows)}</ol></main></body></html>")
    index = folder / "index.html"
    write_atomically(index, page.encode("utf-8"))
    return index
