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
QUEUE_WAIT = 0.5  # seconds between looks at the queue while compose has saved nothing new


@dataclass
class CycleReport:
    """What a cycle composed and what its delivery runs did, summed."""

    composed: list[Composed] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    compose_seconds: float = 0.0  # from the start until compose had queued everything


def _add(total: DeliveryReport, run: DeliveryReport) -> None:
    total.sent += run.sent
    total.retry += run.retry
    total.failed += run.failed
    total.errors += run.errors
    total.server_down |= run.server_down
    total.quota_full |= run.quota_full
    total.connections = max(total.connections, run.connections)


async def compose_and_deliver(engine: Engine, config: Config, *, force: bool = False,
                              stop: asyncio.Event | None = None,
                              mailer: Mailer | None = None) -> CycleReport:
    """Compose every due digest in a worker thread and, meanwhile, deliver each batch as
    soon as it is queued: the mail server's time overlaps compose instead of following it.
    Delivery stops early (everything stays queued) when the server is down, the send quota
    is used up or `stop` is set; compose always finishes its chunk."""
    stop = stop or asyncio.Event()
    report = CycleReport()
    started = time.perf_counter()

    def compose() -> list[Composed]:
        try:
            return compose_due(engine, config, force=force, should_stop=stop.is_set)
        finally:
            report.compose_seconds = time.perf_counter() - started

    composing = asyncio.ensure_future(asyncio.to_thread(compose))
    try:
        while not composing.done() and not _halted(report.delivery, stop):
            run = await deliver_queue(engine, config, mailer, stop=stop)
            _add(report.delivery, run)
            if not run.sent:  # nothing queued yet: wait for compose to save a batch
                await asyncio.wait({composing}, timeout=QUEUE_WAIT)
    finally:
        report.composed = await composing  # a thread cannot be cancelled: let it finish
    if not _halted(report.delivery, stop):
        _add(report.delivery, await deliver_queue(engine, config, mailer, stop=stop))
    return report


def _halted(delivery: DeliveryReport, stop: asyncio.Event) -> bool:
    return delivery.server_down or delivery.quota_full or stop.is_set()
