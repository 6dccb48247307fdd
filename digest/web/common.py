"""Shared pieces of the web app: the Web context, form reading, CSRF and rate checks."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from digest.clock import utcnow
from digest.compose.render import packaged_templates, safe_url
from digest.config import Config
from digest.storage.db import session_scope
from digest.storage.models import Subscriber
from digest.tokens import Purpose, TokenError, read_token, secret_key
from digest.web.forms import CATEGORIES, ZONES
from digest.web.security import (
    CSRF_FIELD,
    RateLimiter,
    client_ip,
    csrf_ok,
    csrf_token,
    same_origin,
    with_csrf,
)

MAX_BODY = 64_000


@dataclass
class Web:
    """What every handler needs: config, database, templates, limiter, clock."""

    config: Config
    engine: Engine
    env: Environment
    clock: Callable[[], datetime] = utcnow
    _key: str | None = None
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.engine)

    def reload(self, config: Config) -> None:
        """Serve a reloaded config: its settings, and templates from its folder."""
        self.env = web_env(config.delivery.templates_dir)
        self.config = config

    @property
    def base(self) -> str:
        """The public base URL, without a trailing slash."""
        return str(self.config.delivery.base_url).rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies when served over https."""
        return self.base.startswith("https://")

    def key(self) -> str:
        """The signing key (read once; it does not change while the app runs)."""
        if self._key is None:
            with session_scope(self.engine) as session:
                self._key = secret_key(session, self.config.delivery.secret_key_env)
        return self._key

    def page(self, request: Request, name: str, status: int = 200, **ctx: Any) -> Response:
        """Render a page with the CSRF value and set its cookie when new."""
        html = self.env.get_template(f"web/{name}.html.j2").render(
            title=self.config.web.title, csrf=csrf_token(request), csrf_field=CSRF_FIELD,
            categories=CATEGORIES, zones=ZONES, **ctx)
        return with_csrf(request, HTMLResponse(html, status_code=status), self.secure_cookies)

    def subscriber(self, token: str, purpose: Purpose,
                   max_age: float | None = None) -> tuple[Subscriber | None, str]:
        """The subscriber a link token names, or an explanation of why it is not valid."""
        try:
            sid, nonce = read_token(self.key(), purpose, token,
                                    int(max_age) if max_age is not None else None)
        except TokenError as exc:
            return None, str(exc)
        return self.holder(sid, nonce)

    def holder(self, subscriber_id: int, nonce: str) -> tuple[Subscriber | None, str]:
        """The subscriber a valid token names, if its nonce is still theirs (links are
        revoked by a new nonce), else why not."""
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(Subscriber, subscriber_id)
        if row is None or not secrets.compare_digest(row.token_nonce, nonce):
            return None, "this link has already been used or was revoked; use your latest email"
        return row, ""


async def read_form(request: Request) -> Any | None:
    """The posted form, or None when it is too large or not a form."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return None
    try:
        return await request.form(max_files=0, max_fields=200)
    except Exception:  # malformed bodies are answered with 400, never a 500
        return None


def web_env(templates_dir: Path | None = None) -> Environment:
    """Jinja2 for pages: `templates_dir` first, then the packaged templates; autoescaped, strict."""
    folders = [str(p) for p in (templates_dir, packaged_templates()) if p]
    env = Environment(loader=FileSystemLoader(folders),
                      autoescape=select_autoescape(enabled_extensions=("html", "html.j2"),
                                                   default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["safe_url"] = safe_url
    return env


def confirm_age(web: Web) -> float:
    """Seconds a confirmation link stays valid."""
    return web.config.web.confirm_max_age_hours * 3600


def resend_due(row: Subscriber, web: Web) -> bool:
    """Whether another confirmation/manage email may go to this address now."""
    period = timedelta(minutes=web.config.web.confirm_resend_minutes)
    return row.confirm_sent_at is None or web.clock() - row.confirm_sent_at >= period


def plain(message: str, status: int = 200) -> Response:
    """A plain-text answer (used for RFC 8058 one-click)."""
    return PlainTextResponse(message, status_code=status)


def csrf_failed(web: Web, request: Request) -> Response:
    """The page shown when a form's CSRF value does not match."""
    return web.page(request, "message", 403, heading="This form has expired",
                    message="Please reload the page and try again.")


def check_csrf(web: Web, request: Request, form: Any) -> Response | None:
    """None when the form's CSRF value is right, else the 403 page."""
    own = {f"{(u := urlsplit(web.base)).scheme}://{u.netloc}"}
    if not same_origin(request, own):
        return csrf_failed(web, request)
    return None if csrf_ok(request, form.get(CSRF_FIELD)) else csrf_failed(web, request)


async def limited(web: Web, request: Request) -> Response | None:
    """None when this client may post again, else the 429 page (the shared counter is a
    database write: off the event loop, which the daemon's SMTP sessions share)."""
    ip = client_ip(request, web.config.web.trust_proxy_headers, web.config.web.trusted_proxy_hops)
    if await asyncio.to_thread(web.limiter.allow, "ip", ip, web.config.web.rate_limit_per_ip,
                               3600):
        return None
    return web.page(request, "message", 429, heading="Too many requests",
                    message="Please wait a while before trying again.")
