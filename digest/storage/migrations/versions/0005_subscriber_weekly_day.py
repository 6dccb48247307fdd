"""Subscribers: the weekly send day gets its own column (it was interests["weekly_day"]).

Revision ID: 0005
Revises: 0004
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# JSON is read and written through SQLAlchemy, so the copy is the same on SQLite and PostgreSQL
subscribers = sa.table("subscribers", sa.column("id", sa.Integer()),
                       sa.column("interests", sa.JSON()), sa.column("weekly_day", sa.String()))


def _rows() -> list[Any]:
    return list(op.get_bind().execute(sa.select(subscribers.c.id, subscribers.c.interests,
                                                subscribers.c.weekly_day)).all())


def _update(sid: int, **values: Any) -> None:
    op.get_bind().execute(subscribers.update().where(subscribers.c.id == sid).values(**values))


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weekly_day", sa.String(length=3), nullable=False,
                                      server_default="mon"))
    for sid, interests, _ in _rows():
        if isinstance(interests, dict) and "weekly_day" in interests:
            day = interests.pop("weekly_day")
            _update(sid, interests=interests, weekly_day=day if day in WEEKDAYS else "mon")


def downgrade() -> None:
    for sid, interests, day in _rows():
        _update(sid, interests={**(interests or {}), "weekly_day": day})
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("weekly_day")
