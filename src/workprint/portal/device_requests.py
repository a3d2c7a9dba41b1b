"""Requests from the portal to a participant's devices: pause, resume, grant or withdraw consent.

Recording state and consent live on the device (it signs every consent receipt with its own key), so the portal
cannot change them itself. It queues a request; the device fetches its requests (``GET /portal/device/requests``
with its device token) and applies each one exactly as the participant's own command would
(``privacy.consent_sync.ReceiptSync.apply_portal_requests``: ``record_consent``, pause/resume in the state file).
Receipts then reach the server through the normal consent path (``POST /v1/consents``), which records withdrawals
as erasure requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.engine import Connection

from workprint.errors import BadRequest
from workprint.models import ALL_SCOPES
from workprint.server.api import ServerAPI
from workprint.store.metadata import append_audit
from workprint.store.records import AuditEvent

__all__ = ["KINDS", "DeviceRequest", "pending", "queue", "take"]

KINDS = ("pause", "resume", "grant", "withdraw")
_meta = MetaData()
portal_device_requests = Table(
    "portal_device_requests",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("participant_id", String(32), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    Column("device_id", String(32), nullable=True),
)


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """One queued request."""

    id: int
    kind: str
    scopes: tuple[str, ...]
    created_at: int
    delivered_at: int | None
    device_id: str | None


def _ensure(api: ServerAPI) -> None:
    if not getattr(api, "_portal_requests_ready", False):
        _meta.create_all(api.metadata.engine)
        setattr(api, "_portal_requests_ready", True)  # noqa: B010 - a flag on the shared api object


def _row(r: Any) -> DeviceRequest:
    return DeviceRequest(r["id"], r["kind"], tuple(r["scopes"]), r["created_at"], r["delivered_at"], r["device_id"])


def queue(api: ServerAPI, actor: str, participant_id: str, kind: str, scopes: tuple[str, ...] = ()) -> int:
    """Queue a request for the participant's devices (audited); returns its id."""
    if kind not in KINDS:
        raise BadRequest(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    bad = [s for s in scopes if s not in ALL_SCOPES]
    if bad or (kind in ("grant", "withdraw") and not scopes):
        raise BadRequest(f"scope: expected one of {', '.join(ALL_SCOPES)}, got {', '.join(bad) or 'none'}")
    _ensure(api)
    now = api.now()

    def fn(conn: Connection) -> int:
        res = conn.execute(insert(portal_device_requests).values(
            participant_id=participant_id, kind=kind, scopes=list(scopes), created_at=now))  # fmt: skip
        rid = int(cast(Any, res.inserted_primary_key)[0])
        detail = {"kind": kind, "scopes": list(scopes), "request_id": rid}
        append_audit(conn, AuditEvent(actor, "device.request", f"participant:{participant_id}", detail), now)
        return rid

    return api.metadata.write(fn)


def pending(api: ServerAPI, participant_id: str, limit: int = 20) -> list[DeviceRequest]:
    """The participant's latest requests, newest first (delivered or not)."""
    _ensure(api)
    c = portal_device_requests.c
    with api.metadata.engine.connect() as conn:
        q = select(portal_device_requests).where(c.participant_id == participant_id).order_by(c.id.desc()).limit(limit)
        return [_row(r) for r in conn.execute(q).mappings()]


def take(api: ServerAPI, participant_id: str, device_id: str) -> list[DeviceRequest]:
    """Undelivered requests for a device's participant, oldest first, marked delivered to ``device_id``."""
    _ensure(api)
    c = portal_device_requests.c
    now = api.now()

    def fn(conn: Connection) -> list[DeviceRequest]:
        q = select(portal_device_requests).where(c.participant_id == participant_id, c.delivered_at.is_(None))
        rows = [_row(r) for r in conn.execute(q.order_by(c.id)).mappings()]
        if rows:
            conn.execute(update(portal_device_requests).where(c.id.in_([r.id for r in rows]))
                         .values(delivered_at=now, device_id=device_id))  # fmt: skip
        return rows

    return api.metadata.write(fn)
