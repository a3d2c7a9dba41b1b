"""Authorization, deny by default: what each ``Principal`` may see and do, in the domain layer.

- participants: list and read their own segments (each read audited), see every access to their data with its
  inclusion proof, and see every grant that touches them;
- stewards: request grants (purpose, scope, at most ``MAX_GRANT_S``), approve another steward's grant (never their
  own), and read raw data only through an active grant they requested, each read audited with the grant's id;
- researchers: dataset releases only; auditors: the audit log and checkpoints only; admins: accounts, participants
  and devices, never data.

Every method starts by checking the caller's role; anything not granted here is refused. Someone else's segment is
"not found" rather than "forbidden", so that probing ids reveals nothing about who participates.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from workprint import segment as seg
from workprint.audit.checkpoint import Checkpoint, Verification
from workprint.audit.log import ProvenEntry
from workprint.errors import BadRequest, Conflict, Forbidden, NotFound
from workprint.server import duties
from workprint.server.identity import Principal
from workprint.store.records import AuditEntry, AuditEvent, Grant, SegmentRecord

if TYPE_CHECKING:
    from workprint.server.api import ServerAPI

__all__ = ["ACCESS_ACTIONS", "MAX_GRANT_S", "Access"]

MAX_GRANT_S = 4 * 3600
# Audit actions that are accesses to a participant's data, or decisions about access to it.
ACCESS_ACTIONS = frozenset({"segment.read", "grant.request", "grant.approve"})


def _require(p: Principal, role: str, what: str) -> None:
    if not p.has(role):
        raise Forbidden(f"{what}: requires the {role} role")


def blind(grant_id: str, participant_id: str) -> str:
    """How a grant's audit entries name a participant it covers: only that participant (who knows their own random
    id) can tell it is them, so a participant reading the entry with its proof learns nobody else's id."""
    return hashlib.sha256(f"workprint-grant-participant\n{grant_id}\n{participant_id}".encode()).hexdigest()


def _touches(entry: AuditEntry, participant_id: str) -> bool:
    if entry.action not in ACCESS_ACTIONS:
        return False
    d = entry.detail
    grant_id = entry.subject.removeprefix("grant:")
    return bool(
        d.get("participant_id") == participant_id
        or d.get("scope") == "program"
        or blind(grant_id, participant_id) in (d.get("participants") or ())
        or participant_id in (d.get("participant_ids") or ())  # entries written before blinding
    )


