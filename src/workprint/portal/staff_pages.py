"""Steward, auditor and admin pages: grants, releases and purges, the audit log, accounts and devices.

The steward's programs and notices live in ``program_pages``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from workprint.errors import HTTPError
from workprint.portal.web import Viewer, api, form_of, page, require, viewer
from workprint.server.access import MAX_GRANT_S
from workprint.server.consent import consent_of
from workprint.server.duties import PRIVILEGED
from workprint.server.identity import ROLES
from workprint.store import tables as t

__all__ = ["router"]

router = APIRouter()
STAFF_ROLES = tuple(r for r in ROLES if r != "participant")  # participants claim their own accounts


def _as(request: Request, role: str) -> Viewer:
    v = viewer(request)
    require(v, role, f"{role} pages")
    return v


# -- stewards -----------------------------------------------------------------------------------------------------


def _grants_page(request: Request, v: Viewer, form: dict[str, str], errors: dict[str, str], status: int) -> Response:
    grants = api(request).access.grants(v.principal)
    names = {u.id: u.username for u in api(request).identity.accounts.users()}
    ctx = {"grants": grants, "names": names, "form": form, "errors": errors, "now": api(request).now(),
           "max_minutes": MAX_GRANT_S // 60}  # fmt: skip
    return page(request, "grants.html", v, ctx, status)


@router.get("/portal/steward/grants")
def grants(request: Request) -> Response:
    return _grants_page(request, _as(request, "steward"), {}, {}, 200)


@router.post("/portal/steward/grants")
async def request_grant(request: Request) -> Response:
    raw = await form_of(request)
    v = _as(request, "steward")
    form = {k: str(raw.get(k) or "") for k in ("purpose", "scope", "participant_ids", "minutes")}
    errors: dict[str, str] = {}
    purpose = form["purpose"].strip()
    if not 10 <= len(purpose) <= 2000:
        errors["purpose"] = f"purpose: expected 10 to 2000 characters, got {len(purpose)}"
    if form["scope"] not in ("program", "participants"):
        errors["scope"] = f"scope: expected program or participants, got {form['scope']!r}"
    ids = tuple(x for x in form["participant_ids"].replace(",", " ").split() if x)
    if form["scope"] == "participants" and not ids:
        errors["participant_ids"] = "participant_ids: name at least one participant id for scope participants"
    try:
        minutes = int(form["minutes"])
        if not 1 <= minutes <= MAX_GRANT_S // 60:
            raise ValueError
    except ValueError:
        errors["minutes"] = f"minutes: expected 1 to {MAX_GRANT_S // 60}, got {form['minutes']!r}"
    if not errors:
        try:
            await run_in_threadpool(api(request).access.request_grant, v.principal, purpose, form["scope"],
                                    ids if form["scope"] == "participants" else (), minutes * 60)  # fmt: skip
        except HTTPError as exc:
            field = exc.message.split(":", 1)[0] if ":" in exc.message else "purpose"
            errors[field if field in form else "participant_ids"] = exc.message
    if errors:
        return _grants_page(request, v, form, errors, 400)
    return RedirectResponse("/portal/steward/grants", status_code=303)


@router.post("/portal/steward/grants/approve")
async def approve_grant(request: Request) -> Response:
    form = await form_of(request)
    v = _as(request, "steward")
    await run_in_threadpool(api(request).access.approve_grant, v.principal, str(form.get("grant_id") or ""))
    return RedirectResponse("/portal/steward/grants", status_code=303)


@router.get("/portal/steward/releases")
def releases(request: Request) -> Response:
    v = _as(request, "steward")
    from workprint.store.lineage_tables import LineageStore, create_lineage_schema

    engine = api(request).metadata.engine
    create_lineage_schema(engine)
    rows = LineageStore(engine).releases_of()
    erasures = consent_of(api(request)).erasure_requests()
    return page(request, "releases.html", v, {"releases": rows, "erasures": erasures})


# -- auditors -----------------------------------------------------------------------------------------------------


@router.get("/portal/audit")
def audit(request: Request, q: str = "", action: str = "") -> Response:
    v = _as(request, "auditor")
    a = api(request)
    entries = a.access.audit_entries(v.principal)
    actions = sorted({e.action for e in entries})
    needle = q.strip().lower()
    shown = [e for e in entries if (not action or e.action == action)
             and (not needle or needle in f"{e.actor} {e.action} {e.subject} {e.detail}".lower())]  # fmt: skip
    shown.reverse()
    verification = a.access.verify(v.principal)
    ctx = {"entries": shown[:500], "total": len(entries), "matched": len(shown), "q": q, "action": action,
           "actions": actions, "v": verification, "checkpoints": a.access.checkpoints(v.principal)[-5:]}  # fmt: skip
    return page(request, "audit.html", v, ctx)


@router.post("/portal/audit/checkpoint")
async def checkpoint(request: Request) -> Response:
    await form_of(request)
    v = _as(request, "auditor")
    await run_in_threadpool(api(request).access.checkpoint_now, v.principal)
    return RedirectResponse("/portal/audit", status_code=303)


# -- admins -------------------------------------------------------------------------------------------------------


def _accounts_page(request: Request, v: Viewer, form: dict[str, Any], errors: dict[str, str], status: int) -> Response:
    identity = api(request).identity
    users = identity.accounts.users()
    names = {f"user:{u.id}": u.username for u in users} | {u.id: u.username for u in users}
    pending = [g for g in identity.role_grants(v.principal) if g.approved_at is None and g.cancelled_at is None]
    ctx = {"users": users, "roles": STAFF_ROLES, "privileged": sorted(PRIVILEGED), "form": form, "errors": errors,
           "pending": pending, "names": names}  # fmt: skip
    return page(request, "accounts.html", v, ctx, status)


@router.get("/portal/admin/accounts")
def accounts(request: Request) -> Response:
    return _accounts_page(request, _as(request, "admin"), {}, {}, 200)


@router.post("/portal/admin/accounts")
async def add_account(request: Request) -> Response:
    raw = await form_of(request)
    v = _as(request, "admin")
    form: dict[str, Any] = {k: str(raw.get(k) or "") for k in ("username", "password")}
    form["roles"] = [str(r) for r in raw.getlist("roles")]
    errors: dict[str, str] = {}
    try:
        await run_in_threadpool(api(request).identity.add_user, v.principal, form["username"], form["password"],
                                form["roles"])  # fmt: skip
    except HTTPError as exc:
        field = exc.message.split(":", 1)[0].split(" ")[0]
        errors[field if field in form else "username"] = exc.message
    if errors:
        form["password"] = ""  # never echoed back
        return _accounts_page(request, v, form, errors, 400)
    return RedirectResponse("/portal/admin/accounts", status_code=303)


@router.post("/portal/admin/role-grants/approve")
async def approve_role(request: Request) -> Response:
    raw = await form_of(request)
    v = _as(request, "admin")
    try:
        await run_in_threadpool(api(request).identity.approve_role, v.principal, str(raw.get("grant_id") or ""))
    except HTTPError as exc:  # e.g. the approver is the requester, or was made by them: said on the page
        return _accounts_page(request, v, {}, {"grant": exc.message}, exc.status)
    return RedirectResponse("/portal/admin/accounts", status_code=303)


def _participants_page(request: Request, v: Viewer, extra: dict[str, Any], status: int = 200) -> Response:
    a = api(request)
    with a.metadata.engine.connect() as conn:
        devices = list(conn.execute(select(t.devices).order_by(t.devices.c.created_at)).mappings())
    ctx = {"participants": a.metadata.participants(), "devices": devices, "code": None, "form": {}, "errors": {}}
    return page(request, "participants.html", v, {**ctx, **extra}, status)


@router.get("/portal/admin/participants")
def participants(request: Request) -> Response:
    return _participants_page(request, _as(request, "admin"), {})


@router.post("/portal/admin/participants")
async def add_participant(request: Request) -> Response:
    raw = await form_of(request)
    v = _as(request, "admin")
    name = str(raw.get("name") or "")
    try:
        await run_in_threadpool(api(request).access.create_participant, v.principal, name)
    except HTTPError as exc:
        return _participants_page(request, v, {"form": {"name": name}, "errors": {"name": exc.message}}, 400)
    return RedirectResponse("/portal/admin/participants", status_code=303)


@router.post("/portal/admin/codes")
async def add_code(request: Request) -> Response:
    raw = await form_of(request)
    v = _as(request, "admin")
    pid = str(raw.get("participant_id") or "")
    code = await run_in_threadpool(api(request).access.create_enrolment_code, v.principal, pid, 86400)
    # Shown once, in the response body only (never in a URL).
    return _participants_page(request, v, {"code": code})


@router.post("/portal/admin/devices/revoke")
async def revoke_device(request: Request) -> Response:
    raw = await form_of(request)
    v = _as(request, "admin")
    await run_in_threadpool(api(request).access.revoke_device, v.principal, str(raw.get("device_id") or ""))
    return RedirectResponse("/portal/admin/participants", status_code=303)
