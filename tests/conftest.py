"""Shared fixtures: captured data, databases (SQLite file and PostgreSQL), loopback servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from digest.storage.db import make_engine, migrate, reset_schema
from tests.feedserver import FeedServer

DATA = Path(__file__).parent / "data"
POSTGRES_URL = os.environ.get("DIGEST_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def read_data(name: str) -> bytes:
    """Bytes of a captured feed under tests/data."""
    return (DATA / name).read_bytes()


@pytest.fixture
def data() -> Path:
    """Folder of the real captured feeds."""
    return DATA


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: a SQLite file, and PostgreSQL when DIGEST_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'digest.storage.db'}"
    assert POSTGRES_URL
    reset_schema(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on the fresh database."""
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A real HTTP server on 127.0.0.1 serving scripted feed replies."""
    server = FeedServer().start()
    yield server
    server.stop()
