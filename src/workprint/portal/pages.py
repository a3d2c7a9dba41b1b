"""The portal as an ASGI app mounted under ``/portal`` of the collection service, and its sign-in pages.

``PortalMount`` is a pure ASGI middleware: requests under ``/portal`` go to the portal's own FastAPI app (HTML error
pages, its own Content-Security-Policy), everything else to the JSON API unchanged. Pages call the same domain
(``ServerAPI``, ``Access``, ``Identity``) as the API, with the signed-in ``Principal``.

The sign-in form is CSRF-protected too, although no session exists yet (login CSRF: a page elsewhere must not sign
a browser in to an account of the attacker's, whose recordings or settings the victim would then use): the form
carries a random token that must equal the one in a SameSite=Strict cookie set with the form, ``__Host-`` prefixed
over TLS so that no other host (a sibling subdomain) can plant a known one.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from workprint.errors import BadRequest, HTTPError, NotFound, Unauthorized
from workprint.portal import device_requests
from workprint.portal.web import STATIC, error_page, nav_for, page, viewer
from workprint.server.api import ServerAPI
from workprint.server.auth import SESSION_COOKIE, Principal, api_of, device_access
from workprint.server.claims import Claims
from workprint.server.identity import Session
from workprint.server.ratelimit import RateLimiter, RateLimits
from workprint.server.signin import sign_in

__all__ = ["CSP", "LOGIN_CSRF_COOKIE", "PortalMount", "create_portal"]

LOGIN_CSRF_COOKIE = "wp_login_csrf"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def create_portal(api: ServerAPI, limiter: RateLimiter | None = None, limits: RateLimits | None = None) -> FastAPI:
    """The portal's pages over ``api``, sharing the service's rate ``limiter`` (so that sign-in attempts count once
    whichever door they use)."""
    from workprint.portal import account_pages, participant_pages, program_pages, staff_pages

    app = FastAPI(title="workprint portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.api = api
    app.state.limiter = limiter or RateLimiter()
    app.state.limits = limits or RateLimits()

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for k, v in _HEADERS.items():
            response.headers[k] = v
        return response

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPError)
        return await run_in_threadpool(error_page, request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        return await run_in_threadpool(error_page, request, BadRequest(f"request: {exc}"[:300]))

    async def on_starlette(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return await run_in_threadpool(error_page, request, NotFound(f"{request.url.path}: no such page"))

    app.add_exception_handler(HTTPError, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_starlette)
    app.mount("/portal/static", StaticFiles(directory=STATIC), name="static")
    _sign_in_routes(app)
    app.include_router(account_pages.router)
    app.include_router(participant_pages.router)
    app.include_router(staff_pages.router)
    app.include_router(program_pages.router)
    return app


def _set_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    # Secure whenever served over TLS; plain http is only for loopback tests and local use.
    secure = request.url.scheme == "https"
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, secure=secure, samesite="strict",
                        path="/")  # fmt: skip


def _login_cookie(request: Request) -> str:
    return f"__Host-{LOGIN_CSRF_COOKIE}" if request.url.scheme == "https" else LOGIN_CSRF_COOKIE


def _login_page(request: Request, ctx: dict[str, Any], status: int = 200) -> Response:
    """The sign-in form with a fresh CSRF token, also set in its cookie."""
    return login_form_page(request, "login.html", ctx, status)


def login_form_page(request: Request, template: str, ctx: dict[str, Any], status: int = 200) -> Response:
    """A form that signs a browser in (sign-in, account claim) with a fresh CSRF token, also set in its cookie."""
    token = secrets.token_urlsafe(32)
    response = page(request, template, None, {**ctx, "login_csrf": token}, status=status)
    response.set_cookie(_login_cookie(request), token, max_age=3600, httponly=True,
                        secure=request.url.scheme == "https", samesite="strict", path="/")  # fmt: skip
    return response


def login_csrf_ok(request: Request, sent: object) -> bool:
    """Whether a sign-in form's CSRF token equals its cookie's."""
    expected = request.cookies.get(_login_cookie(request), "")
    return bool(expected) and isinstance(sent, str) and hmac.compare_digest(expected.encode(), sent.encode())


def finish_sign_in(request: Request, s: Session, to: str) -> Response:
    """A redirect to ``to`` that sets the session cookie of ``s`` and drops the sign-in form's."""
    response = RedirectResponse(to, status_code=303)
    response.delete_cookie(_login_cookie(request), path="/", secure=request.url.scheme == "https")
    _set_cookie(request, response, s.token, max(1, (s.expires_at - api_of(request).now()) // 1_000_000_000))
    return response


def _sign_in_routes(app: FastAPI) -> None:
    @app.get("/portal")
    @app.get("/portal/")
    def home(request: Request) -> Response:
        try:
            v = viewer(request)
        except Unauthorized:
            return RedirectResponse("/portal/login", status_code=303)
        links = nav_for(v.principal)
        return page(request, "home.html", v, {"links": links})

    @app.get("/portal/login")
    def login_form(request: Request, expired: str = "") -> Response:
        note = "Your session has ended or expired; please sign in again." if expired else ""
        return _login_page(request, {"note": note, "form": {}, "errors": {}})

    @app.post("/portal/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        if not login_csrf_ok(request, form.get("csrf_token")):  # before anything else, the password included
            message = "csrf_token: missing or not this sign-in form's; please sign in again"
            return _login_page(request, {"note": "", "form": {"username": username}, "errors": {"csrf_token": message}},
                               status=403)  # fmt: skip
        errors = {}
        if not username.strip():
            errors["username"] = "username: required"
        if not password:
            errors["password"] = "password: required"
        if not errors:
            try:
                s = await sign_in(request, username, password)
            except Unauthorized as exc:
                errors["password"] = exc.message
        if errors:
            ctx = {"note": "", "form": {"username": username}, "errors": errors}
            return _login_page(request, ctx, status=400 if "username" in errors else 401)
        return finish_sign_in(request, s, "/portal/")

    @app.post("/portal/logout")
    async def logout(request: Request) -> Response:
        from workprint.portal.web import form_of

        await form_of(request)
        await run_in_threadpool(api_of(request).identity.logout, request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/portal/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/portal/device/requests")
    def device_pull(who: Annotated[Principal, Depends(device_access)], request: Request) -> Response:
        assert who.device is not None and who.participant_id is not None
        api = api_of(request)
        reqs = device_requests.take(api, who.participant_id, who.device.id)
        claim = Claims(api.identity).for_device(who.device)  # the participant's account claim code, shown only here
        return JSONResponse({"requests": [{"id": r.id, "kind": r.kind, "scopes": list(r.scopes)} for r in reqs],
                             "account_claim": claim}, headers={"Cache-Control": "no-store"})  # fmt: skip


class PortalMount:
    """Send ``/portal`` requests to the portal app and the rest to the service's app."""

    def __init__(
        self, app: ASGIApp, api: ServerAPI, limiter: RateLimiter | None = None, limits: RateLimits | None = None
    ) -> None:
        self.app = app
        self.portal = create_portal(api, limiter, limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/portal" or path.startswith("/portal/"):
            await self.portal(scope, receive, send)
        else:
            await self.app(scope, receive, send)
