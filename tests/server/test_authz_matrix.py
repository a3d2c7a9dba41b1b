"""The authorization matrix, built from the app's own route table: every route × every caller × the caller's own
data / another participant's data, each cell asserted against ``EXPECTED``. A route without an entry fails.

Cells: ``A`` the request is allowed (2xx), ``-`` it is refused (401, 403 or 404) and changes nothing. The first
character is "own" (Ada's data, or what the caller itself holds), the second "other" (Bob's data).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from nacl.signing import SigningKey
from server_helpers import PASSWORD, WALL0, Cast, cast, sealed
from starlette.routing import Mount

from workprint.models import ALL_SCOPES
from workprint.portal.pages import PortalMount
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.privacy.receipts import make_receipt, sign_receipt
from workprint.server.api import Enrollment, ServerAPI
from workprint.server.app import create_app
from workprint.server.claims import Claims
from workprint.server.consent import consent_of
from workprint.server.identity import Principal
from workprint.server.oidc import OidcLogin, OidcSettings

CALLERS = ("anonymous", "device", "participant", "steward", "researcher", "auditor", "admin")
#                                                           anon  dev   part  stew  res   aud   adm
EXPECTED: dict[str, tuple[str, ...]] = {
    "GET /v1/healthz":                                     ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "GET /healthz":                                        ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "GET /readyz":                                         ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "GET /metrics":                                        ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "POST /v1/enroll":                                     ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "POST /v1/login":                                      ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "GET /v1/auth/oidc/login":                             ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "GET /v1/auth/oidc/callback":                          ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "POST /v1/auth/oidc/link":                             ("--", "--", "AA", "--", "--", "--", "--"),
    "GET /v1/audit/public-key":                            ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "GET /v1/audit/checkpoint":                            ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "PUT /v1/segments/{segment_id}":                       ("--", "A-", "--", "--", "--", "--", "--"),
    "POST /v1/consents":                                   ("--", "A-", "--", "--", "--", "--", "--"),
    "GET /v1/notice":                                      ("--", "AA", "--", "--", "--", "--", "--"),
    "POST /v1/logout":                                     ("--", "--", "AA", "AA", "AA", "AA", "AA"),
    "GET /v1/me":                                          ("--", "--", "AA", "AA", "AA", "AA", "AA"),
    "POST /v1/tokens":                                     ("--", "--", "AA", "AA", "AA", "AA", "AA"),
    "GET /v1/tokens":                                      ("--", "--", "AA", "AA", "AA", "AA", "AA"),
    "POST /v1/tokens/{token_id}/revoke":                   ("--", "--", "A-", "A-", "A-", "A-", "AA"),
    "GET /v1/me/segments":                                 ("--", "--", "AA", "--", "--", "--", "--"),
    "GET /v1/me/segments/{segment_id}":                    ("--", "--", "A-", "--", "--", "--", "--"),
    "GET /v1/me/accesses":                                 ("--", "--", "AA", "--", "--", "--", "--"),
    "GET /v1/me/grants":                                   ("--", "--", "AA", "--", "--", "--", "--"),
    "POST /v1/grants":                                     ("--", "--", "--", "AA", "--", "--", "--"),
    "GET /v1/grants":                                      ("--", "--", "--", "AA", "--", "--", "--"),
    "POST /v1/grants/{grant_id}/approve":                  ("--", "--", "--", "AA", "--", "--", "--"),
    "GET /v1/grants/{grant_id}/segments":                  ("--", "--", "--", "AA", "--", "--", "--"),
    "GET /v1/grants/{grant_id}/segments/{segment_id}":     ("--", "--", "--", "AA", "--", "--", "--"),
    "GET /v1/releases":                                    ("--", "--", "--", "--", "AA", "--", "--"),
    "GET /v1/audit/entries":                               ("--", "--", "--", "--", "--", "AA", "--"),
    "GET /v1/audit/checkpoints":                           ("--", "--", "--", "--", "--", "AA", "--"),
    "POST /v1/audit/checkpoints":                          ("--", "--", "--", "--", "--", "AA", "--"),
    "GET /v1/audit/verify":                                ("--", "--", "--", "--", "--", "AA", "--"),
    "POST /v1/admin/users":                                ("--", "--", "--", "--", "--", "--", "AA"),
    "POST /v1/admin/participants":                         ("--", "--", "--", "--", "--", "--", "AA"),
    "POST /v1/admin/participants/{participant_id}/enrolment-codes": ("--", "--", "--", "--", "--", "--", "AA"),
    "POST /v1/admin/devices/{device_id}/revoke":           ("--", "--", "--", "--", "--", "--", "AA"),
    "POST /v1/claim":                                      ("AA", "AA", "AA", "AA", "AA", "AA", "AA"),
    "POST /v1/me/password":                                ("--", "--", "AA", "AA", "AA", "AA", "AA"),
    "GET /v1/me/sign-ins":                                 ("--", "--", "AA", "AA", "AA", "AA", "AA"),
    "GET /v1/me/claims":                                   ("--", "--", "AA", "--", "--", "--", "--"),
    "POST /v1/admin/users/{user_id}/roles":                ("--", "--", "--", "--", "--", "--", "AA"),
    "GET /v1/admin/role-grants":                           ("--", "--", "--", "--", "--", "--", "AA"),
    "POST /v1/admin/role-grants/{grant_id}/approve":       ("--", "--", "--", "--", "--", "--", "AA"),
    "POST /v1/admin/participants/{participant_id}/recovery": ("--", "--", "--", "--", "--", "--", "AA"),
}  # fmt: skip

PURPOSE = "check the reducer against real input"


@dataclass
class World:
    api: ServerAPI
    people: Cast
    devices: dict[str, Enrollment]  # "own" -> Ada's device, "other" -> Bob's
    consent_key: SigningKey
    sso: OidcLogin
    me: Principal | None  # the calling account, when the caller is one


def _token_id(w: World, side: str) -> str:
    """A fresh API token of the caller's own account ("own"; Ada's for callers without one) or of Bob's."""
    who = (w.me or w.people.ada) if side == "own" else w.people.bob
    secret = w.api.identity.create_api_token(who, "to revoke")
    row = w.api.identity.accounts.api_token(hashlib.sha256(secret.encode()).hexdigest())
    assert row is not None
    return row.id


