"""What every server process on one database must share: the audit log's public key and the key-store canary.

Written out column by column (not from the live table definitions), so later edits of ``store.tables`` never change
what this revision did.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``deployment`` (skipped when a pre-migration ``create_all`` made it)."""
    if sa.inspect(op.get_bind()).has_table("deployment"):
        return
    op.create_table(
        "deployment",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    """Drop ``deployment``."""
    op.drop_table("deployment")
