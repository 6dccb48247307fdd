"""The file transport (the embedded default): each message an .eml file, plus an index page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

from digest.text import escape_text


class FileMailer:
    """Writes each message as an .eml file under `outbox_dir`, plus an index.html listing them."""

    def __init__(self, outbox_dir: Path) -> None:
        self.dir = outbox_dir

    async def __aenter__(self) -> FileMailer:
        self.dir.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        write_index(self.dir)

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Write `<time>-<recipient>.eml` atomically."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{re.sub(r'[^A-Za-z0-9@._-]', '_', recipient)[:80]}.eml"
        tmp = self.dir / (name + ".tmp")
        tmp.write_bytes(message)
        tmp.replace(self.dir / name)


def write_index(folder: Path) -> Path:
    """index.html listing the .eml files, newest first, with their recipients and subjects."""
    rows = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:500]:
        msg = message_from_bytes(path.read_bytes())
        subject = str(make_header(decode_header(msg.get("Subject", ""))))
        rows.append(f"<tr><td>{escape_text(msg.get('Date', ''))}</td>"
                    f"<td>{escape_text(msg.get('To', ''))}</td>"
                    f"<td><a href=\"{escape_text(path.name)}\">{escape_text(subject)}</a></td></tr>")
    page = ("<!DOCTYPE html><meta charset=utf-8><title>paper-digest outbox</title>"
            "<h1>paper-digest outbox</h1><p>Open a .eml file with your mail program.</p>"
            "<table><tr><th>Date</th><th>To</th><th>Subject</th></tr>" + "".join(rows) + "</table>")
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
