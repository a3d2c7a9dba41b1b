"""Alembic environment: always runs on the connection ``store.tables.create_schema`` hands over."""

from __future__ import annotations

from alembic import context

from workprint.store.consent_tables import consent_metadata
from workprint.store.lineage_tables import lineage_metadata
from workprint.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=[metadata, consent_metadata, lineage_metadata], transactional_ddl=True
)
with context.begin_transaction():
    context.run_migrations()
