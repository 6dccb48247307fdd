"""Storage: the only place that speaks SQL.

    db.py          engines, sessions, migrations (SQLite WAL / PostgreSQL)
    models.py      the tables and their statuses
    migrations/    Alembic revisions, applied on start
    papers.py      upsert parsed papers; paper, corpus and embedding queries
    subscribers.py config subscribers synced in; lookups and lists
    outbox.py      composed digests: save, claim, mark sent, requeue, cancel, count
    feeds.py       each source's polling state
    settings.py    generated state (the signing key)
    lock.py        one daemon per database (file lock; PostgreSQL advisory lock)
"""
