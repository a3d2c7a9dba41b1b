"""Company single sign-on: OpenID Connect authorization code flow with PKCE (authlib), ending in a local session.

``OidcLogin.start`` keeps a random ``state``, ``nonce`` and PKCE verifier in the database (only the state's SHA-256
as key) and returns the provider's authorization URL, which carries the state, the nonce and the S256 challenge.
``OidcLogin.finish`` consumes the state once, exchanges the code with the verifier, verifies the ID token's
signature against the provider's JWKS, its issuer, audience, nonce and expiry, maps a claim (``groups`` by default)
to local roles, finds or creates the local account and opens the same session as a password login.

Refused, and audited as ``login.failure``: an unknown, expired or replayed state; a code the provider refuses; an ID
token that fails verification; an account with no mapped role; a participant nobody linked. Participants are never
created from a claim: an admin links the provider's subject to the participant's account (``link``).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.integrations.base_client import OAuthError  # type: ignore[import-untyped]
from authlib.integrations.httpx_client import OAuth2Client  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from workprint.audit.log import AuditLog
from workprint.errors import BadRequest, ConfigError, Conflict, Forbidden, NotFound, Unauthorized
from workprint.server import duties
from workprint.server.identity import ROLES, Identity, Principal, Session
from workprint.store import tables as t
from workprint.store.metadata import append_audit
from workprint.store.records import AuditEvent

__all__ = ["OidcLogin", "OidcSettings", "map_roles", "verify_id_token"]

_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")  # never "none" nor HMAC
_LEEWAY_S = 60
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\s\\]*")


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """The OpenID provider and how its claims become local roles.

    ``role_map`` pairs a value of ``role_claim`` (e.g. a group name) with a local role; an account none of whose
    values is mapped is refused (the default role is none).
    """

    issuer: str
    client_id: str
    client_secret: str
    redirect_url: str
    role_claim: str = "groups"
    role_map: tuple[tuple[str, str], ...] = ()
    scope: str = "openid email profile"
    login_ttl_s: int = 600
    after_login_url: str = ""  # a local path (e.g. ``/portal/``) to send the browser to; empty: answer JSON

    def __post_init__(self) -> None:
        for name in ("issuer", "client_id", "client_secret", "redirect_url"):
            if not getattr(self, name):
                raise ConfigError(f"oidc {name}: required, got ''")
        if self.after_login_url and not _LOCAL_PATH.fullmatch(self.after_login_url):  # no open redirect
            raise ConfigError(
                f"oidc after_login_url: expected a local path such as /portal/, got {self.after_login_url!r}"
            )
        for value, role in self.role_map:
            if role not in ROLES:
                raise ConfigError(f"oidc role_map: {value!r} maps to {role!r}, expected one of {', '.join(ROLES)}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OidcSettings | None:
        """From ``WORKPRINT_OIDC_*``; None when ``WORKPRINT_OIDC_ISSUER`` is unset (single sign-on off).

        ``WORKPRINT_OIDC_ROLE_MAP`` is ``value=role,value=role`` (e.g. ``wp-stewards=steward,wp-audit=auditor``).
        """
        issuer = env.get("WORKPRINT_OIDC_ISSUER", "")
        if not issuer:
            return None
        pairs = []
        for item in filter(None, (p.strip() for p in env.get("WORKPRINT_OIDC_ROLE_MAP", "").split(","))):
            value, sep, role = item.rpartition("=")
            if not sep or not value:
                raise ConfigError(f"WORKPRINT_OIDC_ROLE_MAP: expected value=role, got {item!r}")
            pairs.append((value.strip(), role.strip()))
        return cls(
            issuer.rstrip("/"), env.get("WORKPRINT_OIDC_CLIENT_ID", ""), env.get("WORKPRINT_OIDC_CLIENT_SECRET", ""),
            env.get("WORKPRINT_OIDC_REDIRECT_URL", ""), env.get("WORKPRINT_OIDC_ROLE_CLAIM", "groups") or "groups",
            tuple(pairs), after_login_url=env.get("WORKPRINT_OIDC_AFTER_LOGIN_URL", ""),
        )  # fmt: skip


def map_roles(claims: Mapping[str, Any], claim: str, role_map: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The local roles ``claims[claim]`` (a string or a list of strings) maps to, sorted; empty when none."""
    raw = claims.get(claim, ())
    values = (
        {raw} if isinstance(raw, str) else {v for v in raw if isinstance(v, str)} if isinstance(raw, list) else set()
    )
    return tuple(sorted({role for value, role in role_map if value in values}))


