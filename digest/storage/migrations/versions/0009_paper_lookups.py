"""paper_lookups: liked or voted paper ids the arXiv API did not have, each with the time it
may be asked for again (a bad id costs one request a day, not one every poll).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_lookups",
        sa.Column("canonical_id", sa.String(length=120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("canonical_id"),
    )


def downgrade() -> None:
    op.drop_table("paper_lookups")
