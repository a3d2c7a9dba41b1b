"""Consent on the server, in the metadata database: receipts, device keys, notices, programs, erasure requests.

Tables live on their own ``MetaData`` (created with ``create_consent_schema``) beside the server's tables, on the
same SQLite or PostgreSQL database. ``consent_receipts`` keeps every receipt twice: as the device signed it and as
the server countersigned it; the ledger is rebuilt from the countersigned copies. A program version
(``consent_programs``) is published with a notice row and shares its ``seq``. ``erasure_requests`` is where a
withdrawal starts erasure of a participant's data for some scopes (the dataset pipeline processes the rows).
Writes take a ``Connection`` so that the caller can append the audit entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.engine import Connection, Engine

consent_metadata = MetaData()
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

consent_receipts = Table(
    "consent_receipts",
    consent_metadata,
    Column("receipt_id", String(100), primary_key=True),
    Column("participant_id", String(200), nullable=False),
    Column("device_id", String(200), nullable=False),
    Column("action", String(20), nullable=False),  # grant | withdraw
    Column("scopes", JSON, nullable=False),
    Column("notice_version", String(64), nullable=False),
    Column("timestamp_ns", BigInteger, nullable=False),
    Column("expires_ns", BigInteger, nullable=True),
    Column("device_receipt", JSON, nullable=False),
    Column("countersigned", JSON, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Index("ix_consent_receipts_participant", "participant_id", "timestamp_ns"),
)

consent_device_keys = Table(
    "consent_device_keys",
    consent_metadata,
    Column("device_id", String(200), primary_key=True),
    Column("public_key", String(100), nullable=False),  # base64 Ed25519, bound at the device's first receipt
    Column("first_seen", BigInteger, nullable=False),
)

consent_notices = Table(
    "consent_notices",
    consent_metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("version", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("published_at", BigInteger, nullable=False),
    Column("actor", String(200), nullable=False),
)

# A program version: published together with a notice row (same transaction), keyed by that row's ``seq``.
consent_programs = Table(
    "consent_programs",
    consent_metadata,
    Column("notice_seq", _SEQ, primary_key=True, autoincrement=False),
    Column("purpose", Text, nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("retention_days", Integer, nullable=False),
    Column("exclusions", JSON, nullable=False),  # organisation rule dicts (privacy.exclusions.rule_from_dict)
    Column("frame_format", String(10), nullable=False, server_default="auto"),  # privacy.notices.FRAME_FORMATS
)

erasure_requests = Table(
    "erasure_requests",
    consent_metadata,
    Column("id", _SEQ, primary_key=True, autoincrement=True),
    Column("participant_id", String(200), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("receipt_id", String(100), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("done_at", BigInteger, nullable=True),
    Index("ix_erasure_requests_participant", "participant_id"),
)


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    """One receipt row: the countersigned dict is what the ledger reads."""

    receipt_id: str
    participant_id: str
    device_id: str
    device_receipt: dict[str, Any]
    countersigned: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    """A participant's request to erase their data of ``scopes`` (from a withdrawal)."""

    id: int
    participant_id: str
    scopes: tuple[str, ...]
    receipt_id: str
    requested_at: int
    done_at: int | None


def create_consent_schema(engine: Engine) -> None:
    """Create the consent tables if missing."""
    consent_metadata.create_all(engine)


def insert_receipt(conn: Connection, values: Mapping[str, Any]) -> None:
    """Insert one receipt row (``values`` holds every column)."""
    conn.execute(insert(consent_receipts).values(**values))


def receipt(conn: Connection, receipt_id: str) -> StoredReceipt | None:
    """The stored receipt ``receipt_id``, or None."""
    r = conn.execute(select(consent_receipts).where(consent_receipts.c.receipt_id == receipt_id)).mappings().first()
    if r is None:
        return None
    return StoredReceipt(r["receipt_id"], r["participant_id"], r["device_id"], r["device_receipt"], r["countersigned"])


def countersigned_receipts(conn: Connection, participant_id: str) -> list[dict[str, Any]]:
    """Every countersigned receipt of a participant, oldest first."""
    c = consent_receipts.c
    rows = conn.execute(
        select(c.countersigned).where(c.participant_id == participant_id).order_by(c.timestamp_ns, c.received_at)
    ).all()
    return [dict(r[0]) for r in rows]


def countersigned_with_arrival(conn: Connection, participant_id: str) -> list[tuple[dict[str, Any], int]]:
    """Every countersigned receipt of a participant with when the server received it, oldest first."""
    c = consent_receipts.c
    rows = conn.execute(
        select(c.countersigned, c.received_at)
        .where(c.participant_id == participant_id)
        .order_by(c.timestamp_ns, c.received_at)
    ).all()
    return [(dict(r[0]), int(r[1])) for r in rows]


