"""Render digests: Jinja2 (autoescaped HTML + text twin), CSS inlined, templates compiled once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

import digest
from digest.compose.views import DigestView
from digest.text import http_url


def packaged_templates() -> Path:
    """The templates folder: inside the installed wheel, or the repository's `templates/`."""
    inside = Path(digest.__file__).parent / "templates"
    return inside if inside.is_dir() else Path(digest.__file__).parents[1] / "templates"


def safe_url(value: Any) -> str:
    """Only http(s) URLs may become links; anything else renders as no link."""
    return http_url(value) or ""


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


_RENDERERS: dict[str, Renderer] = {}  # per template folder, so templates compile once


def renderer_for(templates_dir: Path | None) -> Renderer:
    """A shared Renderer for this template folder."""
    key = str(templates_dir or "")
    if key not in _RENDERERS:
        _RENDERERS[key] = Renderer(templates_dir)
    return _RENDERERS[key]
