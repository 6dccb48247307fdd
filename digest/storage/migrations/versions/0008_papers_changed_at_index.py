"""An index on papers.changed_at: the embedding step after every poll asks for the papers
changed in the last days without a vector, and the corpus version for the newest change; both
read the recent papers only instead of the whole table.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_papers_changed_at"), ["changed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_papers_changed_at"))
