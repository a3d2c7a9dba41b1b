"""Rows of the metadata store as frozen dataclasses, independent of SQLAlchemy and of HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Participant:
    """A person who records. ``wrapped_private_key`` is None once the participant is erased."""

    id: str
    name: str
    public_key: bytes
    wrapped_private_key: bytes | None
    key_id: str
    created_at: int
    erased_at: int | None = None

    @property
    def erased(self) -> bool:
        return self.erased_at is not None


@dataclass(frozen=True, slots=True)
class Device:
    """An enrolled device; it authenticates with a bearer token whose SHA-256 is ``token_hash``."""

    id: str
    participant_id: str
    name: str
    token_hash: str
    created_at: int
    revoked_at: int | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """The manifest of one stored segment: its header fields, where its ciphertext is, when it arrived."""

    id: str
    participant_id: str
    device_id: str
    session: str
    seq: int
    t_start_ns: int
    t_end_ns: int
    wall_start_ns: int
    wall_end_ns: int
    scopes: tuple[str, ...]
    notice_version: str
    redactor_version: str
    size: int
    counts: Mapping[str, int]
    blob_key: str
    received_at: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One append-only audit record. ``seq`` is assigned by the store."""

    seq: int
    at: int
    actor: str
    action: str
    subject: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The entry as a plain mapping (what ``audit.checkpoint.entry_bytes`` hashes)."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What to append to the audit log; the store stamps it with a sequence number and the time."""

    actor: str
    action: str
    subject: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class User:
    """An account. ``roles`` are among participant, steward, researcher, auditor, admin; a participant account is
    linked to exactly one ``participant_id``."""

    id: str
    username: str
    password_hash: str | None
    roles: tuple[str, ...]
    participant_id: str | None
    created_at: int
    disabled_at: int | None = None
    created_by: str | None = None  # the audit actor that created it (None: made before this was recorded)


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """A steward, auditor or admin role requested for an account; in force once a second admin approved it."""

    id: str
    user_id: str
    role: str
    requested_by: str
    requested_at: int
    approved_by: str | None = None
    approved_at: int | None = None
    cancelled_at: int | None = None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A stored web session (by the hash of its token)."""

    token_hash: str
    user_id: str
    csrf_token: str
    created_at: int
    expires_at: int
    ended_at: int | None = None


@dataclass(frozen=True, slots=True)
class ApiTokenRow:
    """A stored API token for a non-browser client (by the hash of its secret)."""

    token_hash: str
    id: str
    user_id: str
    name: str
    created_at: int
    expires_at: int
    revoked_at: int | None = None
    parent_id: str | None = None  # the API token that minted this one; it dies with it


@dataclass(frozen=True, slots=True)
class Grant:
    """Access to raw data of others: requested by one steward with a purpose, approved by another, time-limited.

    ``scope`` is ``program`` (every participant) or ``participants`` (those in ``participant_ids``).
    """

    id: str
    requester_id: str
    purpose: str
    scope: str
    participant_ids: tuple[str, ...]
    duration_s: int
    created_at: int
    approver_id: str | None = None
    approved_at: int | None = None
    expires_at: int | None = None
    revoked_at: int | None = None

    def covers(self, participant_id: str) -> bool:
        """True when the grant's scope includes ``participant_id``."""
        return self.scope == "program" or participant_id in self.participant_ids

    def active(self, now: int) -> bool:
        """Approved, not revoked and not expired at ``now``."""
        return self.expires_at is not None and self.revoked_at is None and now < self.expires_at
