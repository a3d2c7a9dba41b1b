"""The portal's web plumbing: who is signed in, CSRF on every form, role checks, templates and error pages.

Pages authenticate with the same session the JSON API uses (``Identity.login`` → the ``wp_session`` cookie); a form
post must carry the session's CSRF token in its ``csrf_token`` field, checked before anything else happens. A page a
role may not use answers with a 403 page, and the navigation lists only the pages the principal's roles may open.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from workprint.errors import Forbidden, HTTPError, Unauthorized
from workprint.server.api import ServerAPI
from workprint.server.auth import SESSION_COOKIE, api_of
from workprint.server.identity import Principal
from workprint.server.middleware import error_body

__all__ = ["NAV", "Viewer", "error_page", "form_of", "page", "require", "viewer"]

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False)

# (role, path, label): the navigation; a link appears only for principals holding its role ("": every account).
NAV: tuple[tuple[str, str, str], ...] = (
    ("participant", "/portal/me", "Recording"),
    ("participant", "/portal/me/consent", "Consent"),
    ("participant", "/portal/me/timeline", "Timeline"),
    ("participant", "/portal/me/accesses", "Who accessed my data"),
    ("participant", "/portal/me/devices", "Devices"),
    ("participant", "/portal/me/data", "Delete or download"),
    ("steward", "/portal/steward/grants", "Grants"),
    ("steward", "/portal/steward/programs", "Programs"),
    ("steward", "/portal/steward/releases", "Releases"),
    ("auditor", "/portal/audit", "Audit log"),
    ("admin", "/portal/admin/accounts", "Accounts"),
    ("admin", "/portal/admin/participants", "Participants and devices"),
    ("", "/portal/account", "My account"),
)


def _when(ns: int | None) -> str:
    if not ns:
        return "—"
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_env.filters["when"] = _when


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in principal with the session's CSRF token (rendered into every form)."""

    principal: Principal
    csrf: str
    username: str


def _session_token(request: Request) -> str:
    return request.cookies.get(SESSION_COOKIE, "")


def viewer(request: Request) -> Viewer:
    """The signed-in account; ``Unauthorized`` when there is no live session (expired, ended or none)."""
    api = api_of(request)
    token = _session_token(request)
    who = api.identity.principal_from_session(token)
    row = api.identity.accounts.session(hashlib.sha256(token.encode()).hexdigest())
    user = api.identity.accounts.user(who.id)
    assert row is not None and user is not None
    return Viewer(who, row.csrf_token, user.username)


async def form_of(request: Request) -> FormData:
    """The posted form, after checking its CSRF token against the session's (``Forbidden`` when it is not)."""
    form = await request.form()
    token = form.get("csrf_token")
    api_of(request).identity.check_csrf(_session_token(request), token if isinstance(token, str) else "")
    return form


def require(v: Viewer, role: str, what: str) -> None:
    """Refuse (403) a page the viewer's roles do not open."""
    if not v.principal.has(role):
        raise Forbidden(f"{what}: this page needs the {role} role, which your account does not have")


def nav_for(principal: Principal | None) -> list[tuple[str, str]]:
    """The links a principal may follow."""
    if principal is None:
        return []
    return [(path, label) for role, path, label in NAV if not role or principal.has(role)]


def page(
    request: Request, name: str, v: Viewer | None, ctx: Mapping[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """Render ``name`` with the navigation of ``v``'s roles."""
    body = _env.get_template(name).render(
        viewer=v, nav=nav_for(v.principal if v else None), path=request.url.path, **(ctx or {})
    )
    return HTMLResponse(body, status_code=status)


def error_page(request: Request, exc: HTTPError) -> Response:
    """A clear page for a refusal; a missing or expired session sends GETs to the sign-in page."""
    if request.url.path.startswith("/portal/device/"):  # devices talk JSON, in the service's error shape
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)
    if isinstance(exc, Unauthorized) and request.method == "GET":
        return RedirectResponse("/portal/login?expired=1", status_code=303)
    v: Viewer | None = None
    try:
        v = viewer(request)
    except HTTPError:
        v = None
    ctx = {"status": exc.status, "code": exc.code, "message": exc.message}
    return page(request, "error.html", v, ctx, status=exc.status)


def api(request: Request) -> ServerAPI:
    """The domain API (re-exported so page modules import one place)."""
    return api_of(request)
