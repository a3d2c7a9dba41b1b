"""Single sign-on against a real OpenID provider process (``oidc-provider-mock``), on SQLite and PostgreSQL.

The browser is played by hand: our login redirect → the provider's authorize form (posting the subject) → the
provider's redirect back to our callback, each hop read from the ``Location`` header.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from server_helpers import PASSWORD, admins, claim_account
from typer.testing import CliRunner

from workprint.cli.main import _register
from workprint.cli.main import app as cli_app
from workprint.config import ServerSettings
from workprint.errors import Forbidden, Unauthorized
from workprint.server.api import ServerAPI
from workprint.server.app import create_app
from workprint.server.auth import SESSION_COOKIE
from workprint.server.claims import Claims
from workprint.server.identity import Principal
from workprint.server.oidc import OidcLogin, OidcSettings, map_roles, verify_id_token
from workprint.server.serve import build_api

_register([])
CALLBACK = "https://testserver/v1/auth/oidc/callback"
ROLE_MAP = (("wp-stewards", "steward"), ("wp-audit", "auditor"), ("staff", "participant"))


@pytest.fixture
def sso(api: ServerAPI, client: TestClient, provider: str) -> OidcLogin:
    login = OidcLogin(OidcSettings(provider, "workprint", "client-secret", CALLBACK, role_map=ROLE_MAP), api.identity)
    client.app.state.oidc = login  # type: ignore[attr-defined]
    return login


def _set_user(provider: str, sub: str, groups: list[str]) -> None:
    r = httpx.put(f"{provider}/users/{sub}", json={"groups": groups, "email": f"{sub}@example.com"})
    assert r.status_code == 204, r.text


def _authorize(authorize_url: str, sub: str) -> str:
    """Submit the provider's form as ``sub``; returns our callback URL with code and state."""
    r = httpx.post(authorize_url, data={"sub": sub})
    assert r.status_code in (302, 303), r.text
    return r.headers["location"]


