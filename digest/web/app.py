"""The subscription web app: subscribe (double opt-in), confirm, manage, unsubscribe (RFC 8058)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from digest.clock import utcnow
from digest.compose.render import packaged_templates
from digest.config import Config
from digest.web import actions, votes
from digest.web.common import Web, web_env
from digest.web.library import import_upload
from digest.web.security import HEADERS, SecurityHeaders

log = logging.getLogger(__name__)


def build_web_app(config: Config, engine: Engine,
                  health: Callable[[Request], Awaitable[Response]],
                  clock: Callable[[], datetime] = utcnow) -> Starlette:
    """The Starlette app; `health` (digest.daemon.health.health_endpoint) answers /healthz."""
    web = Web(config, engine, web_env(config.delivery.templates_dir), clock=clock)
    routes: list[BaseRoute] = [
        Route("/healthz", health),
        Route("/", partial(actions.subscribe_page, web), methods=["GET"]),
        Route("/", partial(actions.subscribe_post, web), methods=["POST"]),
        Route("/confirm/{token}", partial(actions.confirm, web), methods=["GET", "POST"]),
        Route("/manage/{token}", partial(actions.manage, web), methods=["GET", "POST"]),
        Route("/manage/{token}/library", partial(import_upload, web), methods=["POST"]),
        Route("/manage/{token}/votes", partial(votes.manage_votes, web), methods=["POST"]),
        Route("/vote/{token}", partial(votes.vote, web), methods=["GET", "POST"]),
        Route("/unsubscribe/{token}", partial(actions.unsubscribe, web),
              methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=str(packaged_templates() / "web" / "static")),
              name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={500: server_error})
    app.state.web = web  # the daemon's SIGHUP reload hands it the new config
    return app


async def server_error(request: Request, exc: Exception) -> Response:
    """A plain 500 page that keeps every security header (the middleware never sees it)."""
    route = "/" + request.url.path.strip("/").split("/")[0]  # never the token that follows
    log.error("error serving %s %s", request.method, route, exc_info=exc)
    page = ("<!DOCTYPE html><meta charset=utf-8><title>Something went wrong</title>"
            "<h1>Something went wrong</h1><p>Please try again later.</p>")
    return HTMLResponse(page, status_code=500, headers={**HEADERS, "Cache-Control": "no-store"})
