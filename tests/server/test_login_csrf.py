"""Login CSRF: the portal's sign-in form is refused (403) without the token of the form the browser was given, before
any password is checked, so a page elsewhere cannot sign a visitor in to an account of its choosing."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from server_helpers import PASSWORD, Cast

from workprint.server.api import ServerAPI

FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _form_token(client: TestClient) -> str:
    r = client.get("/portal/login")
    found = FORM_TOKEN.search(r.text)
    assert r.status_code == 200 and found is not None
    return found.group(1)


def _post(client: TestClient, form: dict[str, str]) -> tuple[int, str]:
    r = client.post("/portal/login", data={"username": "ada", "password": PASSWORD, **form}, follow_redirects=False)
    return r.status_code, r.text


def test_a_sign_in_post_without_the_forms_token_is_refused_before_the_password_is_checked(
    api: ServerAPI, client: TestClient, people: Cast
) -> None:
    before = len(api.metadata.audit_entries())
    status, page = _post(client, {})  # a cross-site form: no token, and no cookie of ours
    assert status == 403 and "csrf_token: missing or not this sign-in form&#39;s; please sign in again" in page
    assert "wp_session" not in client.cookies
    attacker = TestClient(client.app, base_url="https://testserver")
    status, _ = _post(client, {"csrf_token": _form_token(attacker)})  # a valid token, of another browser's form
    assert status == 403 and "wp_session" not in client.cookies
    assert api.metadata.audit_entries()[before:] == []  # no password was checked


def test_the_forms_own_token_signs_in_and_its_cookie_is_host_only_strict_and_then_cleared(
    client: TestClient, people: Cast
) -> None:
    token = _form_token(client)
    cookie = client.get("/portal/login").headers["set-cookie"]
    assert cookie.startswith("__Host-wp_login_csrf=") and "Path=/" in cookie and "Domain" not in cookie
    assert all(flag in cookie.lower() for flag in ("secure", "httponly", "samesite=strict"))
    client.cookies.clear()
    token = _form_token(client)
    status, _ = _post(client, {"csrf_token": token})
    assert status == 303 and "wp_session" in client.cookies
    assert "__Host-wp_login_csrf" not in client.cookies


def test_the_json_login_accepts_json_only_so_a_cross_site_form_cannot_post_it(client: TestClient, people: Cast) -> None:
    body = json.dumps({"username": "ada", "password": PASSWORD})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = client.post("/v1/login", content=body, headers={"Content-Type": content_type})
        assert r.status_code == 422 and "wp_session" not in client.cookies, (content_type, r.text)
