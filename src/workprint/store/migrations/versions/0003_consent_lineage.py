"""Consent (receipts, device keys, notices, erasure requests) and dataset lineage (releases, examples, purges).

Built from the ``MetaData`` those modules declare. Their own ``create_all`` calls stay (idempotent), so a table may
already exist when this revision runs on a database that predates it: existing tables are left alone.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from workprint.store.consent_tables import consent_metadata
from workprint.store.lineage_tables import lineage_metadata

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_METADATA = (consent_metadata, lineage_metadata)


def upgrade() -> None:
    """Create every consent and lineage table (with its indexes) that does not exist yet."""
    bind = op.get_bind()
    for md in _METADATA:
        md.create_all(bind, checkfirst=True)


def downgrade() -> None:
    """Drop every consent and lineage table."""
    bind = op.get_bind()
    for md in reversed(_METADATA):
        md.drop_all(bind, checkfirst=True)