def _route_keys(api: ServerAPI) -> list[str]:
    keys = []
    for route in create_app(api).routes:
        assert isinstance(route, APIRoute)
        keys += [f"{m} {route.path}" for m in sorted(route.methods)]
    return keys


def _pid(w: World, side: str) -> str:
    p = w.people.ada if side == "own" else w.people.bob
    assert p.participant_id is not None
    return p.participant_id


def _seg(w: World, side: str) -> str:
    return w.people.ada_segment if side == "own" else w.people.bob_segment


def _grant(w: World, side: str, *, approved: bool) -> str:
    """A grant covering the side's participant, requested by steward2, or by steward and approved by steward2."""
    s, s2 = w.people.steward, w.people.steward2
    g = w.api.access.request_grant(s2 if not approved else s, PURPOSE, "participants", (_pid(w, side),))
    if approved:
        w.api.access.approve_grant(s2, g.id)
    return g.id


def _claim_code(w: World) -> str:
    """The claim code a fresh participant's freshly enrolled device receives."""
    e = w.api.enroll(w.api.create_enrolment_code(w.api.create_participant("Cy")), "cy-laptop")
    got = Claims(w.api.identity).for_device(w.api.authenticate_device(e.device_token))
    assert got is not None
    return str(got["code"])


def _fresh_user(w: World, roles: list[str]) -> str:
    return w.api.identity.add_user(Principal.system("t", "admin"), f"u{secrets.token_hex(4)}", PASSWORD, roles).id


def _receipt(w: World, side: str) -> dict[str, Any]:
    receipt = make_receipt(DEFAULT_PROGRAM, "grant", ALL_SCOPES, _pid(w, side), WALL0 - 10**9)
    return sign_receipt(receipt, w.consent_key).to_dict()


def _upload(w: World, side: str) -> tuple[str, dict[str, Any], bytes]:
    own = w.devices["own"]
    target = own if side == "own" else w.devices["other"]
    sid, data, _ = sealed(target.participant_id, own.device_id, target.public_key, session=secrets.token_hex(4))
    return f"/v1/segments/{sid}", {}, data


def _sso_callback(w: World, side: str) -> str:
    """Our callback URL as the provider redirects to it, after a steward signed in there."""
    sub = "sso-ada" if side == "own" else "sso-bob"
    issuer = w.sso.settings.issuer
    assert httpx.put(f"{issuer}/users/{sub}", json={"groups": ["wp-stewards"]}).status_code == 204
    back = urlsplit(httpx.post(w.sso.start(), data={"sub": sub}).headers["location"])
    return f"{back.path}?{back.query}"


