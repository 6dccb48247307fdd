"""A database outage is logged once, then ever more rarely, and its end once."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from digest.daemon.outage import OutageLog


def test_an_outage_is_said_once_then_after_1_2_4_minutes_and_its_end(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    outage = OutageLog(clock=lambda: now[0])
    error = OperationalError("SELECT 1", {}, Exception("connection refused\nDETAIL: x"))
    caplog.set_level(logging.INFO, logger="digest.daemon.run")
    for _ in range(8 * 60):  # a cycle a second for 8 minutes
        outage.failed("delivery", error)
        now[0] += 1
    outage.succeeded()
    outage.succeeded()  # no outage any more: nothing to say
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5, lines
    assert lines[0].startswith("cannot reach the database (delivery: ") and "DETAIL" not in lines[0]
    assert [line.split(" after ")[1].split(" s ")[0] for line in lines[1:4]] == ["60", "180", "420"]
    assert lines[4] == "the database answers again after 480 s (480 failed jobs)"