class Access:
    """The principal-checked face of ``ServerAPI``: the only way routes reach data."""

    def __init__(self, api: ServerAPI, *, max_grant_s: int = MAX_GRANT_S) -> None:
        self.api = api
        self.max_grant_s = max_grant_s

    # -- participants: their own data -----------------------------------------------------------------------------

    def _own(self, p: Principal, what: str) -> str:
        _require(p, "participant", what)
        if p.participant_id is None:
            raise Forbidden(f"{what}: this account is not linked to a participant")
        return p.participant_id

    def my_segments(self, p: Principal) -> list[SegmentRecord]:
        """The caller's own segment manifests."""
        return self.api.metadata.segments(self._own(p, "segments"))

    def read_my_segment(self, p: Principal, segment_id: str) -> seg.Segment:
        """One of the caller's own segments, decrypted; the read is audited first."""
        pid = self._own(p, "segment")
        rec = self.api.metadata.segment(segment_id)
        if rec is None or rec.participant_id != pid:
            raise NotFound(f"segment {segment_id!r}: not found")
        return self.api.read_segment(p.actor, segment_id)

    def my_accesses(self, p: Principal) -> list[ProvenEntry]:
        """Every read of, and grant decision about, the caller's data, each with its inclusion proof."""
        pid = self._own(p, "accesses")
        log = self.api.audit_log
        return log.prove(log.entries(), lambda e: _touches(e, pid))

    def my_grants(self, p: Principal) -> list[Grant]:
        """Every grant whose scope includes the caller, approved or not."""
        pid = self._own(p, "grants")
        # A grant over several participants shows each of them only themselves, never who else it covers.
        return [
            replace(g, participant_ids=tuple(x for x in g.participant_ids if x == pid))
            for g in self.api.identity.accounts.grants()
            if g.covers(pid)
        ]

    # -- stewards: grants -----------------------------------------------------------------------------------------

    def request_grant(
        self, p: Principal, purpose: str, scope: str, participant_ids: tuple[str, ...] = (), duration_s: int = 3600
    ) -> Grant:
        """Ask for raw access; it does nothing until a second steward approves it."""
        _require(p, "steward", "grants")
        purpose = purpose.strip()
        if not 10 <= len(purpose) <= 2000:
            raise BadRequest(f"purpose: expected 10 to 2000 characters, got {len(purpose)}")
        if scope not in ("program", "participants"):
            raise BadRequest(f"scope: expected 'program' or 'participants', got {scope!r}")
        if (scope == "participants") != bool(participant_ids) or len(participant_ids) > 1000:
            raise BadRequest(
                f"participant_ids: expected 1 to 1000 ids with scope 'participants', got {len(participant_ids)}"
            )
        for pid in participant_ids:
            if self.api.metadata.participant(pid) is None:
                raise NotFound(f"participant {pid!r}: not found")
        if not 60 <= duration_s <= self.max_grant_s:
            raise BadRequest(f"duration_s: expected 60 to {self.max_grant_s} seconds, got {duration_s!r}")
        now = self.api.now()
        ids = tuple(sorted(set(participant_ids)))
        g = Grant(uuid.uuid4().hex, p.id, purpose, scope, ids, duration_s, now)
        participants = [blind(g.id, x) for x in ids]
        detail = {"purpose": purpose, "scope": scope, "participants": participants, "duration_s": duration_s}
        self.api.identity.accounts.add_grant(g, AuditEvent(p.actor, "grant.request", f"grant:{g.id}", detail))
        return g

    def approve_grant(self, p: Principal, grant_id: str) -> Grant:
        """Approve another steward's pending grant; it runs from now for its duration."""
        _require(p, "steward", "grants")
        accounts = self.api.identity.accounts
        g = accounts.grant(grant_id)
        if g is None:
            raise NotFound(f"grant {grant_id!r}: not found")
        if g.requester_id == p.id:
            raise Forbidden(f"grant {grant_id}: the requester cannot approve their own grant")
        me = self.api.identity.accounts.user(p.id)
        if me is not None:  # a grant's approver was neither created nor promoted by its requester
            why = duties.not_independent(me, self.api.identity.duties.role_grants(me.id), f"user:{g.requester_id}")
            if why:
                raise Forbidden(f"grant {grant_id}: {why}")
        now = self.api.now()
        expires = now + g.duration_s * 1_000_000_000
        detail = {"scope": g.scope, "participants": [blind(g.id, x) for x in g.participant_ids], "expires_at": expires}
        if not accounts.approve_grant(
            grant_id, p.id, now, expires, AuditEvent(p.actor, "grant.approve", f"grant:{g.id}", detail)
        ):
            raise Conflict(f"grant {grant_id}: already approved or revoked")
        approved = accounts.grant(grant_id)
        assert approved is not None
        return approved

    def grants(self, p: Principal) -> list[Grant]:
        """Every grant (stewards decide on them)."""
        _require(p, "steward", "grants")
        return self.api.identity.accounts.grants()

    def _active_grant(self, p: Principal, grant_id: str) -> Grant:
        _require(p, "steward", "grant use")
        g = self.api.identity.accounts.grant(grant_id)
        if g is None or g.requester_id != p.id:
            raise NotFound(f"grant {grant_id!r}: not found among your grants")
        if not g.active(self.api.now()):
            raise Forbidden(f"grant {grant_id}: not approved, expired or revoked")
        return g

    def grant_segments(self, p: Principal, grant_id: str) -> list[SegmentRecord]:
        """Manifests of the segments an active grant covers (the listing itself is audited as a use)."""
        g = self._active_grant(p, grant_id)
        recs = [r for r in self.api.metadata.segments() if g.covers(r.participant_id)]
        self.api.audit_log.append(AuditEvent(p.actor, "grant.list", f"grant:{g.id}", {"segments": len(recs)}))
        return recs

    def read_with_grant(self, p: Principal, grant_id: str, segment_id: str) -> seg.Segment:
        """Decrypt a segment under an active grant that covers its participant; audited with the grant's id."""
        g = self._active_grant(p, grant_id)
        rec = self.api.metadata.segment(segment_id)
        if rec is None or not g.covers(rec.participant_id):
            raise NotFound(f"segment {segment_id!r}: not found within grant {grant_id}")
        from workprint.server.consent import consent_of

        # A scope withdrawn since the recording is not handed out, even before the purge cuts it from the store.
        return consent_of(self.api).withhold_withdrawn(self.api.read_segment(p.actor, segment_id, grant_id=g.id))

    # -- researchers, auditors ------------------------------------------------------------------------------------

    def releases(self, p: Principal) -> list[dict[str, Any]]:
        """Dataset releases (pseudonymous, redacted); none are published through the service yet."""
        _require(p, "researcher", "releases")
        return []

    def audit_entries(self, p: Principal, after: int = 0) -> list[AuditEntry]:
        """Audit entries after ``after``."""
        _require(p, "auditor", "audit log")
        return self.api.metadata.audit_entries(after)

    def checkpoints(self, p: Principal) -> list[Checkpoint]:
        """Every signed checkpoint."""
        _require(p, "auditor", "audit log")
        return self.api.audit_log.checkpoints()

    def checkpoint_now(self, p: Principal) -> Checkpoint:
        """Sign a checkpoint of the log as it is now."""
        _require(p, "auditor", "audit log")
        cp = self.api.audit_log.checkpoint()
        assert cp is not None
        return cp

    def verify(self, p: Principal) -> Verification:
        """Verify every entry against every checkpoint."""
        _require(p, "auditor", "audit log")
        return self.api.audit_log.verify()

    # -- admins ---------------------------------------------------------------------------------------------------

    def create_participant(self, p: Principal, name: str) -> str:
        """Create a participant (admins)."""
        _require(p, "admin", "participants")
        return self.api.create_participant(name, actor=p.actor)

    def create_enrolment_code(self, p: Principal, participant_id: str, ttl_s: int = 86400) -> str:
        """A one-time enrolment code for a participant's device (admins)."""
        _require(p, "admin", "enrolment")
        return self.api.create_enrolment_code(participant_id, ttl_s, actor=p.actor)

    def revoke_device(self, p: Principal, device_id: str) -> None:
        """Revoke a device (admins)."""
        _require(p, "admin", "devices")
        self.api.revoke_device(device_id, actor=p.actor)