# Redirects that count as allowed: the route answered for the caller (and sent them on).
REDIRECTS = {"GET /v1/auth/oidc/login", "POST /v1/auth/oidc/link"}

Request = Callable[[World, str], tuple[str, dict[str, Any] | None, bytes | None]]
REQUESTS: dict[str, Request] = {
    "GET /v1/healthz": lambda w, s: ("/v1/healthz", None, None),
    "GET /healthz": lambda w, s: ("/healthz", None, None),
    "GET /readyz": lambda w, s: ("/readyz", None, None),
    "GET /metrics": lambda w, s: ("/metrics", None, None),
    "POST /v1/enroll": lambda w, s: (
        "/v1/enroll",
        {"code": w.api.create_enrolment_code(_pid(w, s)), "device_name": "spare"},
        None,
    ),
    "POST /v1/login": lambda w, s: (
        "/v1/login",
        {"username": "ada" if s == "own" else "bob", "password": PASSWORD},
        None,
    ),
    "GET /v1/audit/public-key": lambda w, s: ("/v1/audit/public-key", None, None),
    "GET /v1/audit/checkpoint": lambda w, s: ("/v1/audit/checkpoint?since=1", None, None),
    "GET /v1/auth/oidc/login": lambda w, s: ("/v1/auth/oidc/login", None, None),
    "GET /v1/auth/oidc/callback": lambda w, s: (_sso_callback(w, s), None, None),
    "POST /v1/auth/oidc/link": lambda w, s: ("/v1/auth/oidc/link", None, None),
    "PUT /v1/segments/{segment_id}": lambda w, s: (lambda p, _, d: (p, None, d))(*_upload(w, s)),
    "POST /v1/consents": lambda w, s: ("/v1/consents", _receipt(w, s), None),
    "GET /v1/notice": lambda w, s: ("/v1/notice", None, None),
    "POST /v1/logout": lambda w, s: ("/v1/logout", None, None),
    "GET /v1/me": lambda w, s: ("/v1/me", None, None),
    "POST /v1/tokens": lambda w, s: ("/v1/tokens", {"name": "cli"}, None),
    "GET /v1/tokens": lambda w, s: ("/v1/tokens", None, None),
    "POST /v1/tokens/{token_id}/revoke": lambda w, s: (f"/v1/tokens/{_token_id(w, s)}/revoke", {}, None),
    "GET /v1/me/segments": lambda w, s: ("/v1/me/segments", None, None),
    "GET /v1/me/segments/{segment_id}": lambda w, s: (f"/v1/me/segments/{_seg(w, s)}", None, None),
    "GET /v1/me/accesses": lambda w, s: ("/v1/me/accesses", None, None),
    "GET /v1/me/grants": lambda w, s: ("/v1/me/grants", None, None),
    "POST /v1/grants": lambda w, s: (
        "/v1/grants",
        {"purpose": PURPOSE, "scope": "participants", "participant_ids": [_pid(w, s)]},
        None,
    ),
    "GET /v1/grants": lambda w, s: ("/v1/grants", None, None),
    "POST /v1/grants/{grant_id}/approve": lambda w, s: (f"/v1/grants/{_grant(w, s, approved=False)}/approve", {}, None),
    "GET /v1/grants/{grant_id}/segments": lambda w, s: (
        f"/v1/grants/{_grant(w, s, approved=True)}/segments",
        None,
        None,
    ),
    "GET /v1/grants/{grant_id}/segments/{segment_id}": lambda w, s: (
        f"/v1/grants/{_grant(w, s, approved=True)}/segments/{_seg(w, s)}",
        None,
        None,
    ),
    "GET /v1/releases": lambda w, s: ("/v1/releases", None, None),
    "GET /v1/audit/entries": lambda w, s: ("/v1/audit/entries", None, None),
    "GET /v1/audit/checkpoints": lambda w, s: ("/v1/audit/checkpoints", None, None),
    "POST /v1/audit/checkpoints": lambda w, s: ("/v1/audit/checkpoints", {}, None),
    "GET /v1/audit/verify": lambda w, s: ("/v1/audit/verify", None, None),
    "POST /v1/admin/users": lambda w, s: (
        "/v1/admin/users",
        {"username": f"u{secrets.token_hex(4)}", "password": PASSWORD, "roles": ["researcher"]},
        None,
    ),
    "POST /v1/admin/participants": lambda w, s: ("/v1/admin/participants", {"name": "Cy"}, None),
    "POST /v1/claim": lambda w, s: (
        "/v1/claim",
        {"code": _claim_code(w), "username": f"cy{secrets.token_hex(4)}", "password": PASSWORD},
        None,
    ),
    "POST /v1/me/password": lambda w, s: (
        "/v1/me/password",
        {"old_password": PASSWORD, "new_password": PASSWORD},
        None,
    ),
    "GET /v1/me/sign-ins": lambda w, s: ("/v1/me/sign-ins", None, None),
    "GET /v1/me/claims": lambda w, s: ("/v1/me/claims", None, None),
    "POST /v1/admin/users/{user_id}/roles": lambda w, s: (
        f"/v1/admin/users/{_fresh_user(w, ['researcher'])}/roles",
        {"role": "steward"},
        None,
    ),
    "GET /v1/admin/role-grants": lambda w, s: ("/v1/admin/role-grants", None, None),
    "POST /v1/admin/role-grants/{grant_id}/approve": lambda w, s: (
        f"/v1/admin/role-grants/{w.api.identity.duties.role_grants(_fresh_user(w, ['steward']))[0].id}/approve",
        {},
        None,
    ),
    "POST /v1/admin/participants/{participant_id}/recovery": lambda w, s: (
        f"/v1/admin/participants/{w.api.create_participant('Cy')}/recovery",
        {},
        None,
    ),
    "POST /v1/admin/participants/{participant_id}/enrolment-codes": lambda w, s: (
        f"/v1/admin/participants/{_pid(w, s)}/enrolment-codes",
        {},
        None,
    ),
    "POST /v1/admin/devices/{device_id}/revoke": lambda w, s: (
        f"/v1/admin/devices/{w.api.enroll(w.api.create_enrolment_code(_pid(w, s)), 'spare').device_id}/revoke",
        {},
        None,
    ),
}


