"""HTTP routes for accounts, participants' own data, grants, releases, the audit log and administration.

Each route is thin: authenticate (one dependency from ``auth``), validate a strict body, call ``Access`` or
``Identity`` with the ``Principal``, translate the result to JSON. Deciding who may do what is the domain's job.
Blocking calls run in the thread pool because the domain talks to the database synchronously.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from workprint.audit.checkpoint import Checkpoint
from workprint.audit.log import ProvenEntry
from workprint.errors import NotFound
from workprint.models import to_record
from workprint.segment import Segment
from workprint.server.auth import SESSION_COOKIE, Principal, api_of, limiter_of, public_access, user_access
from workprint.server.claims import Claims
from workprint.server.identity import ROLES, Session
from workprint.server.oidc import OidcLogin, OidcSettings
from workprint.server.signin import enrolment_done, limit_enrolment, sign_in
from workprint.store.records import AuditEntry, Grant, RoleGrant, SegmentRecord

__all__ = ["router"]

router = APIRouter(prefix="/v1")
User = Annotated[Principal, Depends(user_access)]
Public = Annotated[Principal, Depends(public_access)]
_ID = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]{1,64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class LoginRequest(_Strict):
    """``POST /v1/login``."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1024)


class TokenRequest(_Strict):
    """``POST /v1/tokens``."""

    name: str = Field(min_length=1, max_length=200)
    ttl_s: int = Field(default=30 * 86400, ge=1, le=90 * 86400)


class GrantRequest(_Strict):
    """``POST /v1/grants``."""

    purpose: str = Field(min_length=10, max_length=2000)
    scope: Literal["program", "participants"]
    participant_ids: list[Annotated[str, _ID]] = Field(default_factory=list, max_length=1000)
    duration_s: int = Field(default=3600, ge=60, le=4 * 3600)


class UserRequest(_Strict):
    """``POST /v1/admin/users``: a staff account (participants claim their own)."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=12, max_length=1024)
    roles: list[Literal["participant", "steward", "researcher", "auditor", "admin"]] = Field(
        min_length=1, max_length=len(ROLES)
    )
    participant_id: Annotated[str, _ID] | None = None  # refused: kept so the refusal names it


class RoleRequest(_Strict):
    """``POST /v1/admin/users/{user_id}/roles``."""

    role: Literal["steward", "researcher", "auditor", "admin"]


class ClaimRequest(_Strict):
    """``POST /v1/claim``."""

    code: str = Field(min_length=1, max_length=100)
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=12, max_length=1024)


class PasswordRequest(_Strict):
    """``POST /v1/me/password``."""

    old_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=12, max_length=1024)


class ParticipantRequest(_Strict):
    """``POST /v1/admin/participants``."""

    name: str = Field(min_length=1, max_length=200)


class CodeRequest(_Strict):
    """``POST /v1/admin/participants/{participant_id}/enrolment-codes``."""

    ttl_s: int = Field(default=86400, ge=60, le=30 * 86400)


# -- JSON views ---------------------------------------------------------------------------------------------------


def _segment_manifest(r: SegmentRecord) -> dict[str, Any]:
    return {
        "id": r.id, "session": r.session, "seq": r.seq, "wall_start_ns": r.wall_start_ns, "wall_end_ns": r.wall_end_ns,
        "scopes": list(r.scopes), "size": r.size, "counts": dict(r.counts), "received_at": r.received_at,
    }  # fmt: skip


def _segment(s: Segment) -> dict[str, Any]:
    h = s.header
    return {
        "header": {
            "participant": h.participant, "device": h.device, "session": h.session, "seq": h.seq,
            "wall_start_ns": h.wall_start_ns, "wall_end_ns": h.wall_end_ns, "scopes": list(h.scopes),
            "notice_version": h.notice_version, "redactor_version": h.redactor_version, "counts": dict(h.counts),
        },
        "events": [to_record(e) for e in s.events],
        "frames": {k: base64.b64encode(v).decode() for k, v in s.frames.items()},
    }  # fmt: skip


def _grant(g: Grant) -> dict[str, Any]:
    return {
        "id": g.id, "requester_id": g.requester_id, "purpose": g.purpose, "scope": g.scope,
        "participant_ids": list(g.participant_ids), "duration_s": g.duration_s, "created_at": g.created_at,
        "approver_id": g.approver_id, "approved_at": g.approved_at, "expires_at": g.expires_at,
        "revoked_at": g.revoked_at,
    }  # fmt: skip


def _entry(e: AuditEntry) -> dict[str, Any]:
    return e.to_dict()


def _proven(p: ProvenEntry) -> dict[str, Any]:
    return {"entry": _entry(p.entry), "index": p.index, "proof": list(p.proof), "checkpoint": p.checkpoint.to_dict()}


def _checkpoint(c: Checkpoint) -> dict[str, Any]:
    return c.to_dict()


# -- accounts -----------------------------------------------------------------------------------------------------


@router.post("/login")
async def login(body: LoginRequest, _: Public, request: Request, response: Response) -> dict[str, Any]:
    """Sign in: sets the session cookie and returns the CSRF token for state-changing requests."""
    s = await sign_in(request, body.username, body.password)
    return _start_session(request, response, s)


def _start_session(request: Request, response: Response, s: Session) -> dict[str, Any]:
    max_age = max(1, (s.expires_at - api_of(request).now()) // 1_000_000_000)
    response.set_cookie(SESSION_COOKIE, s.token, max_age=max_age, httponly=True, secure=True, samesite="lax", path="/")
    return {"user_id": s.user_id, "csrf_token": s.csrf_token, "expires_at": s.expires_at}


def _oidc(request: Request) -> OidcLogin:
    """The app's single sign-on (``app.state.oidc``), else one configured from ``WORKPRINT_OIDC_*``."""
    login: OidcLogin | None = getattr(request.app.state, "oidc", None)
    if login is None:
        settings = OidcSettings.from_env()
        if settings is None:
            raise NotFound("oidc: single sign-on is not configured on this server")
        api = api_of(request)
        login = request.app.state.oidc = OidcLogin(settings, api.identity, clock=api.now)
    return login


