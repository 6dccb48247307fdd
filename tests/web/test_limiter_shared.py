"""The web rate limiter is kept in the database: replicas share it, it slides, it expires."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.storage.counters import Limit, hashed, sweep, take
from digest.storage.models import Counter
from tests.web.conftest import Site


def post(site: Site, email: str) -> int:
    data = {"csrf_token": site.csrf(), "email": email, "topics": "gaussian splatting",
            "timezone": "UTC", "send_at": "07:30", "cadence": "daily", "action": "subscribe"}
    return int(site.client.post("/", data=data).status_code)


def test_two_app_instances_on_one_database_share_the_per_ip_limit(make_site: Any) -> None:
    first: Site = make_site(rate_limit_per_ip=3)
    second: Site = make_site(rate_limit_per_ip=3)  # another replica: its own app and engine
    assert first.engine is not second.engine
    answers = [post(site, f"r{i}@example.org")
               for i, site in enumerate([first, second, first, second, first])]
    assert answers == [200, 200, 200, 429, 429]
    with Session(first.engine) as s:
        keys = [c.key for c in s.exec(select(Counter)).all()]
    assert keys and not any("testclient" in k or "@example.org" in k for k in keys)


def test_the_previous_window_still_counts_and_old_windows_are_deleted(engine: Engine) -> None:
    limit = Limit(hashed("web:ip", "198.51.100.7"), 10, 3600)
    late = 1_800_000_000 // 3600 * 3600 + 3240  # the last tenth of an hour
    assert [take(engine, [limit], late, sliding=True) for _ in range(11)].count(0.0) == 10
    # 6 minutes into the next hour, 9 of those 10 still count: one more hit
    soon = late + 360 + 360
    assert [take(engine, [limit], soon, sliding=True) for _ in range(3)].count(0.0) == 1
    # late in the next hour the old window counts 1 (of 10), with the 1 hit of this one
    later = late + 360 + 3420
    assert [take(engine, [limit], later, sliding=True) for _ in range(10)].count(0.0) == 8
    with Session(engine) as s:
        assert len(s.exec(select(Counter)).all()) == 2
    assert sweep(engine, later + 3600) == 1  # the first hour no longer counts for anything
    assert sweep(engine, later + 2 * 3600) == 1
    with Session(engine) as s:
        assert s.exec(select(Counter)).all() == []
