"""Accounts, argon2id passwords, sessions with CSRF tokens, API tokens; logins audited without usernames."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from server_helpers import PASSWORD, Cast, Clock
from sqlalchemy import select

from workprint.errors import BadRequest, Forbidden, Unauthorized
from workprint.server.api import ServerAPI
from workprint.server.identity import SESSION_TTL_S, Principal
from workprint.store import tables

ROOT = Principal.system("test", "admin")


def test_passwords_are_stored_as_argon2id_hashes_only(api: ServerAPI) -> None:
    api.identity.add_user(ROOT, "grace", PASSWORD, ["steward"])
    with api.metadata.engine.connect() as conn:
        stored = conn.execute(select(tables.users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_login_opens_a_session_that_names_the_account_and_roles(api: ServerAPI) -> None:
    user = api.identity.add_user(ROOT, "Grace", PASSWORD, ["researcher"])
    session = api.identity.login("grace", PASSWORD)
    who = api.identity.principal_from_session(session.token)
    assert (who.kind, who.id, who.roles, who.participant_id) == ("user", user.id, {"researcher"}, None)
    last = api.metadata.audit_entries()[-1]
    assert (last.action, last.subject) == ("login.success", f"user:{user.id}")
    assert "grace" not in str(last.to_dict())  # the log names accounts by id, never by name


def test_a_wrong_password_and_an_unknown_user_fail_alike_and_are_audited(api: ServerAPI) -> None:
    user = api.identity.add_user(ROOT, "grace", PASSWORD, ["steward"])
    messages = []
    for username, password in (("grace", "wrong password!"), ("nobody", PASSWORD)):
        with pytest.raises(Unauthorized) as err:
            api.identity.login(username, password)
        messages.append(str(err.value))
    assert messages == ["login: unknown username or wrong password"] * 2
    tail = [(e.action, e.subject, e.detail["reason"]) for e in api.metadata.audit_entries()[-2:]]
    assert tail == [
        ("login.failure", f"user:{user.id}", "bad password"),
        ("login.failure", "user:unknown", "unknown account"),
    ]


def test_sessions_end_at_logout_and_expire(api: ServerAPI, clock: Clock) -> None:
    api.identity.add_user(ROOT, "grace", PASSWORD, ["steward"])
    first, second = api.identity.login("grace", PASSWORD), api.identity.login("grace", PASSWORD)
    api.identity.logout(first.token)
    with pytest.raises(Unauthorized, match="session: unknown, expired or ended"):
        api.identity.principal_from_session(first.token)
    api.identity.principal_from_session(second.token)
    clock.advance(SESSION_TTL_S)
    with pytest.raises(Unauthorized, match="session: unknown, expired or ended"):
        api.identity.principal_from_session(second.token)
    with pytest.raises(Unauthorized):
        api.identity.principal_from_session("wps_forged")


def test_only_admins_create_accounts_and_participant_accounts_link_a_participant(api: ServerAPI) -> None:
    with pytest.raises(Forbidden, match="accounts: requires the admin role"):
        api.identity.add_user(Principal.system("x", "steward"), "grace", PASSWORD, ["steward"])
    with pytest.raises(BadRequest, match="roles: participant accounts are claimed by the participant"):
        api.identity.add_user(ROOT, "ada", PASSWORD, ["participant"])
    with pytest.raises(BadRequest, match=r"roles: expected some of .*, got manager"):
        api.identity.add_user(ROOT, "ada", PASSWORD, ["manager"])
    with pytest.raises(BadRequest, match="password: expected 12 to 1024 characters, got 5"):
        api.identity.add_user(ROOT, "ada", "short", ["steward"])


def test_api_tokens_act_as_their_account_until_they_expire(api: ServerAPI, clock: Clock, people: Cast) -> None:
    token = api.identity.create_api_token(people.steward, "script", ttl_s=60)
    assert api.identity.principal_from_api_token(token) == people.steward
    clock.advance(61)
    with pytest.raises(Unauthorized, match="api token: unknown, expired or revoked"):
        api.identity.principal_from_api_token(token)


def test_the_session_cookie_is_httponly_secure_samesite_lax(client: TestClient, people: Cast) -> None:
    r = client.post("/v1/login", json={"username": "steward", "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert client.get("/v1/me").json()["roles"] == ["steward"]


def test_a_state_changing_cookie_request_needs_the_csrf_token(client: TestClient, people: Cast) -> None:
    csrf = client.post("/v1/login", json={"username": "steward", "password": PASSWORD}).json()["csrf_token"]
    body = {"purpose": "investigate a support ticket", "scope": "program"}
    r = client.post("/v1/grants", json=body)
    assert (r.status_code, r.json()["error"]["message"]) == (403, "csrf_token: missing or not this session's")
    r = client.post("/v1/grants", json=body, headers={"X-CSRF-Token": "not-it"})
    assert r.status_code == 403
    r = client.post("/v1/grants", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text


def test_logging_in_too_often_is_429_with_retry_after(client: TestClient, people: Cast) -> None:
    statuses = [
        client.post("/v1/login", json={"username": "ada", "password": "wrong password!"}).status_code for _ in range(11)
    ]
    assert statuses == [401] * 10 + [429]
    r = client.post("/v1/login", json={"username": "ada", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "too_many_requests"