def device_key(conn: Connection, device_id: str) -> str | None:
    """The consent key bound to ``device_id`` (base64), or None before its first receipt."""
    return conn.execute(
        select(consent_device_keys.c.public_key).where(consent_device_keys.c.device_id == device_id)
    ).scalar_one_or_none()


def bind_device_key(conn: Connection, device_id: str, public_key: str, now: int) -> None:
    """Bind a device's consent key (first receipt)."""
    conn.execute(insert(consent_device_keys).values(device_id=device_id, public_key=public_key, first_seen=now))


def current_notice(conn: Connection) -> str | None:
    """The last published notice version, or None when none was published here."""
    n = consent_notices.c
    return conn.execute(select(n.version).order_by(n.seq.desc()).limit(1)).scalar_one_or_none()


def current_notice_row(conn: Connection) -> tuple[str, str] | None:
    """(version, text) of the last published notice, or None."""
    n = consent_notices.c
    row = conn.execute(select(n.version, n.text).order_by(n.seq.desc()).limit(1)).first()
    return None if row is None else (str(row[0]), str(row[1]))


def add_notice(conn: Connection, version: str, text: str, actor: str, now: int) -> int:
    """Publish a notice version; returns its row's ``seq``."""
    result = conn.execute(insert(consent_notices).values(version=version, text=text, published_at=now, actor=actor))
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def notice_versions(conn: Connection) -> set[str]:
    """Every notice version ever published here."""
    return {str(v) for v in conn.execute(select(consent_notices.c.version)).scalars()}


def add_program(conn: Connection, notice_seq: int, program: Mapping[str, Any]) -> None:
    """Store the program published with notice row ``notice_seq`` (purpose, scopes, retention_days, exclusions)."""
    conn.execute(
        insert(consent_programs).values(
            notice_seq=notice_seq, purpose=program["purpose"], scopes=list(program["scopes"]),
            retention_days=int(program["retention_days"]), exclusions=[dict(r) for r in program["exclusions"]],
            frame_format=str(program.get("frame_format", "auto")),
        )
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProgramVersion:
    """One published program version with the notice published with it."""

    seq: int
    version: str
    text: str
    published_at: int
    actor: str
    purpose: str
    scopes: tuple[str, ...]
    retention_days: int
    exclusions: tuple[dict[str, Any], ...]
    frame_format: str = "auto"


def program_versions(conn: Connection) -> list[ProgramVersion]:
    """Every published program version, newest first."""
    n, p = consent_notices.c, consent_programs.c
    cols = (n.seq, n.version, n.text, n.published_at, n.actor, p.purpose, p.scopes, p.retention_days, p.exclusions,
            p.frame_format)  # fmt: skip
    q = select(*cols).join_from(consent_notices, consent_programs, n.seq == p.notice_seq).order_by(n.seq.desc())
    out = []
    for r in conn.execute(q):
        rules = tuple(dict(x) for x in r[8])
        out.append(ProgramVersion(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), str(r[5]), tuple(r[6]),
                                  int(r[7]), rules, str(r[9])))  # fmt: skip
    return out


def add_erasure_request(
    conn: Connection, participant_id: str, scopes: tuple[str, ...], receipt_id: str, now: int
) -> int:
    """Record an erasure request; returns its id."""
    result = conn.execute(
        insert(erasure_requests).values(
            participant_id=participant_id, scopes=list(scopes), receipt_id=receipt_id, requested_at=now
        )
    )
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def list_erasure_requests(conn: Connection, participant_id: str | None = None) -> list[ErasureRequest]:
    """Erasure requests (of one participant, or all), oldest first."""
    e = erasure_requests.c
    q = select(erasure_requests).order_by(e.id)
    if participant_id is not None:
        q = q.where(e.participant_id == participant_id)
    return [
        ErasureRequest(
            int(r["id"]), r["participant_id"], tuple(r["scopes"]), r["receipt_id"], r["requested_at"], r["done_at"]
        )
        for r in conn.execute(q).mappings()
    ]


def mark_erasure_done(conn: Connection, request_id: int, now: int) -> bool:
    """Mark an erasure request processed; False when it was unknown or already done."""
    e = erasure_requests.c
    result = conn.execute(update(erasure_requests).where(e.id == request_id, e.done_at.is_(None)).values(done_at=now))
    return bool(result.rowcount)


__all__ = [
    "ErasureRequest",
    "ProgramVersion",
    "StoredReceipt",
    "add_erasure_request",
    "add_notice",
    "add_program",
    "bind_device_key",
    "consent_device_keys",
    "consent_metadata",
    "consent_notices",
    "consent_programs",
    "consent_receipts",
    "countersigned_receipts",
    "countersigned_with_arrival",
    "create_consent_schema",
    "current_notice",
    "current_notice_row",
    "device_key",
    "erasure_requests",
    "insert_receipt",
    "list_erasure_requests",
    "mark_erasure_done",
    "notice_versions",
    "program_versions",
    "receipt",
]
