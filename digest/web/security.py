"""Web security: CSRF (double-submit cookie), security headers, rate limits, client address."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from digest.storage.counters import Limit, hashed, take

CSRF_COOKIE = "digest_csrf"
CSRF_FIELD = "csrf_token"
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",     # our URLs carry tokens: never sent to other sites
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders(BaseHTTPMiddleware):
    """Adds CSP, nosniff, frame and referrer policies; pages with tokens are not cached."""

    async def dispatch(self, request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Decorate every response."""
        response = await call_next(request)
        response.headers.update(HEADERS)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response


def csrf_token(request: Request) -> str:
    """The CSRF value for this browser: the cookie's, or a new one (set by `with_csrf`)."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    if len(existing) == 43:
        return existing
    token: str = request.state.__dict__.setdefault("new_csrf", secrets.token_urlsafe(32))
    return token


def with_csrf(request: Request, response: Response, secure: bool) -> Response:
    """Set the CSRF cookie when this request minted a new value."""
    new = request.state.__dict__.get("new_csrf")
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict", secure=secure,
                            max_age=7 * 24 * 3600)
    return response


def csrf_ok(request: Request, submitted: str | None) -> bool:
    """The form's hidden value must equal the cookie's (an attacker's page can set neither)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and bool(submitted) and secrets.compare_digest(cookie, str(submitted))


class RateLimiter:
    """Per (bucket, key) limits kept in the database, so every replica counts the same hits;
    keys are stored hashed (no addresses or IPs), windows slide and old ones are deleted."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def allow(self, bucket: str, key: str, limit: int, window_seconds: float) -> bool:
        """Record a hit; False when `limit` hits already happened within the window."""
        hit = Limit(hashed(f"web:{bucket}", key), limit, max(1, int(window_seconds)))
        return take(self.engine, [hit], sliding=True) == 0.0


def client_ip(request: Request, trust_proxy: bool, hops: int = 1) -> str:
    """The client's address. Behind `hops` trusted proxies, the X-Forwarded-For entry the
    outermost trusted proxy added (counted from the right): entries left of it are whatever
    the client chose to send."""
    forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",")
                 if a.strip()]
    if trust_proxy and forwarded:
        return forwarded[-min(hops, len(forwarded))]
    return request.client.host if request.client else "unknown"


def same_origin(request: Request, own_origins: set[str]) -> bool:
    """False when the browser says the form was posted from another site (Origin, else
    Referer); True when it says nothing (non-browser clients, RFC 8058 one-click), in which
    case the CSRF token alone decides."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":  # "null": a privacy setting hid it; the token decides
        return True
    parts = urlsplit(claimed)
    host = request.headers.get("host", "")
    return f"{parts.scheme}://{parts.netloc}" in own_origins or parts.netloc == host
