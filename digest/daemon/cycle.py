"""One delivery cycle: compose what is due while the digests already queued go out."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from digest.compose.digests import Composed, compose_due
from digest.config import Config
from digest.deliver.mailer import Mailer
from digest.deliver.outbox import DeliveryReport, deliver_queue

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    """What a cycle composed and what its delivery runs did, summed."""

    composed: list[Composed] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    compose_seconds: float = 0.0  # from the start until compose had queued everything


async def compose_and_deliver(engine: Engine, config: Config, *, force: bool = False,
                              stop: asyncio.Event | None = None,
                              mailer: Mailer | None = None,
                              processes: int | None = None) -> CycleReport:
    """Compose every due digest in a worker thread and, meanwhile, deliver each batch as
    soon as it is queued over the same SMTP sessions: the mail server's time overlaps
    compose instead of following it. Many due subscribers are composed in child processes
    (`processes`, see `compose_due`), so that compose and delivery use every core.
    Delivery stops early (everything stays queued) when the server is down, the send quota
    is used up or `stop` is set; compose always finishes its chunk."""
    stop = stop or asyncio.Event()
    report = CycleReport()
    started = time.perf_counter()

    def compose() -> list[Composed]:
        try:
            return compose_due(engine, config, force=force, should_stop=stop.is_set,
                               processes=processes)
        finally:
            report.compose_seconds = time.perf_counter() - started

    composing = asyncio.ensure_future(asyncio.to_thread(compose))
    try:  # one delivery run, its connections kept open while compose still queues
        report.delivery = await deliver_queue(engine, config, mailer, stop=stop,
                                              more_coming=lambda: not composing.done())
    finally:
        report.composed = await composing  # a thread cannot be cancelled: let it finish
    return report
