"""Alembic migrations build the schema from an empty database on SQLite and PostgreSQL, matching the tables."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from workprint.store import tables
from workprint.store.consent_tables import consent_metadata
from workprint.store.lineage_tables import lineage_metadata
from workprint.store.metadata import MetadataStore


def test_upgrade_head_from_empty_matches_the_table_definitions(db_url: str) -> None:
    store = MetadataStore(db_url)
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        assert ctx.get_current_revision() == tables._alembic()[1]
        assert compare_metadata(ctx, [tables.metadata, consent_metadata, lineage_metadata]) == []  # type: ignore[arg-type]
    store.close()


def test_a_database_made_before_migrations_is_stamped_and_kept(db_url: str) -> None:
    engine = create_engine(db_url)
    tables.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (1, 'a', 'b', 'c', '{}')"
        )
    engine.dispose()
    store = MetadataStore(db_url)
    assert [e.actor for e in store.audit_entries()] == ["a"]
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == tables._alembic()[1]
    store.close()


def test_downgrade_to_base_removes_every_table(db_url: str) -> None:
    store = MetadataStore(db_url)
    cfg, _ = tables._alembic()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        try:
            command.downgrade(cfg, "base")
        finally:
            cfg.attributes.pop("connection")
    with store.engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    store.close()
    MetadataStore(db_url).close()  # and up again


def test_consent_and_lineage_tables_are_created_from_empty_and_dropped_on_downgrade(db_url: str) -> None:
    wanted = set(consent_metadata.tables) | set(lineage_metadata.tables) | {"oidc_identities", "oidc_pending"}
    store = MetadataStore(db_url)
    with store.engine.connect() as conn:
        assert wanted <= set(inspect(conn).get_table_names())
    cfg, _ = tables._alembic()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        try:
            command.downgrade(cfg, "0001")
        finally:
            cfg.attributes.pop("connection")
    with store.engine.connect() as conn:
        assert not wanted & set(inspect(conn).get_table_names())
    store.close()


def test_tables_an_older_create_all_already_made_are_kept_by_the_upgrade(db_url: str) -> None:
    engine = create_engine(db_url)
    tables.metadata.create_all(engine)
    consent_metadata.create_all(engine)
    engine.dispose()
    store = MetadataStore(db_url)
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn)
        assert ctx.get_current_revision() == tables._alembic()[1]
        assert compare_metadata(ctx, [tables.metadata, consent_metadata, lineage_metadata]) == []  # type: ignore[arg-type]
    store.close()


def test_revision_0004_adds_the_program_table_and_its_downgrade_removes_only_it(db_url: str) -> None:
    store = MetadataStore(db_url)
    with store.engine.connect() as conn:
        assert "consent_programs" in inspect(conn).get_table_names()
    cfg, _ = tables._alembic()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        try:
            command.downgrade(cfg, "0003")
        finally:
            cfg.attributes.pop("connection")
    with store.engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        assert "consent_programs" not in names and "consent_notices" in names
        assert MigrationContext.configure(conn).get_current_revision() == "0003"
    store.close()
    store = MetadataStore(db_url)  # and up again: the table is back
    with store.engine.connect() as conn:
        assert "consent_programs" in inspect(conn).get_table_names()
    store.close()
