"""Alembic environment: runs on the connection digest.db.migrate() passes in."""

from alembic import context
from sqlmodel import SQLModel

import digest.models  # noqa: F401  (registers the tables)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through digest.db.migrate(), which passes a connection")
context.configure(connection=connection, target_metadata=SQLModel.metadata,
                  render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