def verify_id_token(
    id_token: str, jwks: Mapping[str, Any], *, issuer: str, audience: str, nonce: str, now_s: int
) -> dict[str, Any]:
    """The claims of an ID token whose signature (by a key in ``jwks``), issuer, audience, nonce and expiry hold.

    ``Unauthorized`` naming the first check that failed otherwise.
    """
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(dict(jwks)), algorithms=list(_ALGORITHMS))  # type: ignore[arg-type]
    except (JoseError, ValueError) as e:
        raise Unauthorized(f"id_token: signature not valid for the provider's keys ({type(e).__name__})") from None
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        now=now_s, leeway=_LEEWAY_S, iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience}, nonce={"essential": True, "value": nonce},
        sub={"essential": True}, exp={"essential": True},
    )  # fmt: skip
    try:
        registry.validate(claims)
    except JoseError as e:
        field = getattr(e, "claim", "") or str(e.error)
        raise Unauthorized(f"id_token: {field} claim not valid ({e.description or e.error})") from None
    return claims


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class OidcLogin:
    """Single sign-on against one provider, over ``identity``'s store and audit log."""

    def __init__(
        self, settings: OidcSettings, identity: Identity, *, clock: Callable[[], int] = time.time_ns,
        http: Callable[[], httpx.Client] = lambda: httpx.Client(timeout=10.0),
    ) -> None:  # fmt: skip
        self.settings = settings
        self.identity = identity
        self.store = identity.store
        self.audit: AuditLog = identity.audit
        self._clock = clock
        self._http = http

    # -- provider -------------------------------------------------------------------------------------------------

    def discover(self) -> dict[str, Any]:
        """The provider's metadata; ``Unauthorized`` when unreachable or for another issuer."""
        try:
            with self._http() as client:
                r = client.get(self.settings.issuer + "/.well-known/openid-configuration")
                r.raise_for_status()
                meta: dict[str, Any] = r.json()
        except (httpx.HTTPError, ValueError) as e:
            raise Unauthorized(f"oidc: the provider's configuration is unavailable ({type(e).__name__})") from None
        if meta.get("issuer") != self.settings.issuer:
            raise Unauthorized(f"oidc: the provider says issuer {meta.get('issuer')!r}, expected the configured one")
        return meta

    def _oauth(self) -> OAuth2Client:
        s = self.settings
        return OAuth2Client(
            s.client_id, s.client_secret, scope=s.scope, redirect_uri=s.redirect_url, code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic", timeout=10.0,
        )  # fmt: skip

    # -- the flow -------------------------------------------------------------------------------------------------

    def start(self, link_for: Principal | None = None) -> str:
        """Begin a login: the URL to send the browser to. State, nonce and verifier stay on the server. With
        ``link_for`` (a signed-in participant), the subject the provider returns is bound to that participant's own
        account instead: participants bind their sign-on themselves, never an admin for them."""
        link_user_id = None
        if link_for is not None:
            if link_for.kind != "user" or link_for.participant_id is None:
                raise Forbidden("oidc link: only a signed-in participant binds their own sign-on; staff are linked "
                                "by an admin")  # fmt: skip
            link_user_id = link_for.id
        meta = self.discover()
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), generate_token(64)
        now = self._clock()
        expires = now + self.settings.login_ttl_s * 1_000_000_000

        def fn(conn: Connection) -> None:
            conn.execute(t.oidc_pending.delete().where(t.oidc_pending.c.expires_at < now))  # keep the table small
            conn.execute(insert(t.oidc_pending).values(
                state_hash=_sha256(state), nonce=nonce, code_verifier=verifier, created_at=now, expires_at=expires,
                link_user_id=link_user_id,
            ))  # fmt: skip

        self.store.write(fn)
        with self._oauth() as client:
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
            )
        return str(url)

    def _refuse(self, error: Unauthorized | Forbidden | BadRequest, reason: str, user_id: str = "") -> NoReturn:
        subject = f"user:{user_id}" if user_id else "user:unknown"
        self.audit.append(AuditEvent("public", "login.failure", subject, {"method": "oidc", "reason": reason}))
        raise error

    def _consume(self, state: str) -> tuple[str, str, str | None] | None:
        now = self._clock()

        def fn(conn: Connection) -> tuple[str, str, str | None] | None:
            p = t.oidc_pending.c
            done = conn.execute(
                update(t.oidc_pending)
                .where(p.state_hash == _sha256(state), p.used_at.is_(None), p.expires_at > now)
                .values(used_at=now)
            )
            if done.rowcount != 1:
                return None
            row = conn.execute(
                select(p.nonce, p.code_verifier, p.link_user_id).where(p.state_hash == _sha256(state))
            ).one()
            return str(row.nonce), str(row.code_verifier), row.link_user_id

        return self.store.write(fn) if state else None

    def finish(self, state: str, code: str, error: str = "") -> Session:
        """Complete a login from the provider's redirect; every refusal is audited and says why in one line."""
        pending = self._consume(state)
        if pending is None:
            self._refuse(Unauthorized("state: unknown, expired or already used; start the sign-in again"), "state")
        assert pending is not None
        nonce, verifier, link_user_id = pending
        if error or not code:
            self._refuse(Unauthorized(f"oidc: the provider refused the sign-in ({error[:100] or 'no code'})"), "error")
        meta = self.discover()
        try:
            with self._oauth() as client:
                token = client.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)
            with self._http() as http:
                r = http.get(meta["jwks_uri"])
                r.raise_for_status()
                jwks = r.json()
        except (OAuthError, httpx.HTTPError, ValueError, KeyError) as e:
            detail = getattr(e, "error", "") or type(e).__name__
            self._refuse(Unauthorized(f"code: the provider refused the authorization code ({detail})"), "code")
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            self._refuse(Unauthorized("id_token: missing from the provider's token response"), "id_token")
        s = self.settings
        try:
            claims = verify_id_token(
                id_token, jwks, issuer=s.issuer, audience=s.client_id, nonce=nonce, now_s=self._clock() // 10**9
            )
        except Unauthorized as e:
            self._refuse(e, "id_token")
        if link_user_id is not None:
            return self._bind(str(link_user_id), str(claims["sub"]))
        return self._sign_in(str(claims["sub"]), map_roles(claims, s.role_claim, s.role_map))

    def _bind(self, user_id: str, subject: str) -> Session:
        """Bind ``subject`` to the participant's own account (who started this login signed in) and sign them in."""
        user = self.identity.accounts.user(user_id)
        if user is None or user.participant_id is None or user.disabled_at is not None:
            self._refuse(Unauthorized("oidc link: the account is gone or disabled"), "link", user_id)
        self._insert_link(user_id, subject, f"user:{user_id}")
        return self.identity.open_session(user_id, {"method": "oidc"})

    def _insert_link(self, user_id: str, subject: str, actor: str) -> None:
        now = self._clock()

        def fn(conn: Connection) -> None:
            conn.execute(insert(t.oidc_identities).values(
                issuer=self.settings.issuer, subject=subject, user_id=user_id, created_at=now,
            ))  # fmt: skip
            append_audit(conn, AuditEvent(actor, "account.oidc_link", f"user:{user_id}"), now)

        try:
            self.store.write(fn)
        except IntegrityError:
            raise Conflict(f"oidc link: subject or user {user_id!r} is already linked") from None

    def _sign_in(self, subject: str, mapped: tuple[str, ...]) -> Session:
        issuer = self.settings.issuer
        with self.store.engine.connect() as conn:
            i = t.oidc_identities.c
            link = conn.execute(select(i.user_id).where(i.issuer == issuer, i.subject == subject)).first()
        user = self.identity.accounts.user(str(link.user_id)) if link is not None else None
        clash = duties.conflict(mapped)
        if clash:
            self._refuse(Forbidden(f"oidc: {clash}"), "incompatible roles", user.id if user else "")
        if user is None:
            if "participant" in mapped:
                msg = (
                    "oidc: participant accounts must be linked by the participant, signed in to their claimed "
                    "account, before the first sign-in"
                )
                self._refuse(Forbidden(msg), "participant not linked")
            if not mapped:
                self._refuse(
                    Forbidden(f"oidc: no role is mapped for this account's {self.settings.role_claim!r}"), "no role"
                )
            return self.identity.open_session(self._create(subject, mapped), {"method": "oidc"})
        # Participant-ness comes from the participant's own link, never from a claim; a participant's account holds
        # no staff role (those wait for two admins); staff roles follow the provider.
        roles = ("participant",) if user.participant_id else tuple(sorted(r for r in mapped if r != "participant"))
        if user.disabled_at is not None:
            self._refuse(Unauthorized("oidc: the account is disabled"), "disabled", user.id)
        if not roles:
            self._refuse(
                Forbidden(f"oidc: no role is mapped for this account's {self.settings.role_claim!r}"),
                "no role",
                user.id,
            )
        if roles != tuple(sorted(user.roles)):
            self._set_roles(user.id, roles)
        return self.identity.open_session(user.id, {"method": "oidc"})

    def _create(self, subject: str, roles: tuple[str, ...]) -> str:
        user_id, now = uuid.uuid4().hex, self._clock()
        username = "sso-" + _sha256(f"{self.settings.issuer}\n{subject}")[:24]

        def fn(conn: Connection) -> None:
            conn.execute(insert(t.users).values(
                id=user_id, username=username, password_hash=None, roles=list(roles), participant_id=None,
                created_at=now, disabled_at=None, created_by="system:oidc",
            ))  # fmt: skip
            conn.execute(insert(t.oidc_identities).values(
                issuer=self.settings.issuer, subject=subject, user_id=user_id, created_at=now,
            ))  # fmt: skip
            detail = {"roles": list(roles), "method": "oidc"}
            append_audit(conn, AuditEvent("system:oidc", "account.create", f"user:{user_id}", detail), now)

        self.store.write(fn)
        return user_id

    def _set_roles(self, user_id: str, roles: tuple[str, ...]) -> None:
        now = self._clock()

        def fn(conn: Connection) -> None:
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(roles=list(roles)))
            detail = {"roles": list(roles), "method": "oidc"}
            append_audit(conn, AuditEvent("system:oidc", "account.roles", f"user:{user_id}", detail), now)

        self.store.write(fn)

    # -- administration -------------------------------------------------------------------------------------------

    def link(self, actor: Principal, user_id: str, subject: str) -> None:
        """Let the provider's ``subject`` sign in as the existing staff account ``user_id`` (admins only; audited).
        A participant's account is refused: the participant binds their own (``start(link_for=...)``)."""
        if not actor.has("admin"):
            raise Forbidden("oidc link: only an admin may link accounts")
        if not 1 <= len(subject) <= 255:
            raise BadRequest(f"subject: expected 1 to 255 characters, got {len(subject)}")
        user = self.identity.accounts.user(user_id)
        if user is None:
            raise NotFound(f"user {user_id!r}: not found")
        if user.participant_id is not None:  # else an admin could sign in as the participant through its provider
            raise Forbidden(f"oidc link: user {user_id} is a participant's account; only the participant binds its "
                            "sign-in")  # fmt: skip
        self._insert_link(user_id, subject, actor.actor)
