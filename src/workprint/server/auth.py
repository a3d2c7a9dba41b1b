"""Who is calling, for HTTP: every route depends on exactly one of the dependencies in ``AUTH_DEPENDENCIES``.

- ``public_access``: anyone (health, enrolment and login, which carry their own secrets);
- ``device_access``: ``Authorization: Bearer wpd_…`` of an enrolled, unrevoked device;
- ``user_access``: an account, by the ``wp_session`` cookie or ``Authorization: Bearer wpt_…`` (an API token).
  A cookie-authenticated request that changes state must carry the session's CSRF token in ``X-CSRF-Token``.

Authenticated callers are rate-limited per device or per account. What a caller may do is decided by the domain
(``server.access``), never here.
"""

from __future__ import annotations

from fastapi import Request

from workprint.errors import Unauthorized
from workprint.server.api import ServerAPI
from workprint.server.identity import Principal
from workprint.server.ratelimit import RateLimiter, RateLimits

__all__ = [
    "AUTH_DEPENDENCIES",
    "SESSION_COOKIE",
    "Principal",
    "api_of",
    "device_access",
    "limiter_of",
    "public_access",
    "user_access",
]

SESSION_COOKIE = "wp_session"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def api_of(request: Request) -> ServerAPI:
    """The domain API the app was created with."""
    api: ServerAPI = request.app.state.api
    return api


def limiter_of(request: Request) -> tuple[RateLimiter, RateLimits]:
    """The app's rate limiter and its limits."""
    return request.app.state.limiter, request.app.state.limits


def _bearer(request: Request, what: str) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(f"authorization: expected 'Bearer <{what}>'")
    return token.strip()


def public_access() -> Principal:
    """Routes anyone may call (health, enrolment and login, which carry their own secret)."""
    return Principal("public")


def device_access(request: Request) -> Principal:
    """``Authorization: Bearer <device token>`` of an enrolled, unrevoked device."""
    device = api_of(request).authenticate_device(_bearer(request, "device token"))
    limiter, limits = limiter_of(request)
    limiter.take(f"device:{device.id}", limits.device_rate, limits.device_burst)
    return Principal("device", device.id, frozenset(), device.participant_id, device)


def user_access(request: Request) -> Principal:
    """An account signed in by session cookie (CSRF-checked when changing state) or by API token."""
    identity = api_of(request).identity
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if request.headers.get("authorization"):
        who = identity.principal_from_api_token(_bearer(request, "api token"))
    elif cookie:
        if request.method in _SAFE_METHODS:
            who = identity.principal_from_session(cookie)
        else:
            identity.check_csrf(cookie, request.headers.get(CSRF_HEADER, ""))
            who = identity.principal_from_session(cookie)
    else:
        raise Unauthorized("authorization: sign in, or send 'Bearer <api token>'")
    limiter, limits = limiter_of(request)
    limiter.take(f"account:{who.id}", limits.account_rate, limits.account_burst)
    return who


AUTH_DEPENDENCIES = frozenset({public_access, device_access, user_access})