def _limit_sign_in(request: Request) -> None:
    limiter, limits = limiter_of(request)
    limiter.take(f"oidc:{request.client.host if request.client else '-'}", limits.login_rate, limits.login_burst)


@router.get("/auth/oidc/login")
async def oidc_login(_: Public, request: Request) -> Response:
    """Start single sign-on: a redirect to the provider with state, nonce and a PKCE challenge."""
    _limit_sign_in(request)
    url = await run_in_threadpool(_oidc(request).start)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.post("/auth/oidc/link")
async def oidc_link(who: User, request: Request) -> Response:
    """A signed-in participant binds their own single sign-on: a redirect to the provider, whose callback links the
    subject it returns to the caller's account (an admin cannot link a participant's account)."""
    _limit_sign_in(request)
    sso = _oidc(request)
    url = await run_in_threadpool(sso.start, who)
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


_CallbackParam = Annotated[str, Query(max_length=2048)]


@router.get("/auth/oidc/callback")
async def oidc_callback(
    _: Public, request: Request, response: Response, state: _CallbackParam = "", code: _CallbackParam = "",
    error: _CallbackParam = "",
) -> Any:  # fmt: skip
    """Finish single sign-on: sets the same session cookie as ``/login`` and returns the CSRF token."""
    _limit_sign_in(request)
    sso = _oidc(request)
    s = await run_in_threadpool(sso.finish, state, code, error)
    if sso.settings.after_login_url:  # a browser: on to the portal, signed in
        to = RedirectResponse(sso.settings.after_login_url, status_code=303, headers={"Cache-Control": "no-store"})
        _start_session(request, to, s)
        return to
    response.headers["Cache-Control"] = "no-store"
    return _start_session(request, response, s)


@router.post("/logout", status_code=204)
async def logout(_: User, request: Request, response: Response) -> None:
    """End the cookie's session."""
    await run_in_threadpool(api_of(request).identity.logout, request.cookies.get(SESSION_COOKIE, ""))
    response.delete_cookie(SESSION_COOKIE, httponly=True, secure=True, samesite="lax", path="/")


@router.get("/me")
def me(who: User) -> dict[str, Any]:
    """The caller's account id, roles and participant id (if any)."""
    return {"user_id": who.id, "roles": sorted(who.roles), "participant_id": who.participant_id}


@router.post("/claim", status_code=201)
async def claim(body: ClaimRequest, _: Public, request: Request, response: Response) -> dict[str, Any]:
    """A participant claims their account with the code their device shows, choosing username and password; signs
    them in (limited per address like enrolment)."""
    limit_enrolment(request)
    api = api_of(request)
    user = await run_in_threadpool(Claims(api.identity).claim, body.code, body.username, body.password)
    enrolment_done(request)
    s = await run_in_threadpool(api.identity.open_session, user.id, {"method": "claim"})
    return {**_start_session(request, response, s), "username": user.username}


