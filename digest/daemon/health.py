"""The one `GET /healthz` (container HEALTHCHECK): database, queue, feeds, and the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from digest.storage.feeds import failing_feed_count
from digest.storage.outbox import queue_counts

if TYPE_CHECKING:
    from digest.config import Config
    from digest.daemon.run import Daemon

log = logging.getLogger(__name__)
Endpoint = Callable[[Request], Awaitable[Response]]


def _counts(engine: Engine) -> tuple[dict[str, int], int]:
    """Outbox rows per status and the number of failing feeds (raises when the database fails)."""
    with Session(engine) as session:
        return queue_counts(session), failing_feed_count(session)


def _scheduler_state(running: Callable[[], bool] | None) -> str:
    """'none' without a scheduler (`digest serve`), else 'running' or 'stopped'."""
    if running is None:
        return "none"
    return "running" if running() else "stopped"


def health_endpoint(engine: Engine, scheduler_running: Callable[[], bool] | None = None,
                    role: Callable[[], str] = lambda: "web") -> Endpoint:
    """The /healthz handler: 200 while the database answers and, under the daemon, it schedules.

    `scheduler_running` is None for `digest serve` (no scheduler: "scheduler": "none").
    """

    async def healthz(request: Request) -> Response:
        try:  # off the event loop: the scheduler and the web pages share it
            queue, failing = await asyncio.to_thread(_counts, engine)
        except Exception as exc:  # any database failure makes the container unhealthy
            log.warning("health check: the database does not answer: %s", exc)
            return JSONResponse({"status": "error", "error": exc.__class__.__name__},
                                status_code=503)  # no hosts, users or SQL on a public page
        scheduler = _scheduler_state(scheduler_running)
        ok = scheduler != "stopped"
        return JSONResponse({"status": "ok" if ok else "starting", "scheduler": scheduler,
                             "role": role(), "queue": queue, "failing_feeds": failing},
                            status_code=200 if ok else 503)

    return healthz


def build_app(daemon: Daemon) -> Starlette:
    """The daemon's HTTP app: the web pages when enabled, and /healthz with the scheduler's state."""
    health = health_endpoint(daemon.engine, lambda: daemon.scheduler is not None
                             and bool(daemon.scheduler.running), lambda: daemon.role)
    if daemon.config.web.enabled:
        from digest.web.app import build_web_app
        return build_web_app(daemon.config, daemon.engine, health)
    return Starlette(routes=[Route("/healthz", health)])


def serve_app(config: Config, engine: Engine) -> Starlette:
    """The app `digest serve` runs: the web pages, and /healthz without a scheduler."""
    from digest.web.app import build_web_app

    return build_web_app(config, engine, health_endpoint(engine))


class _DaemonServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM/SIGINT/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the daemon's signal handlers in place."""
        yield


def quiet_server(app: Starlette, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for `app` that leaves signals to the daemon."""
    return _DaemonServer(uvicorn.Config(app, host=host, port=port, log_level="warning", proxy_headers=False,
                                        lifespan="off"))
