"""The daemon's log says what the daemon does; the scheduler's own narration only at -v."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from digest.daemon.logs import NOISY, setup_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in NOISY}
    yield
    root.handlers[:], root.level = handlers, level
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_scheduler_chatter_is_hidden_but_its_warnings_are_not(
        capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging()
    logging.getLogger("apscheduler.scheduler").info("Added job \"Daemon.poll_all\"")
    logging.getLogger("apscheduler.executors.default").info("Running job")
    logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
    logging.getLogger("digest.daemon.run").info("daemon started: 7 source(s)")
    err = capsys.readouterr().err
    assert "Added job" not in err and "Running job" not in err
    assert "was missed" in err and "daemon started" in err


def test_verbose_shows_everything(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(level=logging.DEBUG)
    logging.getLogger("apscheduler.scheduler").info("Scheduler started")
    assert "Scheduler started" in capsys.readouterr().err