@router.post("/me/password", status_code=204)
def change_password(body: PasswordRequest, who: User, request: Request) -> None:
    """Change one's own password; every other session and API token of the account is revoked."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    api_of(request).identity.change_password(who, body.old_password, body.new_password, cookie)


@router.get("/me/sign-ins")
def my_sign_ins(who: User, request: Request) -> dict[str, Any]:
    """Every sign-in (and failed one), sign-out, password change, claim and recovery of the caller's account."""
    return {"sign_ins": [_entry(e) for e in api_of(request).identity.sign_ins(who)]}


@router.get("/me/claims")
def my_claims(who: User, request: Request) -> dict[str, Any]:
    """The caller's account claims and admins' recoveries of it (never a code)."""
    return {"claims": Claims(api_of(request).identity).claims(who)}


@router.post("/tokens", status_code=201)
def create_token(body: TokenRequest, who: User, request: Request) -> dict[str, str]:
    """An API token for a non-browser client, shown once."""
    identity = api_of(request).identity
    token = identity.create_api_token(who, body.name, body.ttl_s)
    row = identity.accounts.api_token(hashlib.sha256(token.encode()).hexdigest())
    assert row is not None
    return {"token": token, "id": row.id}


@router.get("/tokens")
def list_tokens(who: User, request: Request) -> dict[str, Any]:
    """The caller's own API tokens (never their secrets)."""
    rows = api_of(request).identity.api_tokens(who)
    return {"tokens": [{k: v for k, v in dataclasses.asdict(r).items() if k != "token_hash"} for r in rows]}


@router.post("/tokens/{token_id}/revoke", status_code=204)
def revoke_token(token_id: str, who: User, request: Request) -> None:
    """Revoke an API token: one's own, or any account's as an admin (audited)."""
    api_of(request).identity.revoke_api_token(who, token_id)


# -- participants: their own data ---------------------------------------------------------------------------------


@router.get("/me/segments")
def my_segments(who: User, request: Request) -> dict[str, Any]:
    """The caller's own segments."""
    return {"segments": [_segment_manifest(r) for r in api_of(request).access.my_segments(who)]}


@router.get("/me/segments/{segment_id}")
def my_segment(segment_id: str, who: User, request: Request) -> dict[str, Any]:
    """One of the caller's segments, decrypted (the read is audited)."""
    return _segment(api_of(request).access.read_my_segment(who, segment_id))


@router.get("/me/accesses")
def my_accesses(who: User, request: Request) -> dict[str, Any]:
    """Every access to the caller's data, each with its inclusion proof and checkpoint."""
    api = api_of(request)
    proven = api.access.my_accesses(who)
    return {"public_key": bytes(api.audit_log.verify_key).hex(), "accesses": [_proven(p) for p in proven]}


@router.get("/me/grants")
def my_grants(who: User, request: Request) -> dict[str, Any]:
    """Every grant whose scope includes the caller."""
    return {"grants": [_grant(g) for g in api_of(request).access.my_grants(who)]}


# -- stewards: grants ---------------------------------------------------------------------------------------------


@router.post("/grants", status_code=201)
def request_grant(body: GrantRequest, who: User, request: Request) -> dict[str, Any]:
    """Request raw access with a purpose, scope and duration; a second steward must approve it."""
    access = api_of(request).access
    g = access.request_grant(who, body.purpose, body.scope, tuple(body.participant_ids), body.duration_s)
    return _grant(g)


@router.get("/grants")
def list_grants(who: User, request: Request) -> dict[str, Any]:
    """Every grant."""
    return {"grants": [_grant(g) for g in api_of(request).access.grants(who)]}


@router.post("/grants/{grant_id}/approve")
def approve_grant(grant_id: str, who: User, request: Request) -> dict[str, Any]:
    """Approve another steward's grant."""
    return _grant(api_of(request).access.approve_grant(who, grant_id))


@router.get("/grants/{grant_id}/segments")
def grant_segments(grant_id: str, who: User, request: Request) -> dict[str, Any]:
    """Segments an active grant of the caller's covers."""
    return {"segments": [_segment_manifest(r) for r in api_of(request).access.grant_segments(who, grant_id)]}


@router.get("/grants/{grant_id}/segments/{segment_id}")
def grant_segment(grant_id: str, segment_id: str, who: User, request: Request) -> dict[str, Any]:
    """A segment decrypted under an active grant (audited with the grant)."""
    return _segment(api_of(request).access.read_with_grant(who, grant_id, segment_id))


# -- researchers, auditors ----------------------------------------------------------------------------------------


@router.get("/releases")
def releases(who: User, request: Request) -> dict[str, Any]:
    """Dataset releases."""
    return {"releases": api_of(request).access.releases(who)}


@router.get("/audit/public-key")
def audit_public_key(_: Public, request: Request) -> dict[str, str]:
    """The Ed25519 key that verifies checkpoints (anyone may check a proof)."""
    return {"public_key": bytes(api_of(request).audit_log.verify_key).hex()}