def test_every_route_has_an_expectation_and_a_request(api: ServerAPI) -> None:
    routes = _route_keys(api)
    assert sorted(set(routes) - set(EXPECTED)) == [], "routes without matrix entries"
    assert sorted(set(EXPECTED) - set(routes)) == [], "matrix entries without routes"
    assert set(REQUESTS) == set(EXPECTED)
    assert all(len(v) == len(CALLERS) and all(c in ("AA", "A-", "-A", "--") for c in v) for v in EXPECTED.values())


def _headers(w: World, caller: str) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    if caller == "device":
        return {"Authorization": f"Bearer {w.devices['own'].device_token}"}
    who: Principal = getattr(w.people, "ada" if caller == "participant" else caller)
    return {"Authorization": f"Bearer {w.api.identity.create_api_token(who, 'matrix')}"}


@pytest.mark.parametrize("caller", CALLERS)
def test_authorization_matrix(api: ServerAPI, caller: str, provider: str) -> None:
    people = cast(api)
    devices = {}
    for side, p in (("own", people.ada), ("other", people.bob)):
        assert p.participant_id is not None
        devices[side] = api.enroll(api.create_enrolment_code(p.participant_id), f"{side}-matrix")
    sso = OidcLogin(OidcSettings(provider, "workprint", "s", "https://testserver/v1/auth/oidc/callback",
                                 role_map=(("wp-stewards", "steward"),)), api.identity)  # fmt: skip
    me = None if caller in ("anonymous", "device") else getattr(people, "ada" if caller == "participant" else caller)
    w = World(api, people, devices, SigningKey.generate(), sso, me)
    consent_of(api).receive(api.authenticate_device(devices["own"].device_token), _receipt(w, "own"))
    api.access.request_grant(people.steward, PURPOSE, "program")  # so participants have a grant to see
    client = TestClient(create_app(api), base_url="https://testserver", follow_redirects=False)
    client.app.state.oidc = sso  # type: ignore[attr-defined]
    headers = _headers(w, caller)
    column = CALLERS.index(caller)
    unexpected = []
    for key in _route_keys(api):
        method = key.split(" ", 1)[0]
        for i, side in enumerate(("own", "other")):
            url, body, content = REQUESTS[key](w, side)
            before = len(api.metadata.audit_entries())
            r = client.request(method, url, json=body, content=content, headers=headers)
            client.cookies.clear()  # a login must not authenticate the next cells
            want = EXPECTED[key][column][i]
            allowed = 200 <= r.status_code < 300 or (key in REDIRECTS and r.status_code in (302, 303))
            got = "A" if allowed else "-" if r.status_code in (401, 403, 404) else "?"
            if got != want:
                unexpected.append(f"{caller} {side} {key}: expected {want}, got {r.status_code} {r.text[:160]}")
            if got == "-":
                assert r.json()["error"]["code"] in ("unauthorized", "forbidden", "not_found"), r.text
                audit = api.metadata.audit_entries()[before:]
                assert all(e.action in ("login.failure", "segment.refused") for e in audit), (key, audit)
    assert unexpected == []


