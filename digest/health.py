"""The daemon's HTTP health endpoint (`GET /healthz`), for the container HEALTHCHECK."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy import func, text
from sqlmodel import Session, col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from digest.models import Feed, Outbox

if TYPE_CHECKING:
    from digest.daemon import Daemon


def build_app(daemon: Daemon) -> Starlette:
    """A tiny Starlette app: 200 with queue and feed counts while the database answers."""

    async def healthz(request: Request) -> JSONResponse:
        try:
            with Session(daemon.engine) as session:
                session.execute(text("SELECT 1"))
                queue = dict(session.exec(select(Outbox.status, func.count())
                                          .group_by(col(Outbox.status))).all())
                failing = session.exec(select(func.count()).select_from(Feed)
                                       .where(col(Feed.error_count) > 0)).one()
        except Exception as exc:  # any database failure makes the container unhealthy
            return JSONResponse({"status": "error", "error": str(exc)[:200]}, status_code=503)
        running = daemon.scheduler is not None and daemon.scheduler.running
        return JSONResponse({"status": "ok" if running else "starting", "queue": queue,
                             "failing_feeds": failing}, status_code=200 if running else 503)

    route = Route("/healthz", healthz)
    if daemon.config.web.enabled:
        from digest.web.app import build_web_app
        return build_web_app(daemon.config, daemon.engine, extra_routes=[route])
    return Starlette(routes=[route])


class _DaemonServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGINT/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the daemon's signal handlers in place."""
        yield


def quiet_server(app: Starlette, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for `app` that leaves signals to the daemon."""
    return _DaemonServer(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                        lifespan="off"))
