"""Tombstones of deleted, purged and replaced segments, so their bytes are refused if uploaded again.

Written out column by column, not from the live table definitions.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``segment_tombstones`` (skipped when a pre-migration ``create_all`` made it)."""
    if sa.inspect(op.get_bind()).has_table("segment_tombstones"):
        return
    op.create_table(
        "segment_tombstones",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Drop ``segment_tombstones``."""
    op.drop_table("segment_tombstones")