# -- paths served outside the service's route table ---------------------------------------------------------------

# The portal (``PortalMount``, a middleware) answers every path under /portal with its own app. Each of its routes
# has an expectation per caller: ``A`` answered (200), ``-`` refused (a 303 to the sign-in page, or 400/401/403/404).
# Portal callers sign in with a cookie session, as a browser does; the device caller sends its bearer token.
# Every POST is sent without the session's CSRF token (and /portal/login with a wrong password): all refused.
#                                                           anon dev part stew res  aud  adm
PORTAL_EXPECTED: dict[str, tuple[str, ...]] = {
    "GET /portal":                                         ("-", "-", "A", "A", "A", "A", "A"),
    "GET /portal/":                                        ("-", "-", "A", "A", "A", "A", "A"),
    "GET /portal/login":                                   ("A", "A", "A", "A", "A", "A", "A"),
    "GET /portal/device/requests":                         ("-", "A", "-", "-", "-", "-", "-"),
    "GET /portal/me":                                      ("-", "-", "A", "-", "-", "-", "-"),
    "GET /portal/me/consent":                              ("-", "-", "A", "-", "-", "-", "-"),
    "GET /portal/me/timeline":                             ("-", "-", "A", "-", "-", "-", "-"),
    "GET /portal/me/timeline/{session}/{episode}/{step}":  ("-", "-", "-", "-", "-", "-", "-"),  # no such step
    "GET /portal/me/data":                                 ("-", "-", "A", "-", "-", "-", "-"),
    "GET /portal/me/accesses":                             ("-", "-", "A", "-", "-", "-", "-"),
    "GET /portal/me/checkpoint.json":                      ("-", "-", "A", "-", "-", "-", "-"),
    "GET /portal/me/devices":                              ("-", "-", "A", "-", "-", "-", "-"),
    "GET /portal/steward/grants":                          ("-", "-", "-", "A", "-", "-", "-"),
    "GET /portal/steward/programs":                        ("-", "-", "-", "A", "-", "-", "-"),
    "GET /portal/steward/releases":                        ("-", "-", "-", "A", "-", "-", "-"),
    "GET /portal/audit":                                   ("-", "-", "-", "-", "-", "A", "-"),
    "GET /portal/admin/accounts":                          ("-", "-", "-", "-", "-", "-", "A"),
    "GET /portal/admin/participants":                      ("-", "-", "-", "-", "-", "-", "A"),
    "GET /portal/static":                                  ("A", "A", "A", "A", "A", "A", "A"),  # css and js
    "GET /portal/claim":                                   ("A", "A", "A", "A", "A", "A", "A"),  # the form only
    "GET /portal/account":                                 ("-", "-", "A", "A", "A", "A", "A"),
}  # fmt: skip
PORTAL_URLS = {
    "GET /portal/me/timeline/{session}/{episode}/{step}": "/portal/me/timeline/nosuchsession/0/0",
    "GET /portal/static": "/portal/static/portal.css",
}


def _portal_app(app: Any) -> Any:
    """The portal app behind the service app's ``PortalMount`` middleware."""
    node = app.build_middleware_stack()
    while node is not None:
        if isinstance(node, PortalMount):
            return node.portal
        node = getattr(node, "app", None)
    raise AssertionError("no PortalMount in the middleware stack")


