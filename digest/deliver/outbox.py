"""Deliver the outbox: claim queued digests, send, mark sent only after acceptance."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session

from digest.clock import utcnow
from digest.config import Config
from digest.deliver.mailer import Mailer, connection_count, make_mailer
from digest.deliver.smtp import Pacer
from digest.errors import DeliveryError
from digest.storage.counters import Limit, take, wait_for
from digest.storage.db import session_scope
from digest.storage.lock import DaemonLock
from digest.storage.models import DIGEST_KINDS, Outbox, OutboxStatus, Subscriber, SubscriberStatus
from digest.storage.outbox import (
    claim_outbox,
    claim_row,
    mark_sent,
    reassert_claim,
    requeue_sending,
)
from digest.text import one_line

log = logging.getLogger(__name__)
QUEUE_WAIT = 0.5  # seconds between looks at an empty queue while compose still queues
BATCH = 25  # rows claimed at a time: small enough that replicas share a morning's queue
MAX_QUOTA_WAIT = 60.0  # a send quota slot further away than this ends the run (rest stays queued)


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    sent: int = 0
    retry: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    server_down: bool = False
    quota_full: bool = False  # the send quota stopped the run; the rest waits, uncounted
    connections: int = 0      # SMTP sessions this run opened side by side


# The connections a server accepted lately, per server: a 421 lowers it, a run without one
# raises it by one again, up to delivery.smtp.connections.
_pool_size: dict[str, int] = {}


@dataclass
class _Run:
    """What the connections of one delivery run share."""

    engine: Engine
    config: Config
    report: DeliveryReport
    writer: OutcomeWriter
    stop: asyncio.Event | None
    now: datetime | None
    batch: int
    live: int = 0
    refused: int = 0  # connections closed by a 421
    failed: bool = False
    claiming: asyncio.Lock = field(default_factory=asyncio.Lock)
    more_coming: Callable[[], bool] = lambda: False  # compose is still queueing messages

    def stopping(self) -> bool:
        """Stop claiming and sending (the server is down, the quota is used up, SIGTERM)."""
        return (self.report.server_down or self.report.quota_full or self.failed
                or (self.stop is not None and self.stop.is_set()))

    @property
    def quotas(self) -> list[Limit]:
        """This SMTP account's send quotas as counter limits."""
        return quota_limits(self.config)

    async def quota_ok(self) -> bool:
        """Take a slot of every send quota, waiting for a window that ends soon; False (and
        the run stops, the rest stays queued) when the next slot is more than
        MAX_QUOTA_WAIT seconds away."""
        limits = self.quotas
        while limits and not self.stopping():
            wait = await asyncio.to_thread(take, self.engine, limits)
            if wait <= 0:
                return True
            if wait > MAX_QUOTA_WAIT:
                if not self.report.quota_full:
                    log.info("the send quota of %s is used up for %.0f s; the rest stays queued",
                             self.config.delivery.smtp.server, wait)
                self.report.quota_full = True
                return False
            await _sleep_unless(self.stop, wait)
        return not limits


def quota_limits(config: Config) -> list[Limit]:
    """The SMTP account's send quotas as counter limits (none for other transports)."""
    if config.delivery.transport != "smtp":
        return []
    smtp = config.delivery.smtp
    return [Limit(f"smtp:{smtp.server}:{q.per}", q.limit, q.seconds) for q in smtp.quotas]


