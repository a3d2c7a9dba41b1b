"""Storage for separation of duties: role grants awaiting a second admin, participants' claims on their accounts,
and the revocation of every credential of an account.

Storage only: the rules are ``server.duties`` and ``server.claims``. Every change commits with its audit entry.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from workprint.store import tables as t
from workprint.store.metadata import MetadataStore, append_audit
from workprint.store.records import AuditEvent, RoleGrant

__all__ = ["Claim", "DutyStore", "insert_role_grant", "revoke_credentials"]

Claim = RowMapping  # a row of ``account_claims``


def insert_role_grant(conn: Connection, g: RoleGrant) -> None:
    """Insert a pending role grant inside the caller's transaction."""
    conn.execute(insert(t.role_grants).values(
        id=g.id, user_id=g.user_id, role=g.role, requested_by=g.requested_by, requested_at=g.requested_at,
    ))  # fmt: skip


def revoke_credentials(
    conn: Connection, user_id: str, now: int, *, sign_on: bool = True, keep_session: str = "", keep_token: str = ""
) -> None:
    """End every session and revoke every API token of an account (but the session hashed ``keep_session`` and the
    token ``keep_token``: the caller's own) and, with ``sign_on``, drop its single sign-on links (in ``conn``). Sign-on
    logins under way that would link a subject to the account are dropped too: a session that was just revoked may
    have started one."""
    s, a = t.sessions.c, t.api_tokens.c
    conn.execute(update(t.sessions).where(s.user_id == user_id, s.ended_at.is_(None), s.token_hash != keep_session)
                 .values(ended_at=now))  # fmt: skip
    conn.execute(update(t.api_tokens).where(a.user_id == user_id, a.revoked_at.is_(None), a.id != keep_token)
                 .values(revoked_at=now))  # fmt: skip
    conn.execute(delete(t.oidc_pending).where(t.oidc_pending.c.link_user_id == user_id))
    if sign_on:
        conn.execute(delete(t.oidc_identities).where(t.oidc_identities.c.user_id == user_id))


