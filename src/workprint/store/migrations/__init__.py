"""Alembic migrations of the metadata schema, run programmatically by ``store.tables.create_schema``."""
