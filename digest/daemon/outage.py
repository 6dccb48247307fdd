"""A database outage in the daemon's log: said once, repeated ever more rarely, and its end."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger("digest.daemon.run")
DATABASE_ERRORS = (OperationalError, InterfaceError)  # the database is unreachable, not wrong
FIRST_REMINDER = 60.0   # seconds after the first failure that it is said again
LAST_REMINDER = 600.0   # at most this far apart afterwards


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class OutageLog:
    """Scheduled jobs report here whether the database answered. The first failure is logged
    with its reason; while it lasts, a reminder after 1, 2, 4 … minutes (at most every 10);
    the first job that gets through logs how long it was. No traceback per failed cycle."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.since: float | None = None
        self.failures = 0
        self._gap = FIRST_REMINDER
        self._next = 0.0

    def failed(self, job: str, exc: BaseException) -> None:
        """A job could not reach the database."""
        now = self.clock()
        self.failures += 1
        if self.since is None:
            self.since, self._gap, self._next = now, FIRST_REMINDER, now + FIRST_REMINDER
            log.warning("cannot reach the database (%s: %s); every job retries on its schedule",
                        job, _first_line(exc))
        elif now >= self._next:
            log.warning("the database is still unreachable after %.0f s (%d failed jobs): %s",
                        now - self.since, self.failures, _first_line(exc))
            self._gap = min(self._gap * 2, LAST_REMINDER)
            self._next = now + self._gap

    def succeeded(self) -> None:
        """A job got through: the outage, if any, is over."""
        if self.since is None:
            return
        log.info("the database answers again after %.0f s (%d failed jobs)",
                 self.clock() - self.since, self.failures)
        self.since, self.failures = None, 0
