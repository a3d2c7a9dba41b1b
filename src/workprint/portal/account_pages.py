"""Pages of one's own account: claiming it with the code one's device shows, the password, and every sign-in.

A participant's account is made only here (or ``POST /v1/claim``): the participant types the code their device
received, and a username and password of their choosing, and is signed in; no admin ever sees either. The account
page lists every sign-in, failed sign-in, password change, claim and admin recovery of the account, so that someone
else's use of it, or an admin's reset, is visible to its owner. The claim form is protected like the sign-in form
(the same double-submit cookie), since no session exists yet.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from workprint.errors import HTTPError, NotFound
from workprint.portal.pages import finish_sign_in, login_csrf_ok, login_form_page
from workprint.portal.web import api, form_of, page, viewer
from workprint.server.auth import SESSION_COOKIE
from workprint.server.claims import Claims
from workprint.server.signin import enrolment_done, limit_enrolment

__all__ = ["router"]

router = APIRouter()
_FIELDS = ("code", "username")


def _claim_page(request: Request, form: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    return login_form_page(request, "claim.html", {"form": form, "errors": errors}, status)


@router.get("/portal/claim")
def claim_form(request: Request) -> Response:
    return _claim_page(request, {}, {})


@router.post("/portal/claim")
async def claim(request: Request) -> Response:
    raw = await request.form()
    form = {k: str(raw.get(k) or "") for k in _FIELDS}
    if not login_csrf_ok(request, raw.get("csrf_token")):  # before the code is looked at
        return _claim_page(request, form, {"csrf_token": "csrf_token: missing or not this form's; please try again"},
                           403)  # fmt: skip
    limit_enrolment(request)  # claim codes are guessed no faster than enrolment codes
    a = api(request)
    try:
        user = await run_in_threadpool(Claims(a.identity).claim, form["code"], form["username"],
                                       str(raw.get("password") or ""))  # fmt: skip
    except HTTPError as exc:
        field = exc.message.split(":", 1)[0].split(" ")[0]
        return _claim_page(request, form, {field if field in (*_FIELDS, "password") else "code": exc.message},
                           exc.status)  # fmt: skip
    enrolment_done(request)
    s = await run_in_threadpool(a.identity.open_session, user.id, {"method": "claim"})
    return finish_sign_in(request, s, "/portal/account?claimed=1")


def _account_page(request: Request, note: str, errors: dict[str, str], status: int = 200) -> Response:
    v = viewer(request)
    a = api(request)
    sign_ins = a.identity.sign_ins(v.principal)
    try:
        claims = Claims(a.identity).claims(v.principal)
    except NotFound:
        claims = []  # a staff account: no claims
    ctx = {"sign_ins": sign_ins, "claims": claims, "note": note, "errors": errors,
           "recoveries": [c for c in claims if c["reason"] == "recovery"]}  # fmt: skip
    return page(request, "account.html", v, ctx, status)


@router.get("/portal/account")
def account(request: Request, claimed: str = "", changed: str = "") -> Response:
    note = (
        "Your account is yours: signed in with the username and password you chose."
        if claimed
        else "Password changed; every other session and API token of your account was signed out."
        if changed
        else ""
    )
    return _account_page(request, note, {})


@router.post("/portal/account/password")
async def change_password(request: Request) -> Response:
    raw = await form_of(request)
    v = viewer(request)
    old, new = str(raw.get("old_password") or ""), str(raw.get("new_password") or "")
    try:
        await run_in_threadpool(api(request).identity.change_password, v.principal, old, new,
                                request.cookies.get(SESSION_COOKIE, ""))  # fmt: skip
    except HTTPError as exc:
        field = exc.message.split(":", 1)[0]
        return _account_page(request, "", {field if field == "old_password" else "new_password": exc.message},
                             exc.status)  # fmt: skip
    return RedirectResponse("/portal/account?changed=1", status_code=303)
