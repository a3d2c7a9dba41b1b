"""Participants' own credentials: claiming an account with a code only their device receives, and recovery.

No admin action yields a participant's login. A participant's account is created by the participant: enrolling a
device opens a claim, and the code for it is minted when one of the participant's devices next fetches its requests
(``for_device``), so it is shown on the participant's own machine and stored here only as a SHA-256. The code is
used once (``claim``: username and password of the participant's choosing) and expires. An admin's recovery
(``recover``) revokes every credential of the account (password, sessions, API tokens, sign-on links) and opens a
new claim that reaches the participant the same way; it is audited under the account, so the participant sees it
with their sign-ins, and their device shows it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from workprint.config import CLAIM_CODE_TTL_S
from workprint.errors import Conflict, Gone, NotFound, Unauthorized
from workprint.server.identity import Identity, Principal, check_password, check_username, require_admin
from workprint.store import tables as t
from workprint.store.duties import Claim, DutyStore
from workprint.store.records import AuditEvent, Device, User

__all__ = ["Claims"]

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # as enrolment codes: read aloud and typed


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch not in " -\t")


class Claims:
    """Claims on participants' accounts over ``identity``'s store."""

    def __init__(self, identity: Identity, ttl_s: int = CLAIM_CODE_TTL_S) -> None:
        self.identity = identity
        self.store = DutyStore(identity.store)
        self.ttl_s = ttl_s

    def _now(self) -> int:
        return self.identity.now()

    def account_of(self, participant_id: str) -> User | None:
        """The participant's account, if it was ever claimed."""
        with self.identity.store.engine.connect() as conn:
            uid = conn.execute(select(t.users.c.id).where(t.users.c.participant_id == participant_id)).scalar()
        return None if uid is None else self.identity.accounts.user(str(uid))

    def recover(self, actor: Principal, participant_id: str) -> str:
        """Revoke every credential of the participant's account and open a new claim (admins); returns its id.
        The admin never sees the code: the participant's device receives it."""
        require_admin(actor, "recovery")
        p = self.identity.store.participant(participant_id)
        if p is None:
            raise NotFound(f"participant {participant_id!r}: not found")
        if p.erased:
            raise Gone(f"participant {participant_id!r}: erased")
        user = self.account_of(participant_id)
        claim_id, now = uuid.uuid4().hex, self._now()
        subject = f"user:{user.id}" if user is not None else f"participant:{participant_id}"
        detail = {"participant_id": participant_id, "claim": claim_id}
        row = {"id": claim_id, "participant_id": participant_id, "reason": "recovery", "opened_by": actor.actor,
               "opened_at": now}  # fmt: skip
        audit = AuditEvent(actor.actor, "account.recovery", subject, detail)
        self.store.open_claim(row, None if user is None else user.id, audit)
        return claim_id

    def for_device(self, device: Device) -> dict[str, Any] | None:
        """The claim code for the device's participant, minted now, if their account awaits a claim whose code no
        device holds yet (or whose code expired unused); else None. A participant without an account gets a claim."""
        pid, now = device.participant_id, self._now()
        open_claims = self.store.open_claims(pid)
        if not open_claims:
            if self.account_of(pid) is not None:
                return None
            row = {"id": uuid.uuid4().hex, "participant_id": pid, "reason": "enrolment",
                   "opened_by": f"device:{device.id}", "opened_at": now}  # fmt: skip
            audit = AuditEvent(f"device:{device.id}", "account.claim_open", f"participant:{pid}", {"claim": row["id"]})
            self.store.open_claim(row, None, audit)
            open_claims = self.store.open_claims(pid)
        claim: Claim = open_claims[-1]
        if claim["code_hash"] is not None and claim["expires_at"] > now:
            return None  # already on one of the participant's devices
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(20))  # 100 bits
        expires = now + self.ttl_s * 1_000_000_000
        detail = {"claim": claim["id"], "device": f"device:{device.id}"}
        audit = AuditEvent(f"device:{device.id}", "account.claim_code", f"participant:{pid}", detail)
        if not self.store.mint(claim["id"], _sha256(raw), device.id, expires, now, audit):
            return None
        code = "-".join(raw[i : i + 5] for i in range(0, 20, 5))
        return {"code": code, "reason": claim["reason"], "opened_at": claim["opened_at"], "expires_at": expires}

    def claim(self, code: str, username: str, password: str) -> User:
        """Create (or, after a recovery, re-key) the participant's account with a username and password of their
        choosing; the code is used once. ``Unauthorized`` for an unknown, used or expired code."""
        username, now = check_username(username), self._now()
        check_password(password)
        pw_hash = self.identity.hash_password(password)
        made: dict[str, str] = {}

        def apply(conn: Connection, row: Claim) -> AuditEvent:
            pid = row["participant_id"]
            uid = conn.execute(select(t.users.c.id).where(t.users.c.participant_id == pid)).scalar()
            if uid is None:
                uid = uuid.uuid4().hex
                conn.execute(insert(t.users).values(
                    id=uid, username=username, password_hash=pw_hash, roles=["participant"], participant_id=pid,
                    created_at=now, disabled_at=None, created_by="claim",
                ))  # fmt: skip
            else:
                conn.execute(update(t.users).where(t.users.c.id == uid).values(username=username,
                                                                                password_hash=pw_hash))  # fmt: skip
            made["id"] = str(uid)
            detail = {"reason": row["reason"], "claim": row["id"]}
            return AuditEvent(f"user:{uid}", "account.claim", f"user:{uid}", detail)

        try:
            used = self.store.use(_sha256(_normalise(code)), now, apply)
        except IntegrityError:
            raise Conflict(f"username {username!r}: taken") from None
        if not used:
            self.identity.audit.append(AuditEvent("public", "account.claim_failure", "user:unknown"))
            raise Unauthorized("code: claim code is unknown, expired or already used")
        user = self.identity.accounts.user(made["id"])
        assert user is not None
        return user

    def claims(self, actor: Principal) -> list[dict[str, Any]]:
        """The caller's (a participant's) claims and recoveries, newest first; never their codes."""
        if actor.participant_id is None:
            raise NotFound("claims: this account is not linked to a participant")
        keep = ("reason", "opened_by", "opened_at", "expires_at", "used_at", "revoked_at")
        return [{k: r[k] for k in keep} for r in self.store.claims(actor.participant_id)]
