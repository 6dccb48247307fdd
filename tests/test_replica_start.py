"""Replicas starting together: syncing the config's subscribers at the same moment."""

from __future__ import annotations

import threading
import time

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.config import SubscriberConfig
from digest.storage.db import session_scope
from digest.storage.models import Subscriber
from digest.storage.subscribers import sync_subscribers

CONFIGURED = [SubscriberConfig(email=f"r{i}@example.org", topics=["graph neural networks"])
              for i in range(3)]


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
        time.sleep(0.5)  # the other replica's insert now waits on ours
    other.join(30)
    assert errors == []
    with Session(engine) as s:
        assert sorted(r.email for r in s.exec(select(Subscriber)).all()) == \
            [f"r{i}@example.org" for i in range(3)]