def _login_redirect(client: TestClient) -> str:
    r = client.get("/v1/auth/oidc/login", follow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["location"]


def _callback(client: TestClient, url: str) -> httpx.Response:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return client.get(f"{parts.path}?{parts.query}")


def _with_param(url: str, key: str, value: str) -> str:
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    q[key] = [value]
    return urlunsplit(parts._replace(query=urlencode(q, doseq=True)))


def _failures(api: ServerAPI) -> list[dict[str, object]]:
    return [dict(e.detail) for e in api.metadata.audit_entries() if e.action == "login.failure"]


def test_the_login_redirect_carries_state_nonce_and_an_s256_challenge_but_no_verifier(
    client: TestClient, sso: OidcLogin, provider: str
) -> None:
    q = parse_qs(urlsplit(_login_redirect(client)).query)
    assert q["response_type"] == ["code"] and q["client_id"] == ["workprint"] and q["redirect_uri"] == [CALLBACK]
    assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43
    assert len(q["state"][0]) >= 32 and len(q["nonce"][0]) >= 32
    assert "code_verifier" not in q and "openid" in q["scope"][0].split()


def test_a_first_login_creates_an_account_with_the_mapped_role_and_a_session(
    api: ServerAPI, client: TestClient, sso: OidcLogin, provider: str
) -> None:
    _set_user(provider, "carol", ["wp-stewards", "unrelated"])
    r = _callback(client, _authorize(_login_redirect(client), "carol"))
    assert r.status_code == 200, r.text
    cookie = r.cookies.get(SESSION_COOKIE)
    assert cookie and "httponly" in r.headers["set-cookie"].lower() and "secure" in r.headers["set-cookie"].lower()
    me = client.get("/v1/me").json()
    assert me["roles"] == ["steward"] and me["user_id"] == r.json()["user_id"]
    actions = [e.action for e in api.metadata.audit_entries()]
    assert actions[-2:] == ["account.create", "login.success"]
    # A second login signs in to the same account; a changed group at the provider changes the role.
    _set_user(provider, "carol", ["wp-audit"])
    r2 = _callback(client, _authorize(_login_redirect(client), "carol"))
    assert r2.status_code == 200 and r2.json()["user_id"] == r.json()["user_id"]
    assert client.get("/v1/me").json()["roles"] == ["auditor"]


def test_a_tampered_state_is_refused_and_audited(
    api: ServerAPI, client: TestClient, sso: OidcLogin, provider: str
) -> None:
    _set_user(provider, "dave", ["wp-stewards"])
    back = _authorize(_login_redirect(client), "dave")
    state = parse_qs(urlsplit(back).query)["state"][0]
    tampered = ("y" if state[0] == "x" else "x") + state[1:]  # a state starting with "x" once made this a no-op
    r = _callback(client, _with_param(back, "state", tampered))
    assert r.status_code == 401 and r.json()["error"]["message"].startswith("state: unknown, expired or already used")
    assert SESSION_COOKIE not in r.cookies
    assert _failures(api)[-1] == {"method": "oidc", "reason": "state"}


def test_a_replayed_callback_and_a_replayed_code_are_refused(
    api: ServerAPI, client: TestClient, sso: OidcLogin, provider: str
) -> None:
    _set_user(provider, "erin", ["wp-stewards"])
    back = _authorize(_login_redirect(client), "erin")
    assert _callback(client, back).status_code == 200
    again = _callback(client, back)  # the same state and code a second time
    assert again.status_code == 401 and "state" in again.json()["error"]["message"]
    # The used code under a fresh, valid state: the provider refuses it.
    fresh = _authorize(_login_redirect(client), "erin")
    code = parse_qs(urlsplit(back).query)["code"][0]
    r = _callback(client, _with_param(fresh, "code", code))
    assert r.status_code == 401 and r.json()["error"]["message"].startswith("code: the provider refused")
    assert [f["reason"] for f in _failures(api)][-2:] == ["state", "code"]


def test_a_wrong_nonce_is_refused(api: ServerAPI, client: TestClient, sso: OidcLogin, provider: str) -> None:
    _set_user(provider, "frank", ["wp-stewards"])
    # The provider is asked for a token with another nonce than the one kept for this state.
    forged = _with_param(_login_redirect(client), "nonce", "attacker-chosen-nonce-0123456789abcdef")
    r = _callback(client, _authorize(forged, "frank"))
    assert r.status_code == 401 and r.json()["error"]["message"].startswith("id_token: nonce claim not valid")
    assert _failures(api)[-1] == {"method": "oidc", "reason": "id_token"}
    assert client.get("/v1/me").status_code == 401


def test_an_unmapped_user_and_an_unlinked_participant_are_refused(
    api: ServerAPI, client: TestClient, sso: OidcLogin, provider: str
) -> None:
    _set_user(provider, "gina", ["everyone"])
    r = _callback(client, _authorize(_login_redirect(client), "gina"))
    assert (
        r.status_code == 403 and r.json()["error"]["message"] == "oidc: no role is mapped for this account's 'groups'"
    )
    _set_user(provider, "hal", ["staff"])
    r = _callback(client, _authorize(_login_redirect(client), "hal"))
    assert r.status_code == 403 and "must be linked by the participant" in r.json()["error"]["message"]
    assert [f["reason"] for f in _failures(api)][-2:] == ["no role", "participant not linked"]
    assert not [e for e in api.metadata.audit_entries() if e.action == "account.create" and e.actor == "system:oidc"]


def _link_own(client: TestClient, username: str, sub: str) -> httpx.Response:
    """Sign in with the password the participant chose at their claim, bind ``sub`` through the provider."""
    csrf = client.post("/v1/login", json={"username": username, "password": PASSWORD}).json()["csrf_token"]
    r = client.post("/v1/auth/oidc/link", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    client.cookies.clear()  # the callback needs no session: the link is bound to the login's state on the server
    return _callback(client, _authorize(r.headers["location"], sub))


def test_a_participant_binds_their_own_sign_on_and_an_admin_cannot(
    api: ServerAPI, client: TestClient, sso: OidcLogin, provider: str
) -> None:
    pid = api.create_participant("Ivy")
    e = api.enroll(api.create_enrolment_code(pid), "ivy-laptop")
    ivy = claim_account(api, e.device_token, "ivy")
    admin, _ = admins(api)
    for who in (Principal.system("test", "admin"), admin):
        with pytest.raises(Forbidden, match="only the participant binds its sign-in"):
            sso.link(who, ivy.id, "ivy-sub")
    with pytest.raises(Forbidden, match="only a signed-in participant binds their own sign-on"):
        sso.start(link_for=admin)
    _set_user(provider, "ivy-sub", ["staff", "wp-stewards"])  # a steward group on the provider gives her no role
    r = _link_own(client, "ivy", "ivy-sub")
    assert r.status_code == 200, r.text
    client.cookies.clear()
    r = _callback(client, _authorize(_login_redirect(client), "ivy-sub"))
    assert r.status_code == 200, r.text
    assert client.get("/v1/me").json() == {"user_id": ivy.id, "roles": ["participant"], "participant_id": pid}
    links = [e for e in api.metadata.audit_entries() if e.action == "account.oidc_link"]
    assert [(e.actor, e.subject) for e in links] == [(f"user:{ivy.id}", f"user:{ivy.id}")]
    client.cookies.clear()
    assert _link_own(client, "ivy", "other-sub").status_code == 409  # one subject per account


def test_a_recovery_drops_a_sign_on_link_under_way(
    api: ServerAPI, client: TestClient, sso: OidcLogin, provider: str
) -> None:
    pid = api.create_participant("Jo")
    jo = claim_account(api, api.enroll(api.create_enrolment_code(pid), "jo-laptop").device_token, "jo")
    started = sso.start(link_for=jo)  # e.g. by someone holding Jo's session
    admin, _ = admins(api)
    Claims(api.identity).recover(admin, pid)
    _set_user(provider, "mallory-sub", ["staff"])
    r = _callback(client, _authorize(started, "mallory-sub"))
    assert r.status_code == 401 and r.json()["error"]["message"].startswith("state: unknown, expired or already used")
    assert not [e for e in api.metadata.audit_entries() if e.action == "account.oidc_link"]


def _id_token_for(provider: str, client_id: str, sub: str, nonce: str) -> str:
    """An ID token the provider issues to ``client_id`` (no PKCE, straight through its endpoints)."""
    q = {"response_type": "code", "client_id": client_id, "redirect_uri": "http://127.0.0.1/cb", "scope": "openid",
         "state": "s", "nonce": nonce}  # fmt: skip
    back = _authorize(f"{provider}/oauth2/authorize?{urlencode(q)}", sub)
    code = parse_qs(urlsplit(back).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1/cb"}
    r = httpx.post(f"{provider}/oauth2/token", auth=(client_id, "x"), data=form)
    assert r.status_code == 200, r.text
    return str(r.json()["id_token"])


def test_id_token_checks_audience_issuer_expiry_and_signature(provider: str) -> None:
    token = _id_token_for(provider, "another-app", "jo", "n-1")
    jwks = httpx.get(f"{provider}/jwks").json()
    now = int(time.time())
    ok = verify_id_token(token, jwks, issuer=provider, audience="another-app", nonce="n-1", now_s=now)
    assert ok["sub"] == "jo"
    cases = {
        "aud": dict(issuer=provider, audience="workprint", nonce="n-1", now_s=now),
        "iss": dict(issuer="http://evil.example", audience="another-app", nonce="n-1", now_s=now),
        "exp": dict(issuer=provider, audience="another-app", nonce="n-1", now_s=now + 2 * 86400),
    }
    for claim, kw in cases.items():
        with pytest.raises(Unauthorized, match=f"id_token: {claim} claim not valid"):
            verify_id_token(token, jwks, **kw)  # type: ignore[arg-type]
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    with pytest.raises(Unauthorized, match="id_token: signature not valid"):
        verify_id_token(
            f"{head}.{body}.{flipped}", jwks, issuer=provider, audience="another-app", nonce="n-1", now_s=now
        )


def test_role_mapping_and_settings_from_env() -> None:
    assert map_roles({"groups": ["a", "b"]}, "groups", (("a", "steward"), ("b", "auditor"))) == ("auditor", "steward")
    assert map_roles({"groups": "a"}, "groups", (("a", "steward"),)) == ("steward",)
    assert map_roles({"groups": 7}, "groups", (("a", "steward"),)) == ()
    assert OidcSettings.from_env({}) is None
    s = OidcSettings.from_env({
        "WORKPRINT_OIDC_ISSUER": "https://idp.example/", "WORKPRINT_OIDC_CLIENT_ID": "wp",
        "WORKPRINT_OIDC_CLIENT_SECRET": "x",
        "WORKPRINT_OIDC_REDIRECT_URL": CALLBACK, "WORKPRINT_OIDC_ROLE_MAP": "wp-stewards=steward, wp-audit=auditor",
    })  # fmt: skip
    assert s is not None and s.issuer == "https://idp.example" and s.role_map[1] == ("wp-audit", "auditor")
    with pytest.raises(Exception, match="'x' maps to 'root'"):
        OidcSettings("https://i", "c", "s", CALLBACK, role_map=(("x", "root"),))


def test_without_configuration_the_routes_answer_404(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKPRINT_OIDC_ISSUER", raising=False)
    r = client.get("/v1/auth/oidc/login", follow_redirects=False)
    assert (
        r.status_code == 404 and r.json()["error"]["message"] == "oidc: single sign-on is not configured on this server"
    )


def test_with_an_after_login_path_the_browser_lands_there_signed_in(
    api: ServerAPI, client: TestClient, provider: str
) -> None:
    settings = OidcSettings(provider, "workprint", "s", CALLBACK, role_map=ROLE_MAP, after_login_url="/portal/")
    client.app.state.oidc = OidcLogin(settings, api.identity)  # type: ignore[attr-defined]
    _set_user(provider, "kim", ["wp-audit"])
    back = urlsplit(_authorize(_login_redirect(client), "kim"))
    r = client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/portal/" and r.cookies.get(SESSION_COOKIE)
    assert client.get("/v1/me").json()["roles"] == ["auditor"]
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil"):
        with pytest.raises(Exception, match="after_login_url: expected a local path"):
            OidcSettings(provider, "workprint", "s", CALLBACK, after_login_url=bad)


def test_admin_cli_links_a_subject_to_a_staff_account_but_not_a_participants(
    tmp_path: Path, db_url: str, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKPRINT_OIDC_ISSUER", provider)
    monkeypatch.setenv("WORKPRINT_OIDC_CLIENT_ID", "workprint")
    monkeypatch.setenv("WORKPRINT_OIDC_CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("WORKPRINT_OIDC_REDIRECT_URL", CALLBACK)
    monkeypatch.setenv("WORKPRINT_OIDC_ROLE_MAP", "staff=participant,team=researcher")
    blobs = str(tmp_path / "b")
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url, blob_url=blobs))
    try:
        pid = api.create_participant("Lou")
        claim_account(api, api.enroll(api.create_enrolment_code(pid), "lou-laptop").device_token, "lou")
        admin, _ = admins(api)
        api.identity.add_user(admin, "rae", None, ["researcher"])
    finally:
        api.metadata.close()
    env = {"WORKPRINT_HOME": str(tmp_path)}
    r = CliRunner().invoke(cli_app, ["admin", "link-sso", "lou", "lou-sub", "--db", db_url, "--blobs", blobs], env=env)
    assert r.exit_code == 1 and "only the participant binds its sign-in" in str(r.exception), r.output
    args = ["admin", "link-sso", "rae", "rae-sub", "--db", db_url, "--blobs", blobs]
    r = CliRunner().invoke(cli_app, args, env=env)
    assert r.exit_code == 0 and r.output.strip() == f"linked {provider} subject 'rae-sub' to user rae", r.output
    r = CliRunner().invoke(cli_app, args, env=env)
    assert r.exit_code == 1 and "already linked" in str(r.exception)
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url, blob_url=blobs))
    try:
        with TestClient(create_app(api), base_url="https://testserver") as client:  # the app reads WORKPRINT_OIDC_*
            _set_user(provider, "rae-sub", ["team"])
            r = _callback(client, _authorize(_login_redirect(client), "rae-sub"))
            assert r.status_code == 200, r.text
            assert client.get("/v1/me").json()["roles"] == ["researcher"]
    finally:
        api.metadata.close()
