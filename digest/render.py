"""Render digests: Jinja2 (autoescaped HTML + text twin), CSS inlined, MIME message built."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

import digest
from digest.text import cut, one_line

MAX_SUBJECT_TITLE = 60


def packaged_templates() -> Path:
    """The templates folder: inside the installed wheel, or the repository's `templates/`."""
    inside = Path(digest.__file__).parent / "templates"
    return inside if inside.is_dir() else Path(digest.__file__).parents[1] / "templates"


def safe_url(value: Any) -> str:
    """Only http(s) URLs may become links; anything else renders as no link."""
    text = str(value or "")
    return text if urlsplit(text).scheme in ("http", "https") and "\n" not in text else ""


@dataclass
class PaperView:
    """One paper as the email shows it."""

    title: str
    url: str
    authors: str
    categories: str
    tldr: str
    why: str = ""
    pdf_url: str = ""
    hf_url: str = ""
    code_url: str = ""
    upvotes: int | None = None


@dataclass
class DigestView:
    """Everything a digest template needs."""

    day: date
    recipient: str
    name: str | None
    papers: list[PaperView]
    trending: list[PaperView] = field(default_factory=list)
    manage_url: str = ""
    unsubscribe_url: str = ""
    interests: str = ""

    @property
    def date_label(self) -> str:
        """'Fri 27 Nov 2026'."""
        return self.day.strftime("%a %d %b %Y")

    @property
    def subject(self) -> str:
        """Date, count and the top paper's title, shortened; one line."""
        if not self.papers:
            return one_line(f"Paper digest · {self.day:%d %b} · nothing new for you today")
        count = f"{len(self.papers)} paper{'s' if len(self.papers) != 1 else ''}"
        top = cut(self.papers[0].title, MAX_SUBJECT_TITLE)
        return one_line(f"Paper digest · {self.day:%d %b} · {count} · {top}", 200)

    @property
    def preheader(self) -> str:
        """The preview line inboxes show after the subject."""
        if not self.papers:
            return "Nothing matched your interests today."
        rest = [p.title for p in self.papers[1:3]]
        return cut("Also: " + " · ".join(rest), 140) if rest else cut(self.papers[0].tldr, 140)


@dataclass(frozen=True)
class Rendered:
    """A rendered digest: subject, HTML and plain-text bodies."""

    subject: str
    html: str
    text: str


class Renderer:
    """Compiles the templates and the CSS once; renders many digests."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        folders = [str(p) for p in (templates_dir, packaged_templates()) if p]
        self.env = Environment(
            loader=FileSystemLoader(folders),
            # select_autoescape leaves *.html.j2 unescaped unless named explicitly
            autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml", "html.j2"),
                                         disabled_extensions=("txt", "txt.j2"),
                                         default_for_string=True, default=True),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False,
        )
        self.env.filters["safe_url"] = safe_url
        self.html_template = self.env.get_template("email/digest.html.j2")
        self.text_template = self.env.get_template("email/digest.txt.j2")
        css_source = self.env.loader.get_source(self.env, "email/digest.css")[0]  # type: ignore[union-attr]
        self.css = Markup(css_source.replace("</", "<\\/"))
        self.inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)

    def render(self, view: DigestView) -> Rendered:
        """Render both parts; CSS inlined into the HTML, the dark-mode block kept."""
        context = {"d": view, "css": self.css}
        html_body = self.inliner.inline(self.html_template.render(context))
        return Rendered(view.subject, html_body, self.text_template.render(context))


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


_RENDERERS: dict[str, Renderer] = {}  # per template folder, so templates compile once


def renderer_for(templates_dir: Path | None) -> Renderer:
    """A shared Renderer for this template folder."""
    key = str(templates_dir or "")
    if key not in _RENDERERS:
        _RENDERERS[key] = Renderer(templates_dir)
    return _RENDERERS[key]
