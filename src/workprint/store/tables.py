"""The metadata schema as SQLAlchemy Core tables, the same on SQLite and PostgreSQL.

Every timestamp column (``*_at``, ``*_ns``) is an integer: nanoseconds since the Unix epoch, UTC. Integers compare
and sort the same on both backends and never meet a time zone. Blobs never live here, only their keys.

``create_schema`` is the one place the schema is brought into being; Alembic migrations will replace its body.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

# SQLite only treats exactly ``INTEGER PRIMARY KEY`` as the auto-incrementing row id.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

participants = Table(
    "participants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    # NULL once erased: destroying this is what makes every copy of the participant's segments unreadable.
    Column("wrapped_private_key", LargeBinary, nullable=True),
    Column("key_id", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("erased_at", BigInteger, nullable=True),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("participant_id", String(32), ForeignKey("participants.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

enrolment_codes = Table(
    "enrolment_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("participant_id", String(32), ForeignKey("participants.id"), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
)

segments = Table(
    "segments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("participant_id", String(32), ForeignKey("participants.id"), nullable=False),
    Column("device_id", String(32), ForeignKey("devices.id"), nullable=False),
    Column("session", String(200), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("t_start_ns", BigInteger, nullable=False),
    Column("t_end_ns", BigInteger, nullable=False),
    Column("wall_start_ns", BigInteger, nullable=False),
    Column("wall_end_ns", BigInteger, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("notice_version", String(64), nullable=False),
    Column("redactor_version", String(200), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("blob_key", String(300), nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Index("ix_segments_order", "participant_id", "session", "seq"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("detail", JSON, nullable=False),
    sqlite_autoincrement=True,  # never reuse a sequence number, even after the last row is gone
)


_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
        "CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    ],
}


def create_schema(engine: Engine) -> None:
    """Create any missing table (the seam where Alembic's ``upgrade head`` will go).

    The audit log refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) in the database itself, so that no code
    path, ours or an operator's SQL session, rewrites history by accident; the Merkle tree makes it evident.
    """
    metadata.create_all(engine)
    with engine.begin() as conn:
        for statement in _APPEND_ONLY.get(engine.dialect.name, []):
            conn.exec_driver_sql(statement)
