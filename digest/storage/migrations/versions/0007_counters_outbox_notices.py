"""Counters (send quotas, web rate limits shared by replicas); web notices in the outbox: the
one-row-per-subscriber-and-date rule now holds for digests only.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DIGESTS_ONLY = sa.text("kind IN ('digest', 'empty')")


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window"),
    )
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_counters_expires"), ["expires"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("uq_outbox_subscriber_date", type_="unique")
        batch_op.create_index("uq_outbox_digest_subscriber_date", ["subscriber_id", "digest_date"],
                              unique=True, sqlite_where=DIGESTS_ONLY, postgresql_where=DIGESTS_ONLY)


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE kind NOT IN ('digest', 'empty')")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("uq_outbox_digest_subscriber_date")
        batch_op.create_unique_constraint("uq_outbox_subscriber_date",
                                          ["subscriber_id", "digest_date"])
    with op.batch_alter_table("counters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_counters_expires"))
    op.drop_table("counters")
