"""Who is calling: accounts with roles, argon2id passwords, web sessions, API tokens, and the ``Principal``.

No web framework here. ``login`` returns a ``Session`` whose token the web layer puts in an HttpOnly, Secure,
SameSite=Lax cookie, and whose CSRF token form posts must echo; ``principal_from_session`` and
``principal_from_api_token`` turn secrets back into a ``Principal``. Only SHA-256 hashes of session and API tokens
are stored, and only argon2id hashes of passwords.

Logins, successful or not, are audited under the account's random id, never its username, so that the audit log
(which auditors read) does not say who uses the system.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from workprint.audit.log import AuditLog
from workprint.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from workprint.server import duties
from workprint.store import tables as t
from workprint.store.accounts import AccountStore
from workprint.store.duties import DutyStore
from workprint.store.metadata import MetadataStore
from workprint.store.records import ApiTokenRow, AuditEntry, AuditEvent, Device, RoleGrant, SessionRow, User

__all__ = ["ROLES", "Identity", "Principal", "Session", "check_password", "check_username", "require_admin"]

ROLES = ("participant", "steward", "researcher", "auditor", "admin")
SIGN_IN_ACTIONS = frozenset({"login.success", "login.failure", "login.limited", "logout"})
SESSION_TTL_S = 12 * 3600
API_TOKEN_TTL_S = 90 * 86400
_MAX_TOKEN_DEPTH = 16  # tokens minted by tokens minted by ...: deeper chains are refused
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,99}")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, passed to every domain call.

    ``kind`` is ``public`` (nobody in particular), ``device`` (an enrolled device, acting for ``participant_id``),
    ``user`` (an account with ``roles``) or ``system`` (a local operator command holding the database, e.g. the CLI).
    ``token_id`` is the API token a ``user`` authenticated with (None for a session): tokens it mints die with it.
    """

    kind: Literal["public", "device", "user", "system"]
    id: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    participant_id: str | None = None
    device: Device | None = None
    token_id: str | None = field(default=None, compare=False)  # the same caller, by whichever token

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return "public" if self.kind == "public" else f"{self.kind}:{self.id}"

    def has(self, role: str) -> bool:
        """True when the caller holds ``role``."""
        return role in self.roles

    @classmethod
    def system(cls, name: str, *roles: str) -> Principal:
        """A local operator command (``workprint admin …``) acting with ``roles``."""
        return cls("system", name, frozenset(roles))


@dataclass(frozen=True, slots=True)
class Session:
    """A web session: ``token`` goes in the cookie, ``csrf_token`` in every form post. Shown once."""

    token: str
    csrf_token: str
    user_id: str
    expires_at: int


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def require_admin(actor: Principal, what: str) -> None:
    """Refuse anyone but an admin (``Forbidden``, naming ``what``)."""
    if not actor.has("admin"):
        raise Forbidden(f"{what}: requires the admin role")


def check_username(username: str) -> str:
    """The normalised username; ``BadRequest`` naming it when malformed."""
    username = username.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise BadRequest(f"username: expected 1 to 100 of a-z 0-9 . _ @ -, got {username!r}")
    return username


def check_password(password: str, field: str = "password") -> None:
    """``BadRequest`` naming ``field`` unless the password has 12 to 1024 characters (never echoing it)."""
    if not 12 <= len(password) <= 1024:
        raise BadRequest(f"{field}: expected 12 to 1024 characters, got {len(password)}")


def _principal(user: User) -> Principal:
    return Principal("user", user.id, frozenset(user.roles), user.participant_id)


