"""The embedding step after every poll reads only the recent papers (an index on changed_at),
whatever the size of the table: migrated on SQLite and PostgreSQL, and used by the query."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine

from digest.clock import utcnow
from digest.config import load_config
from digest.rank.stored import embed_recent_papers
from digest.storage.db import make_engine, migrate
from tests.rank.test_minilm import day_config

OLD_PAPERS = 20_000


def test_the_migration_adds_the_index_on_changed_at(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine, "0007")
    assert "ix_papers_changed_at" not in {i["name"] for i in inspect(engine).get_indexes("papers")}
    migrate(engine)
    assert "ix_papers_changed_at" in {i["name"] for i in inspect(engine).get_indexes("papers")}
    engine.dispose()


def fill(engine: Engine) -> None:
    """OLD_PAPERS papers changed long ago, every one with a vector; then the planner's stats."""
    long_ago = utcnow() - timedelta(days=400)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO papers (canonical_id, version, title, abstract, authors, categories, "
            "signals, first_seen_at, changed_at) VALUES (:c, 1, :t, :a, '[]', '[]', '{}', :at, :at)"),
            [{"c": f"old{i}", "t": f"an old paper {i}", "a": "words " * 150,
              "at": long_ago.replace(tzinfo=None) + timedelta(minutes=i)} for i in range(OLD_PAPERS)])
        conn.execute(text("INSERT INTO paper_embeddings (paper_id, model, version, vector) "
                          "SELECT id, 'another model', 1, :v FROM papers"), {"v": b"\0" * 1536})
        conn.execute(text("ANALYZE"))


def plans_of_paper_queries(engine: Engine, run: Any) -> list[str]:
    """The query plan of every statement `run()` sends that reads the papers table."""
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM papers" in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        return ["\n".join(" ".join(str(c) for c in row)
                          for row in conn.exec_driver_sql(explain + statement, parameters))
                for statement, parameters in sent]


def test_a_poll_that_stored_nothing_reads_only_the_recent_papers(tmp_path: Path,
                                                                  db_url: str) -> None:
    config = load_config(day_config(tmp_path, 1, {"database": db_url}))
    engine = make_engine(db_url)
    migrate(engine)
    fill(engine)
    plans = plans_of_paper_queries(engine, lambda: embed_recent_papers(engine, config))
    assert plans  # the one query that asks which recent papers lack a vector
    for plan in plans:
        assert "ix_papers_changed_at" in plan, plan
    engine.dispose()
