"""Programs choose how devices encode screenshots (``frame_format``: auto, jpeg or webp).

Revision ``0003`` builds the consent tables from the current ``MetaData``, so on a fresh database the column may
exist already when this revision runs: it is added only when missing.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``consent_programs.frame_format`` (``auto`` for programs published before)."""
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("consent_programs")}
    if "frame_format" not in columns:
        op.add_column(
            "consent_programs", sa.Column("frame_format", sa.String(length=10), nullable=False, server_default="auto")
        )


def downgrade() -> None:
    """Drop ``consent_programs.frame_format``."""
    with op.batch_alter_table("consent_programs") as batch:
        batch.drop_column("frame_format")
