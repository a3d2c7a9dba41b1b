"""Program versions (purpose, scopes, retention, organisation exclusion rules) published with a notice.

Revision ``0003`` builds the consent tables from the current ``MetaData``, so on a fresh database this table may exist
already when this revision runs: it is created only when missing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from workprint.store.consent_tables import consent_programs

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``consent_programs`` if it does not exist yet."""
    consent_programs.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    """Drop ``consent_programs``."""
    consent_programs.drop(op.get_bind(), checkfirst=True)
