"""Accounts, web sessions, API tokens and grants in the metadata database.

Storage only: who may do what is decided in ``server.identity`` and ``server.access``. Every change goes through
``MetadataStore.write`` with its audit entry in the same transaction, so a change without its entry never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from workprint.errors import Conflict
from workprint.store import tables as t
from workprint.store.duties import insert_role_grant
from workprint.store.metadata import MetadataStore, append_audit
from workprint.store.records import ApiTokenRow, AuditEvent, Grant, RoleGrant, SessionRow, User

__all__ = ["AccountStore"]


def _user(r: RowMapping) -> User:
    return User(
        r["id"], r["username"], r["password_hash"], tuple(r["roles"]), r["participant_id"], r["created_at"],
        r["disabled_at"], r["created_by"],
    )  # fmt: skip


def _grant(r: RowMapping) -> Grant:
    d = dict(r)
    d["participant_ids"] = tuple(d["participant_ids"])
    return Grant(**d)


class AccountStore:
    """Users, sessions, API tokens and grants over a ``MetadataStore``'s database."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def _one(self, query: Any) -> RowMapping | None:
        with self.store.engine.connect() as conn:
            return conn.execute(query).mappings().first()

    # -- users ----------------------------------------------------------------------------------------------------

    def add_user(self, user: User, audit: AuditEvent, pending: Sequence[RoleGrant] = ()) -> None:
        """Insert an account with its ``pending`` role grants; ``Conflict`` when the username or participant is
        taken."""

        def fn(conn: Connection) -> None:
            conn.execute(insert(t.users).values(
                id=user.id, username=user.username, password_hash=user.password_hash, roles=list(user.roles),
                participant_id=user.participant_id, created_at=user.created_at, disabled_at=None,
                created_by=user.created_by,
            ))  # fmt: skip
            append_audit(conn, audit, user.created_at)
            for g in pending:
                insert_role_grant(conn, g)

        try:
            self.store.write(fn)
        except IntegrityError:
            raise Conflict(f"username {user.username!r}: taken, or the participant already has an account") from None

    def user(self, user_id: str) -> User | None:
        """The account with this id, or None."""
        row = self._one(select(t.users).where(t.users.c.id == user_id))
        return None if row is None else _user(row)

    def user_by_name(self, username: str) -> User | None:
        """The account with this username, or None."""
        row = self._one(select(t.users).where(t.users.c.username == username))
        return None if row is None else _user(row)

    def users(self) -> list[User]:
        """Every account, by username."""
        with self.store.engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(t.users).order_by(t.users.c.username)).mappings()]

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a stored hash (argon2 parameters were raised); not audited, the password is unchanged."""
        self.store.write(
            lambda c: c.execute(update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash))
        )

    # -- sessions -------------------------------------------------------------------------------------------------

    def add_session(self, s: SessionRow, audit: AuditEvent) -> None:
        """Store a new session with its login audit entry."""

        def fn(conn: Connection) -> None:
            conn.execute(insert(t.sessions).values(
                token_hash=s.token_hash, user_id=s.user_id, csrf_token=s.csrf_token, created_at=s.created_at,
                expires_at=s.expires_at, ended_at=None,
            ))  # fmt: skip
            append_audit(conn, audit, s.created_at)

        self.store.write(fn)

    def session(self, token_hash: str) -> SessionRow | None:
        """The session stored under ``token_hash``, or None."""
        row = self._one(select(t.sessions).where(t.sessions.c.token_hash == token_hash))
        return None if row is None else SessionRow(**dict(row))

    def end_session(self, token_hash: str, now: int, audit: AuditEvent) -> bool:
        """End a session; False when there was no open one."""

        def fn(conn: Connection) -> bool:
            c = t.sessions.c
            n = conn.execute(
                update(t.sessions).where(c.token_hash == token_hash, c.ended_at.is_(None)).values(ended_at=now)
            ).rowcount
            if n:
                append_audit(conn, audit, now)
            return bool(n)

        return self.store.write(fn)

    # -- API tokens -----------------------------------------------------------------------------------------------

    def add_api_token(self, tok: ApiTokenRow, audit: AuditEvent) -> None:
        """Store a new API token with its audit entry."""

        def fn(conn: Connection) -> None:
            conn.execute(insert(t.api_tokens).values(
                token_hash=tok.token_hash, id=tok.id, user_id=tok.user_id, name=tok.name, created_at=tok.created_at,
                expires_at=tok.expires_at, revoked_at=None, parent_id=tok.parent_id,
            ))  # fmt: skip
            append_audit(conn, audit, tok.created_at)

        self.store.write(fn)

    def api_token(self, token_hash: str) -> ApiTokenRow | None:
        """The API token stored under ``token_hash``, or None."""
        row = self._one(select(t.api_tokens).where(t.api_tokens.c.token_hash == token_hash))
        return None if row is None else ApiTokenRow(**dict(row))

    def api_token_by_id(self, token_id: str) -> ApiTokenRow | None:
        """The API token with id ``token_id``, or None."""
        row = self._one(select(t.api_tokens).where(t.api_tokens.c.id == token_id))
        return None if row is None else ApiTokenRow(**dict(row))

    def revoke_api_token(self, token_id: str, now: int, audit: AuditEvent) -> list[str]:
        """Revoke a token and every token minted from it, at any depth, with ``audit`` in the same transaction;
        returns the ids of the descendants revoked with it."""

        def fn(conn: Connection) -> list[str]:
            c = t.api_tokens.c
            family, frontier = [token_id], [token_id]
            while frontier:
                frontier = list(conn.execute(select(c.id).where(c.parent_id.in_(frontier))).scalars())
                family += frontier
            conn.execute(update(t.api_tokens).where(c.id.in_(family), c.revoked_at.is_(None)).values(revoked_at=now))
            children = family[1:]
            detail = {**audit.detail, "children": children} if children else audit.detail
            append_audit(conn, AuditEvent(audit.actor, audit.action, audit.subject, detail), now)
            return children

        return self.store.write(fn)

    # -- grants ---------------------------------------------------------------------------------------------------

    def add_grant(self, g: Grant, audit: AuditEvent) -> None:
        """Store a requested (not yet approved) grant with its audit entry."""

        def fn(conn: Connection) -> None:
            conn.execute(insert(t.grants).values(
                id=g.id, requester_id=g.requester_id, purpose=g.purpose, scope=g.scope,
                participant_ids=list(g.participant_ids), duration_s=g.duration_s, created_at=g.created_at,
            ))  # fmt: skip
            append_audit(conn, audit, g.created_at)

        self.store.write(fn)

    def approve_grant(self, grant_id: str, approver_id: str, now: int, expires_at: int, audit: AuditEvent) -> bool:
        """Approve a pending grant (one conditional UPDATE, so it is approved once); False when not pending."""

        def fn(conn: Connection) -> bool:
            c = t.grants.c
            n = conn.execute(
                update(t.grants)
                .where(c.id == grant_id, c.approved_at.is_(None), c.revoked_at.is_(None))
                .values(approver_id=approver_id, approved_at=now, expires_at=expires_at)
            ).rowcount
            if n:
                append_audit(conn, audit, now)
            return bool(n)

        return self.store.write(fn)

    def grant(self, grant_id: str) -> Grant | None:
        """The grant, or None."""
        row = self._one(select(t.grants).where(t.grants.c.id == grant_id))
        return None if row is None else _grant(row)

    def grants(self) -> list[Grant]:
        """Every grant, oldest first."""
        with self.store.engine.connect() as conn:
            q = select(t.grants).order_by(t.grants.c.created_at, t.grants.c.id)
            return [_grant(r) for r in conn.execute(q).mappings()]
