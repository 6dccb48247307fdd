"""Paper embeddings cache for the semantic ranker.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_embeddings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("paper_id", "model", name="uq_paper_embeddings_paper_model"),
    )
    with op.batch_alter_table("paper_embeddings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_embeddings_paper_id"), ["paper_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("paper_embeddings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_embeddings_paper_id"))
    op.drop_table("paper_embeddings")
