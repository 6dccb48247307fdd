"""Alembic environment: runs on the connection digest.storage.db.migrate() passes in."""

from alembic import context
from sqlmodel import SQLModel

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through digest.storage.db.migrate(), which passes a connection")
context.configure(connection=connection, target_metadata=SQLModel.metadata,
                  render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
