"""The metadata schema as SQLAlchemy Core tables, the same on SQLite and PostgreSQL.

Every timestamp column (``*_at``, ``*_ns``) is an integer: nanoseconds since the Unix epoch, UTC. Integers compare
and sort the same on both backends and never meet a time zone. Blobs never live here, only their keys.

``create_schema`` is the one place the schema is brought into being: Alembic migrations in ``store/migrations``.
A change to these tables needs a new revision there (``test_migrations`` compares the two).
"""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
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
    inspect,
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

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(200), nullable=False, unique=True),
    # argon2id PHC string; NULL for accounts that only sign in through single sign-on.
    Column("password_hash", Text, nullable=True),
    Column("roles", JSON, nullable=False),
    Column("participant_id", String(32), ForeignKey("participants.id"), nullable=True, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger, nullable=True),
    # The audit actor that created the account (``user:<id>``, ``system:<name>``, ``claim``); NULL before 0011.
    # A grant's approver must not have been created (or promoted, see ``role_grants``) by its requester.
    Column("created_by", String(200), nullable=True),
)

# Steward, auditor and admin roles: requested by one admin, in force only once a second admin approves.
role_grants = Table(
    "role_grants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False, index=True),
    Column("role", String(20), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("approved_by", String(200), nullable=True),
    Column("approved_at", BigInteger, nullable=True),
    Column("cancelled_at", BigInteger, nullable=True),
)

# A participant's claim on their own account: opened by enrolment or an admin's recovery, its code minted only when
# one of the participant's devices fetches it (so no admin ever sees it), stored by its SHA-256, used once.
account_claims = Table(
    "account_claims",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("participant_id", String(32), ForeignKey("participants.id"), nullable=False, index=True),
    Column("reason", String(20), nullable=False),  # ``enrolment`` or ``recovery``
    Column("opened_by", String(200), nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("code_hash", String(64), nullable=True, unique=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("device_id", String(32), nullable=True),  # the device the code was delivered to
    Column("used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

# Web sessions and API tokens are stored by the SHA-256 of their secret, never the secret itself.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("parent_id", String(32), nullable=True, index=True),  # the API token that minted this one, if any
)

# Single sign-on: which account an (issuer, subject) pair of an OpenID provider signs in as.
oidc_identities = Table(
    "oidc_identities",
    metadata,
    Column("issuer", String(500), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

# A started single sign-on login, by the SHA-256 of its ``state``: the nonce and PKCE verifier stay on the server.
oidc_pending = Table(
    "oidc_pending",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("nonce", String(100), nullable=False),
    Column("code_verifier", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
    Column("used_at", BigInteger, nullable=True),
    Column("link_user_id", String(32), nullable=True),  # a signed-in participant binding their own subject
)

grants = Table(
    "grants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("requester_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("purpose", Text, nullable=False),
    # ``program`` (every participant) or ``participants`` (the ids in ``participant_ids``).
    Column("scope", String(20), nullable=False),
    Column("participant_ids", JSON, nullable=False),
    Column("duration_s", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("approver_id", String(32), ForeignKey("users.id"), nullable=True),
    Column("approved_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", _SEQ, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False),
    Column("root", String(64), nullable=False),
    Column("at_ns", BigInteger, nullable=False),
    Column("signature", String(128), nullable=False),
    # Where the next checkpoint starts from: the ``seq`` of the last entry covered, and the tree's frontier (the
    # roots of its perfect subtrees, largest first, hex, concatenated). Null on checkpoints made before 0009.
    Column("last_seq", BigInteger, nullable=True),
    Column("frontier", Text, nullable=True),
    sqlite_autoincrement=True,
)

# Segments deleted by their participant, purged after a withdrawal or replaced by a narrowed copy: their id is the
# SHA-256 of their bytes, so remembering it refuses those bytes forever (a re-upload answers 410, nothing is stored).
# Deliberately no participant: the row says only that some bytes are gone, and why.
segment_tombstones = Table(
    "segment_tombstones",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("reason", String(100), nullable=False),
    Column("at", BigInteger, nullable=False),
)

# Segments that failed to open when first read (malformed, or holding more than their header declares): never used,
# shown to their participant as quarantined with the reason, deletable by them.
segment_quarantine = Table(
    "segment_quarantine",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("reason", String(300), nullable=False),
    Column("at", BigInteger, nullable=False),
)

# What every server process on this database must share, set by the first to start: the audit log's public key and a
# value wrapped by the key store (``store.metadata.CANARY``). A replica with another signing key or key store refuses
# to start instead of signing a fork of the log or wrapping keys nobody else can open.
deployment = Table(
    "deployment",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)


APPEND_ONLY_TABLES = ("audit_log", "audit_checkpoints")


def append_only_statements(dialect: str, table: str) -> list[str]:
    """Triggers that make ``table`` refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) in the database."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$",
            f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
        ]
    return []


def drop_append_only_statements(dialect: str, table: str) -> list[str]:
    """The inverse of ``append_only_statements`` (tests use it to act as an attacker with database access)."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_update", f"DROP TRIGGER IF EXISTS {table}_no_delete"]
    return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"]


MIGRATIONS = "workprint.store:migrations"
_PG_SCHEMA_LOCK = 0x77707363  # any constant; serialises concurrent upgrades of one PostgreSQL database


@functools.cache
def _alembic() -> tuple[Config, str]:
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return cfg, head


def create_schema(engine: Engine) -> None:
    """Bring the schema to the newest revision with Alembic's ``upgrade head`` (from an empty database, too).

    The audit tables refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) in the database itself, so that no code
    path, ours or an operator's SQL session, rewrites history by accident; the Merkle tree makes it evident.
    A database made before migrations existed (tables, no version) is stamped at the first revision first.
    """
    cfg, head = _alembic()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_SCHEMA_LOCK})")
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
        cfg.attributes["connection"] = conn
        try:
            names = inspect(conn)
            if names.has_table("participants") and not names.has_table("alembic_version"):
                command.stamp(cfg, "0001")
            command.upgrade(cfg, "head")
        finally:
            cfg.attributes.pop("connection", None)
