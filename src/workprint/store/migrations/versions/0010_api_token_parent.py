"""API tokens remember the token that minted them (``parent_id``), so that a token dies with its parent.

Follows 0009 (checkpoint frontiers).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``api_tokens.parent_id`` (NULL: minted from a signed-in session, as every earlier token was)."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("api_tokens")}
    if "parent_id" not in columns:
        op.add_column("api_tokens", sa.Column("parent_id", sa.String(length=32), nullable=True))
        op.create_index("ix_api_tokens_parent_id", "api_tokens", ["parent_id"])


def downgrade() -> None:
    """Drop ``api_tokens.parent_id``."""
    op.drop_index("ix_api_tokens_parent_id", table_name="api_tokens")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("parent_id")
