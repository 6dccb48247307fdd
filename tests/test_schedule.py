"""Due times in each subscriber's zone: DST-correct, cadence-aware."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from digest.compose.schedule import due_date, local_send_time, next_send_time
from digest.storage.models import Subscriber

BERLIN = ZoneInfo("Europe/Berlin")


def sub(**kw: object) -> Subscriber:
    base = {"email": "a@example.org", "timezone": "Europe/Berlin", "send_at": "07:30"}
    return Subscriber(**{**base, **kw})  # type: ignore[arg-type]


def test_0730_berlin_is_0730_local_across_the_spring_change() -> None:
    before = local_send_time(date(2026, 3, 28), time(7, 30), BERLIN)  # CET, UTC+1
    after = local_send_time(date(2026, 3, 29), time(7, 30), BERLIN)   # CEST, UTC+2
    assert before.astimezone(UTC).hour == 6 and after.astimezone(UTC).hour == 5
    assert before.hour == after.hour == 7 and before.minute == after.minute == 30


def test_0730_berlin_is_0730_local_across_the_autumn_change() -> None:
    before = local_send_time(date(2026, 10, 24), time(7, 30), BERLIN)
    after = local_send_time(date(2026, 10, 25), time(7, 30), BERLIN)
    assert (before.astimezone(UTC).hour, after.astimezone(UTC).hour) == (5, 6)


def test_a_send_time_inside_the_spring_gap_moves_forward() -> None:
    when = local_send_time(date(2026, 3, 29), time(2, 30), BERLIN)
    assert when.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_due_only_after_the_local_send_time() -> None:
    s = sub()
    assert due_date(s, datetime(2026, 3, 29, 5, 29, tzinfo=UTC)) is None
    assert due_date(s, datetime(2026, 3, 29, 5, 30, tzinfo=UTC)) == date(2026, 3, 29)


def test_time_zones_decide_the_local_date() -> None:
    tokyo = sub(timezone="Asia/Tokyo", send_at="07:00")
    assert due_date(tokyo, datetime(2026, 6, 1, 23, 0, tzinfo=UTC)) == date(2026, 6, 2)


def test_weekday_and_weekly_cadences() -> None:
    saturday = datetime(2026, 6, 6, 12, 0, tzinfo=UTC)
    assert due_date(sub(cadence="weekdays"), saturday) is None
    assert due_date(sub(cadence="weekly", weekly_day="sat"), saturday) == date(2026, 6, 6)
    assert due_date(sub(cadence="weekly", weekly_day="mon"), saturday) is None


def test_next_send_time_skips_a_day_already_sent() -> None:
    now = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    assert next_send_time(sub(), now).date() == date(2026, 6, 1)
    assert next_send_time(sub(last_digest_date=date(2026, 6, 1)), now).date() == date(2026, 6, 2)
