"""Replicas starting together: syncing the config's subscribers at the same moment."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.config import SubscriberConfig
from digest.storage.db import session_scope
from digest.storage.models import Subscriber
from digest.storage.subscribers import sync_subscribers

CONFIGURED = [SubscriberConfig(email=f"r{i}@example.org", topics=["graph neural networks"])
              for i in range(3)]


def wait_for_a_lock_wait(engine: Engine, seconds: float = 10.0) -> bool:
    """Whether another session starts waiting on a row lock within `seconds` (read on a
    connection of its own)."""
    deadline = time.monotonic() + seconds
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(text("SELECT count(*) FROM pg_stat_activity "
                                 "WHERE wait_event_type = 'Lock'")).scalar():
                return True
            conn.rollback()
            time.sleep(0.05)
    return False


def test_two_replicas_syncing_new_config_subscribers_at_once_both_succeed(engine: Engine) -> None:
    errors: list[BaseException] = []

    def second_replica() -> None:
        try:
            with session_scope(engine) as session:  # waits for the first one's insert to settle
                sync_subscribers(session, CONFIGURED)
        except BaseException as exc:
            errors.append(exc)

    with session_scope(engine) as session:
        sync_subscribers(session, CONFIGURED)  # inserted, not committed yet
        other = threading.Thread(target=second_replica)
        other.start()
        if engine.dialect.name == "postgresql":  # hold until its insert really waits on ours
            assert wait_for_a_lock_wait(engine), "the second sync never waited on the first"
        else:
            time.sleep(0.5)  # SQLite: one writer at a time; the other waits on busy_timeout
    other.join(30)
    assert errors == []
    with Session(engine) as s:
        assert sorted(r.email for r in s.exec(select(Subscriber)).all()) == \
            [f"r{i}@example.org" for i in range(3)]