@router.get("/audit/checkpoint")
def audit_head(_: Public, request: Request, since: Annotated[int, Query(ge=0, le=2**62)] = 0) -> dict[str, Any]:
    """The newest signed checkpoint, the key that verifies it and, for a holder of the checkpoint of size ``since``,
    the consistency proof that the newest extends it (what devices and witnesses check at each look)."""
    log = api_of(request).audit_log
    cp, proof = log.head(since)
    return {"checkpoint": cp.to_dict(), "public_key": bytes(log.verify_key).hex(), "consistency": proof}


@router.get("/audit/entries")
def audit_entries(who: User, request: Request, after: Annotated[int, Query(ge=0, le=2**62)] = 0) -> dict[str, Any]:
    """Audit entries after ``after``."""
    return {"entries": [_entry(e) for e in api_of(request).access.audit_entries(who, after)]}


@router.get("/audit/checkpoints")
def audit_checkpoints(
    who: User,
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """Signed checkpoints in the order they were made, a page at a time (one is signed with every append):
    ``after`` skips that many, ``next`` is the ``after`` of the next page (null on the last)."""
    cps = api_of(request).access.checkpoints(who)
    end = after + limit
    return {"checkpoints": [_checkpoint(c) for c in cps[after:end]], "next": end if len(cps) > end else None}


@router.post("/audit/checkpoints", status_code=201)
def audit_checkpoint_now(who: User, request: Request) -> dict[str, Any]:
    """Sign a checkpoint now."""
    return _checkpoint(api_of(request).access.checkpoint_now(who))


@router.get("/audit/verify")
def audit_verify(who: User, request: Request) -> dict[str, Any]:
    """Verify the whole log against every checkpoint."""
    v = api_of(request).access.verify(who)
    return {"ok": v.ok, "entries": v.entries, "checkpoints": v.checkpoints, "problems": list(v.problems)}


# -- admins -------------------------------------------------------------------------------------------------------


@router.post("/admin/users", status_code=201)
def add_user(body: UserRequest, who: User, request: Request) -> dict[str, Any]:
    """Create an account."""
    identity = api_of(request).identity
    u = identity.add_user(who, body.username, body.password, body.roles, body.participant_id)
    pending = [_role_grant(g) for g in identity.duties.role_grants(u.id)]
    return {"user_id": u.id, "username": u.username, "roles": list(u.roles), "pending": pending}


def _role_grant(g: RoleGrant) -> dict[str, Any]:
    return dataclasses.asdict(g)


@router.post("/admin/users/{user_id}/roles", status_code=201)
def request_role(user_id: str, body: RoleRequest, who: User, request: Request) -> dict[str, Any]:
    """Ask for a role for a staff account; steward, auditor and admin wait for a second admin's approval."""
    return _role_grant(api_of(request).identity.request_role(who, user_id, body.role))


@router.get("/admin/role-grants")
def role_grants(who: User, request: Request) -> dict[str, Any]:
    """Every role grant, pending or approved."""
    return {"role_grants": [_role_grant(g) for g in api_of(request).identity.role_grants(who)]}


@router.post("/admin/role-grants/{grant_id}/approve")
def approve_role(grant_id: str, who: User, request: Request) -> dict[str, Any]:
    """Approve another admin's role request (the approver was not created or promoted by the requester)."""
    return _role_grant(api_of(request).identity.approve_role(who, grant_id))


@router.post("/admin/participants/{participant_id}/recovery", status_code=201)
def recover(participant_id: str, who: User, request: Request) -> dict[str, str]:
    """Revoke every credential of a participant's account and open a new claim; its code goes to the participant's
    device, never to the admin."""
    return {"claim_id": Claims(api_of(request).identity).recover(who, participant_id)}


@router.post("/admin/participants", status_code=201)
def add_participant(body: ParticipantRequest, who: User, request: Request) -> dict[str, str]:
    """Create a participant."""
    return {"participant_id": api_of(request).access.create_participant(who, body.name)}


@router.post("/admin/participants/{participant_id}/enrolment-codes", status_code=201)
def add_code(participant_id: str, body: CodeRequest, who: User, request: Request) -> dict[str, str]:
    """A one-time enrolment code for a participant's device."""
    return {"code": api_of(request).access.create_enrolment_code(who, participant_id, body.ttl_s)}


@router.post("/admin/devices/{device_id}/revoke", status_code=204)
def revoke_device(device_id: str, who: User, request: Request) -> None:
    """Revoke a device's token."""
    api_of(request).access.revoke_device(who, device_id)
