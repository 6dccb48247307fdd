"""Engines and sessions: SQLite (WAL, busy_timeout, foreign keys) or PostgreSQL; migrations."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, create_engine

from digest.errors import StorageError

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x5044_4D47  # "PDMG": held for the length of one migration transaction
# A server that stops answering (a cut network, not a refused connection) is noticed in
# seconds instead of the kernel's two hours: connect timeout and TCP keepalives (libpq's own
# names; a URL query string still overrides them).
PG_CONNECT_ARGS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30,
                   "keepalives_interval": 10, "keepalives_count": 3}
IN_CHUNK = 500  # values per IN (...) list: well under SQLite's and psycopg's parameter limits


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets its folder created and its pragmas on every connection."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    given = make_url(url).query
    connect_args = {k: v for k, v in PG_CONNECT_ARGS.items() if k not in given} \
        if url.startswith("postgresql+psycopg") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to date with Alembic (safe to call on every start; a schema
    already at the newest revision is recognised with one query, without Alembic)."""
    if revision == "head" and _schema_revision(engine) == newest_revision():
        return
    from alembic import command  # imported here: a short CLI call that finds the schema
    from alembic.config import Config as AlembicConfig  # current pays less to start

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # replicas starting together migrate in turn
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise StorageError(f"cannot open the database {engine.url!r}: {exc.orig}",
                           "check the `database` URL and that the server is running") from exc


def newest_revision() -> str:
    """The newest migration's revision id (each file is named after its revision)."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def _schema_revision(engine: Engine) -> str | None:
    """The database's schema revision, or None (no schema yet, or no answer)."""
    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None
    return str(value) if value is not None else None


def insert_on_conflict(bind: Connection | Session, table: Any) -> Any:
    """An INSERT for the connection's dialect that takes ON CONFLICT clauses (PostgreSQL and
    SQLite both have them; SQLAlchemy spells them per dialect)."""
    name = (bind.get_bind() if isinstance(bind, Session) else bind).dialect.name
    return (postgresql if name == "postgresql" else sqlite).insert(table)


def reset_schema(url: str) -> None:
    """Drop and recreate a PostgreSQL database's `public` schema: every table and row in it
    is gone (tests and benchmarks, on scratch databases only)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def open_database(url: str) -> Engine:
    """An engine with an up-to-date schema."""
    engine = make_engine(url)
    migrate(engine)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def delete_in(session: Session, model: Any, column: Any, values: Sequence[Any]) -> None:
    """Delete the rows of `model` whose `column` is among `values`, in chunks of IN_CHUNK."""
    values = list(values)
    for start in range(0, len(values), IN_CHUNK):
        session.execute(delete(model).where(column.in_(values[start:start + IN_CHUNK])))


def rows_in(session: Session, stmt: Any, column: Any, values: Sequence[Any]) -> list[Any]:
    """`stmt` filtered by `column IN values`, run in chunks of IN_CHUNK; all rows together."""
    rows: list[Any] = []
    for start in range(0, len(values), IN_CHUNK):
        rows.extend(session.exec(stmt.where(column.in_(values[start:start + IN_CHUNK]))).all())
    return rows
