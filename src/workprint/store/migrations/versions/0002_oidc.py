"""Single sign-on: linked OpenID identities and pending logins (state, nonce and PKCE verifier kept server-side).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``oidc_identities`` and ``oidc_pending`` (skipped when a pre-migration ``create_all`` made them)."""
    existing = sa.inspect(op.get_bind())
    if not existing.has_table("oidc_identities"):
        op.create_table(
            "oidc_identities",
            sa.Column("issuer", sa.String(length=500), nullable=False),
            sa.Column("subject", sa.String(length=255), nullable=False),
            sa.Column("user_id", sa.String(length=32), nullable=False),
            sa.Column("created_at", sa.BigInteger(), nullable=False),
            sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
            sa.PrimaryKeyConstraint("issuer", "subject"),
            sa.UniqueConstraint("user_id"),
        )
    if not existing.has_table("oidc_pending"):
        op.create_table(
            "oidc_pending",
            sa.Column("state_hash", sa.String(length=64), nullable=False),
            sa.Column("nonce", sa.String(length=100), nullable=False),
            sa.Column("code_verifier", sa.String(length=200), nullable=False),
            sa.Column("created_at", sa.BigInteger(), nullable=False),
            sa.Column("expires_at", sa.BigInteger(), nullable=False),
            sa.Column("used_at", sa.BigInteger(), nullable=True),
            sa.PrimaryKeyConstraint("state_hash"),
        )
        op.create_index(op.f("ix_oidc_pending_expires_at"), "oidc_pending", ["expires_at"], unique=False)


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index(op.f("ix_oidc_pending_expires_at"), table_name="oidc_pending")
    op.drop_table("oidc_pending")
    op.drop_table("oidc_identities")
