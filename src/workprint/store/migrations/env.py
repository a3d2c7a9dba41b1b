"""Alembic environment: always runs on the connection ``store.tables.create_schema`` hands over."""

from __future__ import annotations

from alembic import context

from workprint.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
