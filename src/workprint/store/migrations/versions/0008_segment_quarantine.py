"""Segments that failed to open, kept aside with the reason (never used, never a page's 500).

Written out column by column, not from the live table definitions.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``segment_quarantine`` (skipped when a pre-migration ``create_all`` made it)."""
    if sa.inspect(op.get_bind()).has_table("segment_quarantine"):
        return
    op.create_table(
        "segment_quarantine",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    """Drop ``segment_quarantine``."""
    op.drop_table("segment_quarantine")