class DutyStore:
    """Role grants and account claims over a ``MetadataStore``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # -- role grants ----------------------------------------------------------------------------------------------

    def role_grants(self, user_id: str | None = None) -> list[RoleGrant]:
        """Role grants (of ``user_id``, or all), oldest first."""
        c = t.role_grants.c
        q = select(t.role_grants).order_by(c.requested_at, c.id)
        if user_id is not None:
            q = q.where(c.user_id == user_id)
        with self.store.engine.connect() as conn:
            return [RoleGrant(**dict(r)) for r in conn.execute(q).mappings()]

    def add_role_grant(self, g: RoleGrant, audit: AuditEvent) -> None:
        """Store a role grant for an existing account (pending, or approved at once for a researcher role)."""

        def fn(conn: Connection) -> None:
            insert_role_grant(conn, g)
            if g.approved_at is not None:
                c = t.role_grants.c
                conn.execute(update(t.role_grants).where(c.id == g.id).values(approved_by=g.approved_by,
                                                                              approved_at=g.approved_at))  # fmt: skip
                roles = conn.execute(select(t.users.c.roles).where(t.users.c.id == g.user_id)).scalar_one()
                new = sorted(set(roles) | {g.role})
                conn.execute(update(t.users).where(t.users.c.id == g.user_id).values(roles=new))
            append_audit(conn, audit, g.requested_at)

        self.store.write(fn)

    def approve_role_grant(self, grant_id: str, approver: str, now: int, audit: AuditEvent) -> bool:
        """Approve a pending grant and add its role to the account, in one transaction; False when not pending."""

        def fn(conn: Connection) -> bool:
            c = t.role_grants.c
            n = conn.execute(
                update(t.role_grants)
                .where(c.id == grant_id, c.approved_at.is_(None), c.cancelled_at.is_(None))
                .values(approved_by=approver, approved_at=now)
            ).rowcount
            if not n:
                return False
            user_id, role = conn.execute(select(c.user_id, c.role).where(c.id == grant_id)).one()
            roles = conn.execute(select(t.users.c.roles).where(t.users.c.id == user_id)).scalar_one()
            new = sorted(set(roles) | {role})
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(roles=new))
            append_audit(conn, audit, now)
            return True

        return self.store.write(fn)

    # -- claims ---------------------------------------------------------------------------------------------------

    def open_claims(self, participant_id: str) -> list[Claim]:
        """The participant's claims neither used nor revoked, oldest first."""
        c = t.account_claims.c
        q = select(t.account_claims).where(c.participant_id == participant_id, c.used_at.is_(None),
                                           c.revoked_at.is_(None)).order_by(c.opened_at)  # fmt: skip
        with self.store.engine.connect() as conn:
            return list(conn.execute(q).mappings())

    def claims(self, participant_id: str) -> list[Claim]:
        """Every claim of the participant, newest first."""
        c = t.account_claims.c
        q = select(t.account_claims).where(c.participant_id == participant_id).order_by(c.opened_at.desc())
        with self.store.engine.connect() as conn:
            return list(conn.execute(q).mappings())

    def open_claim(self, claim: dict[str, object], user_id: str | None, audit: AuditEvent) -> None:
        """Open a claim, revoking the participant's earlier open claims and, for a recovery (``user_id``), every
        credential of their account: its password, sessions, API tokens and sign-on links."""
        now = int(str(claim["opened_at"]))

        def fn(conn: Connection) -> None:
            c = t.account_claims.c
            conn.execute(update(t.account_claims).where(
                c.participant_id == claim["participant_id"], c.used_at.is_(None), c.revoked_at.is_(None),
            ).values(revoked_at=now))  # fmt: skip
            conn.execute(insert(t.account_claims).values(**claim))
            if user_id is not None:
                conn.execute(update(t.users).where(t.users.c.id == user_id).values(password_hash=None))
                revoke_credentials(conn, user_id, now, sign_on=False)
            append_audit(conn, audit, now)

        self.store.write(fn)

    def mint(self, claim_id: str, code_hash: str, device_id: str, expires_at: int, now: int, audit: AuditEvent) -> bool:
        """Give an open claim a (new) code, delivered to ``device_id``; False when it was used or revoked meanwhile."""

        def fn(conn: Connection) -> bool:
            c = t.account_claims.c
            n = conn.execute(
                update(t.account_claims)
                .where(c.id == claim_id, c.used_at.is_(None), c.revoked_at.is_(None))
                .values(code_hash=code_hash, device_id=device_id, expires_at=expires_at)
            ).rowcount
            if n:
                append_audit(conn, audit, now)
            return bool(n)

        return self.store.write(fn)

    def use(self, code_hash: str, now: int, apply: Callable[[Connection, Claim], AuditEvent]) -> bool:
        """Use the claim holding ``code_hash`` once, if open and unexpired: ``apply`` sets the account's credentials
        in the same transaction and returns the audit entry. False when there is no such claim."""

        def fn(conn: Connection) -> bool:
            c = t.account_claims.c
            n = conn.execute(
                update(t.account_claims)
                .where(c.code_hash == code_hash, c.used_at.is_(None), c.revoked_at.is_(None), c.expires_at > now)
                .values(used_at=now)
            ).rowcount
            if n != 1:
                return False
            row = conn.execute(select(t.account_claims).where(c.code_hash == code_hash)).mappings().one()
            append_audit(conn, apply(conn, row), now)
            return True

        return self.store.write(fn)

    def set_password(
        self, user_id: str, password_hash: str, now: int, audit: AuditEvent, keep_session: str, keep_token: str
    ) -> None:
        """Replace an account's password and revoke every other session and API token it had, with ``audit``."""

        def fn(conn: Connection) -> None:
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash))
            revoke_credentials(conn, user_id, now, sign_on=False, keep_session=keep_session, keep_token=keep_token)
            append_audit(conn, audit, now)

        self.store.write(fn)
