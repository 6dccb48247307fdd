"""Storage: the only place that speaks SQL.

    db.py          engines, sessions, migrations (SQLite WAL / PostgreSQL)
    models.py      the tables and their statuses
    migrations/    Alembic revisions, applied on start
"""
