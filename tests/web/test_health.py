"""One /healthz, from digest/daemon/health.py, in the `digest serve` app and in the daemon's app."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.applications import Starlette

from digest.daemon.health import build_app
from digest.daemon.run import Daemon
from tests.web.conftest import Site

KEYS = {"status", "scheduler", "role", "queue", "failing_feeds"}


def paths(app: Any) -> list[str]:
    return [getattr(r, "path", "") for r in app.routes]


def daemon_for(site: Site) -> Daemon:
    """A daemon on the site's config and database, not started."""
    daemon = Daemon(site.config.path)
    daemon.config, daemon.engine = site.config, site.engine
    return daemon


async def get_health(app: Starlette, daemon: Daemon, start: bool) -> httpx.Response:
    """GET /healthz on the daemon's app, with its scheduler started or not."""
    if start:
        daemon.scheduler = AsyncIOScheduler(timezone="UTC")
        daemon.scheduler.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://127.0.0.1") as client:
            return await client.get("/healthz")
    finally:
        if daemon.scheduler is not None:
            daemon.scheduler.shutdown(wait=False)


def test_serve_answers_healthz_from_the_database_without_a_scheduler(site: Site) -> None:
    answer = site.client.get("/healthz")
    assert answer.status_code == 200 and set(answer.json()) == KEYS
    assert answer.json() == {"status": "ok", "scheduler": "none", "role": "web", "queue": {},
                             "failing_feeds": 0}
    assert paths(site.client.app).count("/healthz") == 1


def test_daemon_app_reports_its_scheduler_with_or_without_the_web_pages(make_site: Any) -> None:
    for web in (True, False):
        site: Site = make_site(enabled=web)
        daemon = daemon_for(site)
        app = build_app(daemon)
        assert paths(app).count("/healthz") == 1 and ("/manage/{token}" in paths(app)) is web
        stopped = asyncio.run(get_health(app, daemon, start=False))
        assert stopped.status_code == 503 and set(stopped.json()) == KEYS
        assert (stopped.json()["status"], stopped.json()["scheduler"]) == ("starting", "stopped")
        running = asyncio.run(get_health(app, daemon, start=True))
        assert running.status_code == 200 and set(running.json()) == KEYS
        assert (running.json()["status"], running.json()["scheduler"]) == ("ok", "running")
        expected = "replica" if site.engine.dialect.name == "postgresql" else "single"
        assert running.json()["role"] == expected  # a PostgreSQL replica leads once it polls
