"""The file transport writes each digest as a page a browser can open, and a styled index."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path

from digest.deliver.files import FileMailer, write_index


def message(subject: str, html: str | None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "d@lab.example", "ada@example.org", subject
    msg["Date"] = "Fri, 12 Jun 2026 07:30:00 +0000"
    msg.set_content("plain text twin")
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return bytes(msg)


async def test_each_digest_is_a_standalone_page_and_the_index_links_it(tmp_path: Path) -> None:
    async with FileMailer(tmp_path) as mailer:
        await mailer.send("d@lab.example", "ada@example.org",
                          message("Digest 1 · <b>bold</b>", "<!DOCTYPE html><p>First é</p>"))
        await mailer.send("d@lab.example", "ada@example.org",
                          message("Digest 2", "<!DOCTYPE html><p>Second</p>"))
        await mailer.send("d@lab.example", "bob@example.org", message("Confirm", None))
    pages = sorted(tmp_path.glob("*.html"))
    pages.remove(tmp_path / "index.html")
    assert [p.read_text(encoding="utf-8") for p in pages] == [
        "<!DOCTYPE html><p>First é</p>\n", "<!DOCTYPE html><p>Second</p>\n"]
    assert len(list(tmp_path.glob("*.eml"))) == 3 and not list(tmp_path.glob("*.tmp"))
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    subjects = re.findall(r'class="subject" href="([^"]+)">([^<]+)<', index)
    assert [s for _, s in subjects] == ["Confirm", "Digest 2", "Digest 1 · &lt;b&gt;bold&lt;/b&gt;"]
    assert subjects[1][0] == pages[1].name and subjects[0][0].endswith(".eml")
    assert "<style>" in index and "prefers-color-scheme: dark" in index
    assert "3 messages, newest first." in index


def test_an_empty_outbox_says_so(tmp_path: Path) -> None:
    assert "No messages yet." in write_index(tmp_path).read_text()