def _keys_of(routes: list[Any], prefix: str = "") -> list[str]:
    """``METHOD path`` of each route, walking into included routers (their prefix prepended) and mounts (as GET)."""
    keys = []
    for route in routes:
        if isinstance(route, Mount):
            keys.append(f"GET {prefix}{route.path}")
        elif isinstance(route, APIRoute):
            keys += [f"{m} {prefix}{route.path}" for m in sorted(route.methods)]
        else:
            included = getattr(route, "original_router", None)  # FastAPI's include_router, kept as one node
            assert included is not None, route
            keys += _keys_of(included.routes, prefix + route.include_context.prefix)
    return keys


def _portal_keys(api: ServerAPI) -> list[str]:
    return _keys_of(_portal_app(create_app(api)).routes)


def test_every_path_the_app_answers_is_in_a_matrix(api: ServerAPI) -> None:
    service, portal = _route_keys(api), _portal_keys(api)
    assert all(k.split(" ", 1)[1].startswith("/portal") for k in portal)
    gets = {k for k in portal if k.startswith("GET ")}
    assert sorted(gets - set(PORTAL_EXPECTED)) == [], "portal pages without matrix entries"
    assert sorted(set(PORTAL_EXPECTED) - gets) == [], "portal matrix entries without pages"
    assert not set(service) & set(portal)
    # Nothing else answers: an unknown path, inside or outside the portal, is a 404.
    client = TestClient(create_app(api), base_url="https://testserver")
    for path in ("/", "/v2/me", "/admin", "/portal/nope", "/metrics/x", "/.env"):
        assert client.get(path).status_code == 404, path


def test_portal_matrix(api: ServerAPI) -> None:
    people = cast(api)
    assert people.ada.participant_id is not None
    device = api.enroll(api.create_enrolment_code(people.ada.participant_id), "portal-matrix")
    client = TestClient(create_app(api), base_url="https://testserver", follow_redirects=False)
    portal = _portal_keys(api)
    unexpected = []
    for column, caller in enumerate(CALLERS):
        client.cookies.clear()
        headers = {"Authorization": f"Bearer {device.device_token}"} if caller == "device" else {}
        if caller not in ("anonymous", "device"):
            name = "ada" if caller == "participant" else caller
            client.cookies.set("wp_session", api.identity.login(name, PASSWORD).token)
        for key in portal:
            method, path = key.split(" ", 1)
            before = len(api.metadata.audit_entries())
            if method == "GET":
                r = client.get(PORTAL_URLS.get(key, path), headers=headers)
                want = PORTAL_EXPECTED[key][column]
            else:
                form = {"username": "ada", "password": "wrong password!"} if path == "/portal/login" else {}
                r = client.post(path.replace("{", "").replace("}", ""), data=form, headers=headers)
                want = "-"
            refused = r.status_code in (400, 401, 403, 404) or (
                r.status_code == 303 and r.headers["location"].startswith("/portal/login")
            )
            got = "A" if r.status_code == 200 else "-" if refused else "?"
            if got != want:
                unexpected.append(f"{caller} {key}: expected {want}, got {r.status_code} {r.text[:120]}")
            if got == "-":
                assert all(e.action == "login.failure" for e in api.metadata.audit_entries()[before:]), key
    assert unexpected == []


def test_metrics_are_aggregates_that_name_no_participant_device_account_or_segment(api: ServerAPI) -> None:
    people = cast(api)
    client = TestClient(create_app(api), base_url="https://testserver")
    assert people.ada.participant_id is not None
    e = api.enroll(api.create_enrolment_code(people.ada.participant_id), "metrics-laptop")
    sid, data, _ = sealed(e.participant_id, e.device_id, e.public_key, session=secrets.token_hex(4))
    assert client.put(f"/v1/segments/{sid}", content=data, headers={"Authorization": f"Bearer {e.device_token}"})
    token = api.identity.create_api_token(people.ada, "m")
    assert client.get(f"/v1/me/segments/{people.ada_segment}", headers={"Authorization": f"Bearer {token}"})
    body = client.get("/metrics").text
    assert "workprint" in body or "_total" in body, body[:200]  # it does report something
    ids = [people.ada.participant_id, people.bob.participant_id, e.device_id, sid, people.ada_segment,
           people.bob_segment, *(getattr(people, n).id for n in ("ada", "bob", "steward", "auditor", "admin")),
           "ada", "bob", "metrics-laptop"]  # fmt: skip
    leaked = [i for i in ids if i and i in body]
    assert leaked == [], f"/metrics names {leaked}"
