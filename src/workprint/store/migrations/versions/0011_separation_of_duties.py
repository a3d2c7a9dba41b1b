"""Separation of duties: who created each account, role grants pending a second admin, participants' own claims.

Follows 0010 (API token parents).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``users.created_by`` (NULL: made before 0011), ``oidc_pending.link_user_id`` (a participant binding their
    own sign-on subject) and the ``role_grants`` and ``account_claims`` tables."""
    names = sa.inspect(op.get_bind())
    if "link_user_id" not in {c["name"] for c in names.get_columns("oidc_pending")}:
        op.add_column("oidc_pending", sa.Column("link_user_id", sa.String(length=32), nullable=True))
    if "created_by" not in {c["name"] for c in names.get_columns("users")}:
        op.add_column("users", sa.Column("created_by", sa.String(length=200), nullable=True))
    if not names.has_table("role_grants"):
        op.create_table(
            "role_grants",
            sa.Column("id", sa.String(length=32), primary_key=True),
            sa.Column("user_id", sa.String(length=32), sa.ForeignKey("users.id"), nullable=False),
            sa.Column("role", sa.String(length=20), nullable=False),
            sa.Column("requested_by", sa.String(length=200), nullable=False),
            sa.Column("requested_at", sa.BigInteger(), nullable=False),
            sa.Column("approved_by", sa.String(length=200), nullable=True),
            sa.Column("approved_at", sa.BigInteger(), nullable=True),
            sa.Column("cancelled_at", sa.BigInteger(), nullable=True),
        )
        op.create_index("ix_role_grants_user_id", "role_grants", ["user_id"])
    if not names.has_table("account_claims"):
        op.create_table(
            "account_claims",
            sa.Column("id", sa.String(length=32), primary_key=True),
            sa.Column("participant_id", sa.String(length=32), sa.ForeignKey("participants.id"), nullable=False),
            sa.Column("reason", sa.String(length=20), nullable=False),
            sa.Column("opened_by", sa.String(length=200), nullable=False),
            sa.Column("opened_at", sa.BigInteger(), nullable=False),
            sa.Column("code_hash", sa.String(length=64), nullable=True, unique=True),
            sa.Column("expires_at", sa.BigInteger(), nullable=True),
            sa.Column("device_id", sa.String(length=32), nullable=True),
            sa.Column("used_at", sa.BigInteger(), nullable=True),
            sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        )
        op.create_index("ix_account_claims_participant_id", "account_claims", ["participant_id"])


def downgrade() -> None:
    """Drop the two tables, ``oidc_pending.link_user_id`` and ``users.created_by``."""
    op.drop_index("ix_account_claims_participant_id", table_name="account_claims")
    op.drop_table("account_claims")
    op.drop_index("ix_role_grants_user_id", table_name="role_grants")
    op.drop_table("role_grants")
    with op.batch_alter_table("oidc_pending") as batch:
        batch.drop_column("link_user_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("created_by")
