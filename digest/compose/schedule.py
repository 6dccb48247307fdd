"""When each subscriber's digest is due: local send time, cadence, DST-correct."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.storage.models import Subscriber
from digest.storage.subscribers import SendSchedule

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def local_send_time(day: date, send_at: time, zone: ZoneInfo) -> datetime:
    """The aware datetime of `send_at` on `day` in `zone` (a skipped DST time moves forward)."""
    naive = datetime.combine(day, send_at)
    aware = naive.replace(tzinfo=zone)
    round_trip = aware.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if round_trip.replace(tzinfo=None) != naive:  # in a spring-forward gap
        aware = (naive + timedelta(hours=1)).replace(tzinfo=zone)
    return aware


def sends_on(subscriber: Subscriber | SendSchedule, day: date) -> bool:
    """Whether the subscriber's cadence includes this local date."""
    if subscriber.cadence == "weekdays":
        return day.weekday() < 5
    if subscriber.cadence == "weekly":
        return WEEKDAYS[day.weekday()] == subscriber.weekly_day
    return True


def parse_send_at(value: str) -> time:
    """'07:30' -> time(7, 30)."""
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def due_date(subscriber: Subscriber | SendSchedule, now: datetime) -> date | None:
    """The local date whose digest is due at `now` (send time passed, cadence allows), or None."""
    zone = ZoneInfo(subscriber.timezone)
    today = now.astimezone(zone).date()
    if not sends_on(subscriber, today):
        return None
    when = local_send_time(today, parse_send_at(subscriber.send_at), zone)
    return today if now >= when else None


def next_send_time(subscriber: Subscriber, now: datetime) -> datetime:
    """The next local send time strictly after `now`, in the subscriber's zone."""
    zone = ZoneInfo(subscriber.timezone)
    day = now.astimezone(zone).date()
    for offset in range(0, 8):
        candidate = day + timedelta(days=offset)
        when = local_send_time(candidate, parse_send_at(subscriber.send_at), zone)
        done = subscriber.last_digest_date is not None and candidate <= subscriber.last_digest_date
        if when > now and sends_on(subscriber, candidate) and not done:
            return when
    return local_send_time(day + timedelta(days=1), parse_send_at(subscriber.send_at), zone)
