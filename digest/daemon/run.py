"""`digest run`: the scheduler daemon. The database, not the scheduler, is the source of truth."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.clock import utcnow
from digest.config import Config, check_environment, load_config
from digest.daemon.cycle import compose_and_deliver
from digest.daemon.outage import DATABASE_ERRORS, OutageLog
from digest.deliver.outbox import requeue_in_flight
from digest.errors import ConfigError
from digest.ingest.poll import poll_sources
from digest.storage.db import open_database
from digest.storage.feeds import feeds_by_name
from digest.storage.lock import DaemonLock

log = logging.getLogger("digest.daemon.run")
POLL_CHECK_SECONDS = 30.0  # how often the daemon asks which feeds are due (feeds.next_check_at)
FIRST_POLL_WAIT_SECONDS = 300.0  # at start, nothing is composed until each source was polled, or this


@dataclass
class Daemon:
    """Polls on schedule, composes and delivers due digests, reloads on SIGHUP."""

    config_path: Path
    once: bool = False
    force: bool = False
    config: Config = field(init=False)
    engine: Engine = field(init=False)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    scheduler: AsyncIOScheduler | None = None
    _busy: asyncio.Lock = field(default_factory=asyncio.Lock)
    _http_task: asyncio.Task[None] | None = None
    _http_app: Any = None  # the Starlette app, so a reload reaches the web pages
    _first_poll_done: bool = False
    _started: float = field(default_factory=time.monotonic)
    _wait_told: bool = False
    _leading: bool = False
    lock: DaemonLock = field(init=False)
    outage: OutageLog = field(default_factory=OutageLog)

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT (or one cycle with `once`); returns the exit code."""
        self.config = load_config(self.config_path)
        self.engine = open_database(self.config.database)
        self.lock = lock = DaemonLock(self.engine)
        if self.once or not self.replicated:
            lock.acquire()  # SQLite: a second daemon refuses to start
            # SQLite: we hold the only lock, so rows left sending died with a previous run
            requeued = 0 if self.replicated else requeue_in_flight(self.engine)
            if requeued:
                log.warning("requeued %d digest(s) left in flight by a previous run", requeued)
        # PostgreSQL replicas all serve, compose and deliver (claims keep them apart; a dead
        # replica's claims are taken over after delivery.claim_timeout_seconds); the lease
        # only decides who polls.
        try:
            if self.once:
                await self.poll_all(force=self.force)
                reached = await self.deliver_cycle(force=self.force)
                if self.config.delivery.transport == "file":
                    log.info("digests are in %s", self.config.delivery.outbox_dir)
                return 0 if reached else 1
            return await self._serve()
        finally:
            lock.release()

    @property
    def replicated(self) -> bool:
        """Several replicas may share this database (PostgreSQL)."""
        return self.engine.dialect.name == "postgresql"

    @property
    def role(self) -> str:
        """'leader' (polls the feeds), 'replica' (composes and delivers), or 'single'."""
        if not self.replicated or self.once:
            return "single"
        return "leader" if self._leading else "replica"

    def confirm_lease(self) -> bool:
        """Before each singleton job: confirm (or take) the lease; False means do not act."""
        if not self.replicated or self.once:
            return True
        was, self._leading = self._leading, False
        try:  # an unreachable database raises, for the outage log
            self._leading = self.lock.still_leading() or self.lock.try_leader(quiet=True)
        finally:
            if self._leading != was:
                log.info("leading: this replica polls the feeds" if self._leading else
                         "not leading: another replica polls; this one composes and delivers")
        return self._leading

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._reload)

    async def _serve(self) -> int:
        self._install_signals()
        self.scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
        self._schedule_jobs()
        self.scheduler.start()
        server = await self._start_http()
        log.info("daemon started: %d source(s), delivery every %ss", len(self.config.sources),
                 self.config.daemon.delivery_every_seconds)
        await self.stop.wait()
        self.scheduler.pause()  # no new jobs; the one in flight is not cancelled
        try:  # let it finish its current message, commit, and hand the rest of its claim back
            async with asyncio.timeout(self.config.daemon.shutdown_grace_seconds):
                async with self._busy:
                    pass
        except TimeoutError:
            log.warning("shutdown grace period over; exiting with work in flight")
        self.scheduler.shutdown(wait=False)
        if server is not None:
            server.should_exit = True
            if self._http_task is not None:
                await asyncio.wait([self._http_task], timeout=5)
        log.info("daemon stopped")
        return 0

    def _schedule_jobs(self) -> None:
        assert self.scheduler is not None
        self.scheduler.remove_all_jobs()
        self.scheduler.add_job(self._guarded, IntervalTrigger(seconds=POLL_CHECK_SECONDS),
                               args=["polling", self.poll_all], id="poll",
                               next_run_time=utcnow())
        self.scheduler.add_job(self._guarded, IntervalTrigger(
            seconds=self.config.daemon.delivery_every_seconds),
            args=["delivery", self.deliver_cycle], id="deliver",
            next_run_time=utcnow())  # at start: catch up on digests missed while down

    async def _guarded(self, name: str, job: Callable[[], Awaitable[object]]) -> None:
        """Run a scheduled job; a database outage is logged by `outage` (once, then ever more
        rarely), not as a traceback every cycle. Other errors reach the scheduler's log."""
        try:
            await job()
        except DATABASE_ERRORS as exc:
            self.outage.failed(name, exc)
            return
        self.outage.succeeded()

    def _request_stop(self, sig: signal.Signals) -> None:
        log.info("received %s; finishing the message in flight", sig.name)
        self.stop.set()

    def _reload(self) -> None:
        try:
            new = load_config(self.config_path)
            check_environment(new)  # e.g. the SMTP password's variable: as at start
        except ConfigError as exc:
            log.error("config reload refused, keeping the running config:\n%s", exc)
            return
        if new.database != self.config.database:
            log.error("config reload refused: the database cannot change while running")
            return
        if self._http_app is not None and new.web.enabled != self.config.web.enabled:
            log.warning("web.enabled changes at the next restart; the rest is reloaded")
        self.config = new
        self._schedule_jobs()
        web = getattr(getattr(self._http_app, "state", None), "web", None)
        if web is not None:  # the web pages serve the new settings and templates too
            web.reload(new)
        log.info("config reloaded: %d source(s), %d subscriber(s) in the file",
                 len(new.sources), len(new.subscribers))

    async def poll_all(self, force: bool = False) -> None:
        """Poll the due sources (every source with `force`); results go to the log."""
        if self.stop.is_set():
            return
        try:
            if not await asyncio.to_thread(self.confirm_lease):
                return
            for report in await poll_sources(self.config, self.engine, force=force,
                                             should_stop=self.stop.is_set):
                level = logging.WARNING if report.error else logging.INFO
                log.log(level, "polled %s: status %s, %d parsed, %d new, %d updated%s",
                        report.source, report.status, report.parsed, report.new, report.updated,
                        f", error: {report.error}" if report.error else "")
        finally:
            if not self._first_poll_done and self.scheduler is not None \
                    and self.scheduler.get_job("deliver") is not None:  # it waits for a first poll
                self.scheduler.modify_job("deliver", next_run_time=utcnow())

    async def deliver_cycle(self, force: bool = False) -> bool:
        """Compose what is due (in a worker thread) while delivering what is queued; False
        when the mail server could not be reached (everything stays queued)."""
        if self.stop.is_set():
            return True
        if not self._first_poll_done:
            self._first_poll_done = await asyncio.to_thread(self._sources_polled)
            if not self._first_poll_done:
                return True
        async with self._busy:
            cycle = await compose_and_deliver(self.engine, self.config, force=force,
                                              stop=self.stop)
            for c in cycle.composed:
                log.log(logging.WARNING if c.error else logging.INFO,
                        "composed %s for %s (%s, %d papers)%s", c.digest_date, c.email, c.status,
                        c.papers, f": {c.error}" if c.error else "")
            report = cycle.delivery
            if report.sent or report.retry or report.failed:
                log.info("delivered %d, to retry %d, failed %d", report.sent, report.retry,
                         report.failed)
            for error in report.errors[:10]:
                log.warning("delivery: %s", error)
            return not report.server_down

    def _sources_polled(self) -> bool:
        """At start, before composing anything: is no source due any more (each has had its poll,
        here or on the replica that polls)? Else a digest due now would be composed without the
        papers on their way. True in any case after FIRST_POLL_WAIT_SECONDS, and with --once."""
        if self.once or time.monotonic() - self._started >= FIRST_POLL_WAIT_SECONDS:
            return True
        now = utcnow()
        with Session(self.engine) as session:
            feeds = feeds_by_name(session)

        def polled(name: str) -> bool:
            check = feeds[name].next_check_at if name in feeds else None
            return check is not None and check > now

        waiting = [s.name for s in self.config.sources if s.enabled and not polled(s.name)]
        if waiting and not self._wait_told:
            self._wait_told = True
            log.info("first delivery waits for the first poll of %s", ", ".join(waiting))
        return not waiting

    async def _start_http(self) -> Any:
        """Serve /healthz (and the web app, when configured) with uvicorn."""
        port = self.config.daemon.http_port
        if port is None:
            return None
        from digest.daemon.health import build_app, quiet_server
        self._http_app = build_app(self)
        server = quiet_server(self._http_app, self.config.daemon.http_host, port)
        self._http_task = asyncio.get_running_loop().create_task(server.serve())
        for _ in range(100):  # listening before we say we started
            if server.started or self._http_task.done():
                break
            await asyncio.sleep(0.05)
        return server