async def _sleep_unless(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def deliver_queue(engine: Engine, config: Config, mailer: Mailer | None = None,
                        now: datetime | None = None,
                        stop: asyncio.Event | None = None,
                        more_coming: Callable[[], bool] | None = None) -> DeliveryReport:
    """Send every due queued message over delivery.smtp.connections connections side by
    side (one when `mailer` is given); each message fails alone, a dead server stops the run,
    a 421 (too many connections) closes that connection and the others go on. While
    `more_coming()` holds, an empty queue is looked at again every QUEUE_WAIT seconds over the
    same connections (compose is still queueing), instead of ending the run.

    Each connection commits a message's outcome on a writer thread while its next one is on
    the wire; at most one outcome per connection is ever uncommitted, so a crash can repeat at
    most two messages per connection.
    """
    report = DeliveryReport()
    writer = OutcomeWriter(engine, config, report, lambda: stop is not None and stop.is_set())
    server = config.delivery.smtp.server
    wanted = 1 if mailer is not None else connection_count(config)
    count = min(wanted, _pool_size.get(server, wanted))
    run = _Run(engine, config, report, writer, stop, now, batch=max(5, BATCH // count))
    if more_coming is not None:
        run.more_coming = more_coming
    if run.quotas and await asyncio.to_thread(wait_for, engine, run.quotas) > MAX_QUOTA_WAIT:
        report.quota_full = True  # nothing is claimed while the quota is used up
        writer.close()
        return report
    pacer = Pacer(config.delivery.smtp.max_per_second)
    mailers = [mailer] if mailer is not None else [make_mailer(config, pacer)
                                                    for _ in range(count)]
    run.live = report.connections = len(mailers)
    try:
        results = await asyncio.gather(*(_connection(run, m) for m in mailers),
                                       return_exceptions=True)
    finally:  # every outcome is saved, whatever happened
        writer.close()
    if run.refused and not report.sent:
        report.server_down = True  # no connection got through: the server is busy for us
    if mailer is None and config.delivery.transport == "smtp":
        _pool_size[server] = max(1, count - run.refused) if run.refused \
            else min(wanted, count + 1)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return report


async def _connection(run: _Run, mailer: Mailer) -> None:
    """One connection: claim small batches and send them until the queue is empty."""
    pending: deque[asyncio.Future[None]] = deque()
    try:
        async with mailer as active:
            while not run.stopping():
                coming = run.more_coming()  # asked first: what was queued before, is claimed
                async with run.claiming:  # one claim at a time (SQLite has no SKIP LOCKED)
                    batch = await asyncio.to_thread(_claim, run)
                if not batch and coming:
                    await _sleep_unless(run.stop, QUEUE_WAIT)
                    continue
                if not batch or not await _send_batch(run, active, batch, pending):
                    break
    except BaseException:
        run.failed = True  # the other connections stop at their next message
        raise
    finally:
        await _drain(pending)
        run.live -= 1


def _claim(run: _Run) -> list[Outbox]:
    """Claim the next small batch (in a worker thread: the other connections keep sending)."""
    with session_scope(run.engine) as session:
        return claim_outbox(session, run.now or utcnow(), run.batch,
                            run.config.delivery.claim_timeout_seconds)


async def _send_batch(run: _Run, mailer: Mailer, batch: list[Outbox],
                      pending: deque[asyncio.Future[None]]) -> bool:
    """Send one claimed batch; False when this connection must stop (the rest is handed back)."""
    for index, row in enumerate(batch):
        if run.stopping() or not await run.quota_ok():
            await _drain(pending)
            _release(run.engine, batch[index:])
            return False
        if not _still_ours(run.engine, run.config, row):
            log.warning("%s for %s was taken over by another deliverer", row.kind, row.recipient)
            continue
        error = await _send_one(run.config, mailer, row)
        pending.append(asyncio.wrap_future(run.writer.put(row, error)))
        while len(pending) > 1:
            await pending.popleft()
        if error is not None and error.busy and run.live > 1:
            run.refused += 1
            log.warning("%s; %d connection(s) go on", error, run.live - 1)
            await _drain(pending)
            _release(run.engine, batch[index + 1:])
            return False
        run.report.server_down = run.report.server_down or bool(error and error.down)
    return True


def _still_ours(engine: Engine, config: Config, row: Outbox) -> bool:
    """A claim older than half the claim timeout is renewed before sending, so no other
    deliverer can take over a row while it is on the wire (fencing by claim time)."""
    now = utcnow()
    age = (now - row.claimed_at).total_seconds() if row.claimed_at else 0.0
    if age < config.delivery.claim_timeout_seconds / 2:
        return True
    return reassert_claim(engine, row, now)


async def _drain(pending: deque[asyncio.Future[None]]) -> None:
    while pending:
        await pending.popleft()


async def _send_one(config: Config, mailer: Mailer, row: Outbox) -> DeliveryError | None:
    """Hand one message to the mailer; the error (if any) is returned, not raised."""
    try:
        if row.message is None:
            raise DeliveryError("the queued message body is missing", "compose it again",
                                temporary=False)
        await mailer.send(config.delivery.from_address, row.recipient, row.message)
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # a message the transport cannot handle fails alone
        log.exception("could not send the %s to %s", row.kind, row.recipient)
        return DeliveryError(f"could not send: {exc!r}", "see the log for the traceback",
                             temporary=False)
    return None


class OutcomeWriter:
    """Commits delivery outcomes on its own thread; successes waiting together share a commit."""

    def __init__(self, engine: Engine, config: Config, report: DeliveryReport,
                 stopping: Callable[[], bool] = lambda: False) -> None:
        self.engine, self.config, self.report = engine, config, report
        self.stopping = stopping
        self._queue: queue.SimpleQueue[tuple[Outbox, DeliveryError | None, Future[None]] | None] \
            = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
        self._thread.start()

    def put(self, row: Outbox, error: DeliveryError | None) -> Future[None]:
        """Queue one outcome; the future resolves once it is committed."""
        done: Future[None] = Future()
        self._queue.put((row, error, done))
        return done

    def close(self) -> None:
        """Commit what is queued and stop the thread."""
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get())
            stop = None in items
            batch = [i for i in items if i is not None]
            try:
                self._commit(batch)
                for _, _, done in batch:
                    done.set_result(None)
            except Exception as exc:  # surfaced to the sending loop, which stops
                for _, _, done in batch:
                    done.set_exception(exc)
            if stop:
                return

    def _commit(self, batch: list[tuple[Outbox, DeliveryError | None, Future[None]]]) -> None:
        sent = [row for row, error, _ in batch if error is None]
        if sent:
            now = utcnow()
            try:
                until_reachable(lambda: mark_sent(self.engine, sent, now), self.stopping)
                self.report.sent += len(sent)
            except (OperationalError, InterfaceError):
                raise
            except Exception:  # one row the database refuses: record the others one by one
                for row in sent:
                    self.report.sent += self._alone(
                        row, functools.partial(mark_sent, self.engine, [row], now))
        for row, error, _ in batch:
            if error is not None:
                self._alone(row, functools.partial(self._record_one, row, error))

    def _alone(self, row: Outbox, step: Callable[[], object]) -> bool:
        """Record one row's outcome; an error other than the database being away fails that
        row alone (it stays claimed, and is retried after the claim times out), logged."""
        try:
            until_reachable(step, self.stopping)
            return True
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            log.exception("could not record the outcome of outbox row %s; the others go on",
                          row.id)
            return False

    def _record_one(self, row: Outbox, error: DeliveryError) -> None:
        with session_scope(self.engine) as session:
            _record(session, self.config, row, error, self.report)


def until_reachable(step: Callable[[], object], stopping: Callable[[], bool]) -> None:
    """Run one database step, retrying through connection failures with backoff: a database
    blip must not lose the record of a message the server accepted (it would go out again).
    Gives up only when the process is stopping."""
    wait = 0.5
    while True:
        try:
            step()
            return
        except (OperationalError, InterfaceError) as exc:
            if stopping():
                raise
            log.warning("database unreachable (%s); recording the outcome again in %.1f s",
                        str(exc).strip().splitlines()[0][:200], wait)
            time.sleep(wait)
            wait = min(wait * 2, 5.0)


def _record(session: Session, config: Config, row: Outbox, error: DeliveryError,
            report: DeliveryReport) -> None:
    """Save a failed attempt: retry later, or fail (and pause after repeated failures)."""
    now = utcnow()
    stored = session.get(Outbox, row.id)
    subscriber = session.get(Subscriber, row.subscriber_id)
    if stored is None or subscriber is None or stored.status != OutboxStatus.SENDING:
        return  # cancelled (unsubscribed) or taken over meanwhile: leave it as it is now
    if error.down and not error.on_wire:  # not this message's fault: next run, not counted
        stored.status, stored.claimed_at = OutboxStatus.QUEUED, None
        stored.last_error = one_line(str(error), 500)
        report.retry += 1
    elif error.temporary and stored.attempts + 1 < config.delivery.max_attempts:
        stored.status, stored.attempts = OutboxStatus.QUEUED, stored.attempts + 1
        delay = config.delivery.retry_minutes * 2 ** min(stored.attempts - 1, 6)
        stored.next_attempt_at = now + timedelta(minutes=delay)
        stored.last_error = one_line(str(error), 500)
        report.retry += 1
    else:
        stored.status, stored.last_error = OutboxStatus.FAILED, one_line(str(error), 500)
        report.failed += 1
        if row.kind in DIGEST_KINDS:  # a refused notice (a mistyped address) pauses nobody
            subscriber.failure_streak += 1
            if subscriber.failure_streak >= config.delivery.pause_after_failures:
                subscriber.status = SubscriberStatus.PAUSED
                log.warning("paused %s after %d failed deliveries", subscriber.email,
                            subscriber.failure_streak)
            session.add(subscriber)
    report.errors.append(f"{row.recipient}: {error}")
    session.add(stored)


async def deliver_row(engine: Engine, config: Config, row_id: int) -> DeliveryReport:
    """Send one queued row now (a web notice, right after the request that queued it), under
    the same claim and outcome rules as the delivery loop; when it cannot go out now it stays
    queued and the loop retries it."""
    report = DeliveryReport()
    limits = quota_limits(config)
    if limits and await asyncio.to_thread(take, engine, limits) > 0:
        report.quota_full = True  # the send quota holds for notices too: the loop sends it
        return report
    row = await asyncio.to_thread(claim_row, engine, row_id, utcnow())
    if row is None:
        return report  # a deliverer has it already, or it was cancelled
    writer = OutcomeWriter(engine, config, report)
    try:
        async with make_mailer(config) as mailer:
            error = await _send_one(config, mailer, row)
        await asyncio.wrap_future(writer.put(row, error))
    finally:
        writer.close()
    return report


def _release(engine: Engine, rows: list[Outbox]) -> None:
    """Put claimed-but-untried rows back in the queue (the server went away, or a stop)."""
    requeue_sending(engine, [r.id for r in rows])


def requeue_in_flight(engine: Engine) -> int:
    """Rows left 'sending' by a process that died; only safe while holding the daemon lock."""
    return requeue_sending(engine)


def requeue_if_unowned(engine: Engine) -> int:
    """Requeue what a dead daemon left in flight, when no live daemon holds the lock (a
    command run after a crash); rows a running daemon is sending are left alone. SQLite only:
    on PostgreSQL replicas without the lease deliver too, and stale claims are taken over
    after claim_timeout_seconds instead."""
    if engine.dialect.name != "sqlite":
        return 0
    lock = DaemonLock(engine)
    if not lock.try_acquire():
        return 0
    try:
        return requeue_in_flight(engine)
    finally:
        lock.release()