class Identity:
    """Accounts, sessions and API tokens over the metadata store; every security event goes to ``audit``."""

    def __init__(
        self, store: MetadataStore, audit: AuditLog, *, clock: Callable[[], int] = time.time_ns,
        session_ttl_s: int = SESSION_TTL_S, hasher: PasswordHasher | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.accounts = AccountStore(store)
        self.duties = DutyStore(store)
        self.audit = audit
        self._clock = clock
        self.session_ttl_s = session_ttl_s
        self._hasher = hasher or PasswordHasher()  # argon2id, RFC 9106 low-memory profile
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    def now(self) -> int:
        """The identity's clock, in nanoseconds."""
        return self._clock()

    def hash_password(self, password: str) -> str:
        """An argon2id hash of ``password``."""
        return self._hasher.hash(password)

    # -- accounts -------------------------------------------------------------------------------------------------

    def add_user(
        self, actor: Principal, username: str, password: str | None, roles: Iterable[str],
        participant_id: str | None = None,
    ) -> User:  # fmt: skip
        """Create a staff account (admins only). Steward, auditor and admin roles are only requested: each is in
        force once a second admin approves it (``approve_role``), except the very first admin, created by a local
        operator command on a database without one. Participant accounts are never made here: each participant
        claims their own (``server.claims``), so that no admin knows or sets a participant's credentials."""
        require_admin(actor, "accounts")
        username = check_username(username)
        wanted = tuple(sorted(set(roles)))
        unknown = [r for r in wanted if r not in ROLES]
        if not wanted or unknown:
            raise BadRequest(f"roles: expected some of {', '.join(ROLES)}, got {', '.join(wanted) or 'none'}")
        if "participant" in wanted or participant_id is not None:
            raise BadRequest(
                "roles: participant accounts are claimed by the participant with the code their device shows, "
                f"never created by an admin, got {', '.join(wanted)}"
                + ("" if participant_id is None else f" for participant {participant_id!r}")
            )
        why = duties.conflict(wanted)
        if why:
            raise BadRequest(why)
        if password is not None:
            check_password(password)
        pw_hash = None if password is None else self._hasher.hash(password)
        now = self._clock()
        bootstrap = actor.kind == "system" and wanted == ("admin",) and not self._any_admin()
        now_roles = wanted if bootstrap else tuple(r for r in wanted if r not in duties.PRIVILEGED)
        # The first admin is the installation's own: "bootstrap", so the local command that made it may still ask it
        # to approve the second admin.
        user = User(uuid.uuid4().hex, username, pw_hash, now_roles, None, now,
                    created_by="bootstrap" if bootstrap else actor.actor)  # fmt: skip
        pending = [] if bootstrap else [
            RoleGrant(uuid.uuid4().hex, user.id, r, actor.actor, now) for r in wanted if r in duties.PRIVILEGED
        ]  # fmt: skip
        detail: dict[str, Any] = {"roles": list(now_roles), "pending": {g.role: f"role_grant:{g.id}" for g in pending}}
        if bootstrap:
            detail["bootstrap"] = True
        self.accounts.add_user(user, AuditEvent(actor.actor, "account.create", f"user:{user.id}", detail), pending)
        return user

    def _any_admin(self) -> bool:
        return any("admin" in u.roles for u in self.accounts.users()) or any(
            g.role == "admin" and g.cancelled_at is None for g in self.duties.role_grants()
        )

    def request_role(self, actor: Principal, user_id: str, role: str) -> RoleGrant:
        """Ask for a steward, auditor or admin role for an existing staff account (admins); a second admin approves.
        A researcher role, which reads only released data, is given at once."""
        require_admin(actor, "roles")
        user = self.accounts.user(user_id)
        if user is None:
            raise NotFound(f"user {user_id!r}: not found")
        if role not in ROLES or role == "participant" or user.participant_id is not None:
            raise BadRequest(f"role: expected one of steward, researcher, auditor, admin for a staff account, "
                             f"got {role!r}")  # fmt: skip
        pending = {g.role for g in self.duties.role_grants(user_id) if g.approved_at is None and g.cancelled_at is None}
        why = duties.conflict({*user.roles, *pending, role})
        if why:
            raise BadRequest(why)
        if role in user.roles or role in pending:
            raise Conflict(f"role {role!r}: already held or requested for user {user_id}")
        now = self._clock()
        g = RoleGrant(uuid.uuid4().hex, user_id, role, actor.actor, now)
        detail = {"role": role, "user": f"user:{user_id}"}
        if role not in duties.PRIVILEGED:
            g = replace(g, approved_by=actor.actor, approved_at=now)
        self.duties.add_role_grant(g, AuditEvent(actor.actor, "role.request", f"role_grant:{g.id}", detail))
        return g

    def role_grants(self, actor: Principal) -> list[RoleGrant]:
        """Every role grant, oldest first (admins)."""
        require_admin(actor, "roles")
        return self.duties.role_grants()

    def approve_role(self, actor: Principal, grant_id: str) -> RoleGrant:
        """Approve another admin's role request: the approver is a signed-in admin who is not the requester, not the
        account it promotes, and was neither created nor promoted by the requester."""
        if actor.kind != "user":
            raise Forbidden("roles: only a signed-in admin may approve a role, not a local command")
        require_admin(actor, "roles")
        g = next((x for x in self.duties.role_grants() if x.id == grant_id), None)
        if g is None:
            raise NotFound(f"role grant {grant_id!r}: not found")
        me = self.accounts.user(actor.id)
        assert me is not None
        why = "an account cannot approve its own role" if g.user_id == actor.id else duties.not_independent(
            me, self.duties.role_grants(me.id), g.requested_by
        )  # fmt: skip
        if why:
            raise Forbidden(f"role grant {grant_id}: {why}")
        target = self.accounts.user(g.user_id)
        assert target is not None
        clash = duties.conflict({*target.roles, g.role})
        if clash:
            raise Conflict(clash)
        detail = {"role": g.role, "user": f"user:{g.user_id}", "requested_by": g.requested_by}
        now = self._clock()
        if not self.duties.approve_role_grant(grant_id, actor.actor, now, AuditEvent(
            actor.actor, "role.approve", f"role_grant:{g.id}", detail
        )):  # fmt: skip
            raise Conflict(f"role grant {grant_id}: already approved or cancelled")
        return replace(g, approved_by=actor.actor, approved_at=now)

    def change_password(self, actor: Principal, old: str, new: str, session_token: str = "") -> None:
        """Change one's own password: the old one is checked, and every session and API token is revoked but the
        one making the change (``session_token``, or the caller's API token)."""
        if actor.kind != "user":
            raise Forbidden("password: only a signed-in account may change its password")
        user = self.accounts.user(actor.id)
        assert user is not None
        ok = False
        if user.password_hash is not None:
            with contextlib.suppress(VerificationError, InvalidHashError):
                ok = self._hasher.verify(user.password_hash, old)
        if not ok:
            self.audit.append(AuditEvent(actor.actor, "account.password_failure", f"user:{user.id}"))
            raise Unauthorized("old_password: not this account's password")
        check_password(new, "new_password")
        audit = AuditEvent(actor.actor, "account.password", f"user:{user.id}")
        keep = _sha256(session_token) if session_token and actor.token_id is None else ""
        self.duties.set_password(user.id, self._hasher.hash(new), self._clock(), audit, keep, actor.token_id or "")

    def sign_ins(self, actor: Principal) -> list[AuditEntry]:
        """Every sign-in, failed sign-in, sign-out, password change, claim and recovery of the caller's own account,
        newest first, from the audit log."""
        if actor.kind != "user":
            raise Forbidden("sign-ins: only a signed-in account has them")
        mine = {f"user:{actor.id}"} | ({f"participant:{actor.participant_id}"} if actor.participant_id else set())
        return [
            e for e in reversed(self.store.audit_entries())
            if e.subject in mine and (e.action in SIGN_IN_ACTIONS or e.action.startswith("account."))
        ]  # fmt: skip

    # -- sessions -------------------------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Session:
        """Check a password and open a session; any failure is the same ``Unauthorized`` (and is audited)."""
        user = self.accounts.user_by_name(username.strip().lower())
        ok = False
        if user is None or user.password_hash is None:
            with contextlib.suppress(VerificationError):
                self._hasher.verify(self._dummy_hash, password)  # same cost as a real check: no username oracle
        else:
            try:
                ok = self._hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                ok = False
        if user is None or not ok or user.disabled_at is not None:
            reason = "unknown account" if user is None else "disabled" if user.disabled_at else "bad password"
            subject = "user:unknown" if user is None else f"user:{user.id}"
            self.audit.append(AuditEvent("public", "login.failure", subject, {"reason": reason}))
            raise Unauthorized("login: unknown username or wrong password")
        if self._hasher.check_needs_rehash(user.password_hash or ""):
            self.accounts.set_password_hash(user.id, self._hasher.hash(password))
        return self.open_session(user.id, {})

    def note_limited(self, username: str, limit: str) -> None:
        """Audit that sign-ins for ``username`` are being refused by a rate limit (``limit`` says which)."""
        user = self.accounts.user_by_name(username.strip().lower())
        subject = "user:unknown" if user is None else f"user:{user.id}"
        self.audit.append(AuditEvent("public", "login.limited", subject, {"limit": limit}))

    def open_session(self, user_id: str, detail: dict[str, str]) -> Session:
        """Open a session for an account whose sign-in was already checked (password or single sign-on).

        The ``login.success`` audit entry, with ``detail``, commits with the session row.
        """
        now = self._clock()
        token, csrf = "wps_" + secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + self.session_ttl_s * 1_000_000_000
        row = SessionRow(_sha256(token), user_id, csrf, now, expires)
        self.accounts.add_session(row, AuditEvent(f"user:{user_id}", "login.success", f"user:{user_id}", detail))
        return Session(token, csrf, user_id, expires)

    def _open_session(self, token: str) -> tuple[SessionRow, User]:
        row = self.accounts.session(_sha256(token)) if token else None
        if row is None or row.ended_at is not None or row.expires_at <= self._clock():
            raise Unauthorized("session: unknown, expired or ended; sign in again")
        user = self.accounts.user(row.user_id)
        if user is None or user.disabled_at is not None:
            raise Unauthorized("session: the account is disabled")
        return row, user

    def principal_from_session(self, token: str) -> Principal:
        """The account behind a session token; ``Unauthorized`` when unknown, expired or ended."""
        return _principal(self._open_session(token)[1])

    def check_csrf(self, token: str, csrf_token: str) -> None:
        """Refuse a form post whose CSRF token is not the session's (compared in constant time)."""
        row, _ = self._open_session(token)
        if not csrf_token or not hmac.compare_digest(row.csrf_token.encode(), csrf_token.encode()):
            raise Forbidden("csrf_token: missing or not this session's")

    def logout(self, token: str) -> None:
        """End a session (idempotent)."""
        row = self.accounts.session(_sha256(token)) if token else None
        if row is not None:
            audit = AuditEvent(f"user:{row.user_id}", "logout", f"user:{row.user_id}")
            self.accounts.end_session(row.token_hash, self._clock(), audit)

    # -- API tokens -----------------------------------------------------------------------------------------------

    def create_api_token(self, actor: Principal, name: str, ttl_s: int = API_TOKEN_TTL_S) -> str:
        """A bearer token acting as ``actor``'s account for non-browser clients; shown once, stored hashed.

        A token minted with an API token (``actor.token_id``) is its child: it expires no later than its parent and
        is refused once its parent (or any ancestor) is revoked or expired, so revoking a leaked token revokes
        whatever was minted with it.
        """
        if actor.kind != "user":
            raise Forbidden("api token: only a signed-in account may create one")
        if not 1 <= len(name.strip()) <= 200:
            raise BadRequest(f"name: expected 1 to 200 characters, got {name!r}")
        if not 0 < ttl_s <= API_TOKEN_TTL_S:
            raise BadRequest(f"ttl_s: expected 1 to {API_TOKEN_TTL_S} seconds, got {ttl_s!r}")
        token, now = "wpt_" + secrets.token_urlsafe(32), self._clock()
        expires = now + ttl_s * 1_000_000_000
        detail: dict[str, str] = {}
        if actor.token_id is not None:
            parent = self._live_token(self.accounts.api_token_by_id(actor.token_id))
            expires, detail = min(expires, parent.expires_at), {"parent": f"api_token:{parent.id}"}
        row = ApiTokenRow(_sha256(token), uuid.uuid4().hex, actor.id, name.strip(), now, expires,
                          parent_id=actor.token_id)  # fmt: skip
        self.accounts.add_api_token(row, AuditEvent(actor.actor, "api_token.create", f"api_token:{row.id}", detail))
        return token

    def api_tokens(self, actor: Principal, user_id: str | None = None) -> list[ApiTokenRow]:
        """API tokens of ``user_id`` (default: the caller's own), newest first; another account's for admins only."""
        owner = user_id or actor.id
        if owner != actor.id and not actor.has("admin"):
            raise Forbidden("api tokens: only an admin may list another account's tokens")
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(t.api_tokens).where(t.api_tokens.c.user_id == owner).order_by(t.api_tokens.c.created_at.desc())
            ).mappings()
            return [ApiTokenRow(**dict(r)) for r in rows]

    def revoke_api_token(self, actor: Principal, token_id: str) -> ApiTokenRow:
        """Revoke an API token by id: one's own, or any account's as an admin; audited, and idempotent.

        Another account's token is ``NotFound`` to a non-admin, so that ids of others' tokens cannot be probed.
        """
        row = self.accounts.api_token_by_id(token_id)
        if row is None or (row.user_id != actor.id and not actor.has("admin")):
            raise NotFound(f"api token {token_id!r}: not found")
        if row.revoked_at is not None:
            return row
        now = self._clock()
        detail = {"owner": f"user:{row.user_id}"}
        self.accounts.revoke_api_token(token_id, now, AuditEvent(actor.actor, "api_token.revoke",
                                                                 f"api_token:{token_id}", detail))  # fmt: skip
        return replace(row, revoked_at=now)

    def principal_from_api_token(self, token: str) -> Principal:
        """The account behind an API token; ``Unauthorized`` when it or a token it was minted with is unknown,
        expired or revoked."""
        row = self._live_token(self.accounts.api_token(_sha256(token)) if token else None)
        user = self.accounts.user(row.user_id)
        if user is None or user.disabled_at is not None:
            raise Unauthorized("api token: the account is disabled")
        return replace(_principal(user), token_id=row.id)

    def _live_token(self, row: ApiTokenRow | None) -> ApiTokenRow:
        # Each ancestor is checked too: revocation also marks descendants, but a child minted while its parent was
        # being revoked could miss that; it cannot miss this walk.
        now, first, seen = self._clock(), row, 0
        while row is not None and row.revoked_at is None and row.expires_at > now and seen < _MAX_TOKEN_DEPTH:
            if row.parent_id is None:
                assert first is not None
                return first
            row, seen = self.accounts.api_token_by_id(row.parent_id), seen + 1
        raise Unauthorized("api token: unknown, expired or revoked")
