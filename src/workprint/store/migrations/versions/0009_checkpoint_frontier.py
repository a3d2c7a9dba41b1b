"""Checkpoints remember where the next one starts: the last covered entry's ``seq`` and the tree's frontier.

A checkpoint is now signed in the transaction of every audit append; with these the server extends the tree from
the newest checkpoint instead of re-reading the whole log. Written out column by column.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``last_seq`` and ``frontier`` to ``audit_checkpoints`` (skipped when a ``create_all`` already did)."""
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("audit_checkpoints")}
    if "last_seq" not in have:
        op.add_column("audit_checkpoints", sa.Column("last_seq", sa.BigInteger(), nullable=True))
    if "frontier" not in have:
        op.add_column("audit_checkpoints", sa.Column("frontier", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("audit_checkpoints") as batch:
        batch.drop_column("frontier")
        batch.drop_column("last_seq")
