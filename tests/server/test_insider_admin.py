"""An admin as the insider (issue #13, item 1): every path by which an admin alone, or through accounts it creates,
could reach participants' recorded data or sign in as a participant, played over the HTTP API and the CLI.

Each path must be refused with one clear line naming the field and value, store nothing, and never answer with a
participant's recorded data.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from server_helpers import PASSWORD, admins, cast, claim_account, signed_in, staff
from typer.testing import CliRunner

from workprint.cli.main import _register, app
from workprint.config import ServerSettings
from workprint.server.api import ServerAPI
from workprint.server.app import create_app
from workprint.server.claims import Claims
from workprint.server.identity import Principal
from workprint.server.serve import build_api

_register([])
PURPOSE = "check the reducer against real input"


def _client(api: ServerAPI, who: Principal) -> TestClient:
    c = TestClient(create_app(api), base_url="https://testserver", follow_redirects=False)
    c.headers["Authorization"] = f"Bearer {api.identity.create_api_token(who, 'insider')}"
    return c


def _no_plaintext(text: str) -> None:
    # What ``server_helpers.events`` records: a window title, an app name, a typed key.
    assert '"events"' not in text and "Terminal" not in text and "xterm" not in text, text


def test_admin_cannot_create_a_participant_account_over_http(api: ServerAPI) -> None:
    people = cast(api)
    pid = api.create_participant("cy")
    api.enroll(api.create_enrolment_code(pid), "cy-laptop")
    admin = _client(api, people.admin)
    users_before = len(api.identity.accounts.users())
    for body in (
        {"username": "cy", "password": PASSWORD, "roles": ["participant"], "participant_id": pid},
        {"username": "cy", "password": PASSWORD, "roles": ["researcher"], "participant_id": pid},
    ):
        r = admin.post("/v1/admin/users", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"].startswith("roles: participant accounts are claimed by the participant")
        _no_plaintext(r.text)
    assert len(api.identity.accounts.users()) == users_before
    assert api.identity.accounts.user_by_name("cy") is None


def test_admin_cannot_create_a_participant_account_with_the_cli(tmp_path: Path, db_url: str) -> None:
    blobs, env = str(tmp_path / "b"), {"WORKPRINT_HOME": str(tmp_path)}
    r = CliRunner().invoke(app, ["admin", "add-participant", "Ada", "--db", db_url, "--blobs", blobs], env=env)
    pid = re.search(r"participant ([0-9a-f]{32})", r.output)
    assert r.exit_code == 0 and pid, r.output
    args = ["admin", "add-user", "ada", "--role", "participant", "--participant", pid.group(1), "--password-stdin"]
    r = CliRunner().invoke(app, [*args, "--db", db_url, "--blobs", blobs], input=PASSWORD + "\n", env=env)
    assert r.exit_code == 1 and str(r.exception).startswith("roles: participant accounts are claimed"), r.output
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url, blob_url=blobs))
    try:
        assert api.identity.accounts.user_by_name("ada") is None
    finally:
        api.metadata.close()


def test_the_claim_code_reaches_only_the_participants_device_and_works_once(api: ServerAPI) -> None:
    people = cast(api)
    pid = api.create_participant("cy")
    e = api.enroll(api.create_enrolment_code(pid), "cy-laptop")
    claims = Claims(api.identity)
    got = claims.for_device(api.authenticate_device(e.device_token))
    assert got is not None and got["reason"] == "enrolment"
    assert claims.for_device(api.authenticate_device(e.device_token)) is None  # delivered once
    stored = [c["code_hash"] for c in claims.store.claims(pid)]
    assert got["code"] not in str(stored) and got["code"].replace("-", "") not in str(stored)  # hashed at rest
    anon = TestClient(create_app(api), base_url="https://testserver")
    r = anon.post("/v1/claim", json={"code": got["code"], "username": "cy", "password": PASSWORD})
    assert r.status_code == 201, r.text
    again = anon.post("/v1/claim", json={"code": got["code"], "username": "cy2", "password": PASSWORD})
    assert again.status_code == 401 and again.json()["error"]["message"].startswith("code: claim code is unknown")
    assert api.identity.accounts.user_by_name("cy2") is None
    actions = [e.action for e in api.metadata.audit_entries()]
    assert {"account.claim_open", "account.claim_code", "account.claim", "account.claim_failure"} <= set(actions)
    # Nothing an admin can call returns a claim code.
    admin = _client(api, people.admin)
    r = admin.post(f"/v1/admin/participants/{pid}/recovery", json={})
    assert r.status_code == 201 and set(r.json()) == {"claim_id"}, r.text


def test_a_claim_code_expires(api: ServerAPI, clock: object) -> None:
    pid = api.create_participant("cy")
    e = api.enroll(api.create_enrolment_code(pid), "cy-laptop")
    claims = Claims(api.identity, ttl_s=60)
    got = claims.for_device(api.authenticate_device(e.device_token))
    assert got is not None
    clock.advance(61)  # type: ignore[attr-defined]
    anon = TestClient(create_app(api), base_url="https://testserver")
    r = anon.post("/v1/claim", json={"code": got["code"], "username": "cy", "password": PASSWORD})
    assert r.status_code == 401, r.text
    assert claims.for_device(api.authenticate_device(e.device_token)) is not None  # a fresh one, to the device


def test_recovery_revokes_every_credential_and_is_shown_to_the_participant(api: ServerAPI) -> None:
    people = cast(api)
    ada = people.ada
    assert ada.participant_id is not None
    ada_client = _client(api, ada)
    assert ada_client.get("/v1/me/segments").status_code == 200
    admin = _client(api, people.admin)
    r = admin.post(f"/v1/admin/participants/{ada.participant_id}/recovery", json={})
    assert r.status_code == 201, r.text
    _no_plaintext(r.text)
    assert ada_client.get("/v1/me/segments").status_code == 401  # the old token died with the recovery
    anon = TestClient(create_app(api), base_url="https://testserver")
    assert anon.post("/v1/login", json={"username": "ada", "password": PASSWORD}).status_code == 401
    # The admin holds no code; the participant's device learns of the recovery at its next sync.
    e = api.enroll(api.create_enrolment_code(ada.participant_id), "ada-new-laptop")  # e.g. the old one was lost
    device = api.authenticate_device(e.device_token)
    got = Claims(api.identity).for_device(device)
    assert got is not None and got["reason"] == "recovery"
    assert Claims(api.identity).claim(got["code"], "ada", "a brand new password").participant_id == ada.participant_id
    me = signed_in(api, "ada", "a brand new password")
    mine = _client(api, me)
    actions = [e["action"] for e in mine.get("/v1/me/sign-ins").json()["sign_ins"]]
    assert "account.recovery" in actions and "account.claim" in actions and "login.success" in actions
    claims = mine.get("/v1/me/claims").json()["claims"]
    assert any(c["reason"] == "recovery" and c["opened_by"] == people.admin.actor and c["used_at"] for c in claims)


def test_participant_changes_password_and_old_sessions_die(api: ServerAPI) -> None:
    people = cast(api)
    old_session = api.identity.login("ada", PASSWORD).token
    ada = _client(api, people.ada)
    wrong = ada.post("/v1/me/password", json={"old_password": "not the password", "new_password": "x" * 12})
    assert wrong.status_code == 401 and wrong.json()["error"]["message"].startswith("old_password:")
    short = ada.post("/v1/me/password", json={"old_password": PASSWORD, "new_password": "short"})
    assert short.status_code in (400, 422), short.text
    r = ada.post("/v1/me/password", json={"old_password": PASSWORD, "new_password": "another long password"})
    assert r.status_code == 204, r.text
    assert ada.get("/v1/me").status_code == 200  # the token that made the change stays
    try:
        api.identity.principal_from_session(old_session)
        raise AssertionError("the old session survived a password change")
    except Exception as exc:  # Unauthorized is what we expect
        assert "session" in str(exc)
    assert signed_in(api, "ada", "another long password").participant_id == people.ada.participant_id


def test_staff_roles_wait_for_a_second_independent_admin(api: ServerAPI) -> None:
    first, second = admins(api)
    c = _client(api, first)
    for name in ("s1", "s2"):
        r = c.post("/v1/admin/users", json={"username": name, "password": PASSWORD, "roles": ["steward"]})
        assert r.status_code == 201 and r.json()["roles"] == [] and r.json()["pending"][0]["role"] == "steward"
    s1 = signed_in(api, "s1")
    r = _client(api, s1).post("/v1/grants", json={"purpose": PURPOSE, "scope": "program"})
    assert r.status_code == 403, r.text  # not a steward until a second admin approves
    pending = c.get("/v1/admin/role-grants").json()["role_grants"]
    own = [g for g in pending if g["approved_at"] is None]
    r = c.post(f"/v1/admin/role-grants/{own[0]['id']}/approve")
    assert r.status_code == 403 and "the requester cannot approve their own request" in r.text
    # An admin the requester created itself is no second person.
    r = c.post("/v1/admin/users", json={"username": "puppet", "password": PASSWORD, "roles": ["admin"]})
    puppet_grant = r.json()["pending"][0]["id"]
    assert _client(api, second).post(f"/v1/admin/role-grants/{puppet_grant}/approve").status_code == 200
    puppet = signed_in(api, "puppet")
    r = _client(api, puppet).post(f"/v1/admin/role-grants/{own[0]['id']}/approve")
    assert r.status_code == 403 and "created by the requester" in r.text
    assert "steward" not in (api.identity.accounts.user_by_name("s1") or Principal("public")).roles  # type: ignore[union-attr]
    for g in own:
        assert _client(api, second).post(f"/v1/admin/role-grants/{g['id']}/approve").status_code == 200
    assert signed_in(api, "s1").has("steward") and signed_in(api, "s2").has("steward")


def test_incompatible_roles_are_refused_naming_them(api: ServerAPI) -> None:
    first, second = admins(api)
    c = _client(api, first)
    for roles in (["admin", "steward"], ["admin", "auditor"], ["steward", "auditor"]):
        r = c.post("/v1/admin/users", json={"username": "multi", "password": PASSWORD, "roles": roles})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"] == (
            f"roles: {roles[0]} and {roles[1]} may not be held by one account, got {', '.join(sorted(roles))}"
        )
    assert api.identity.accounts.user_by_name("multi") is None
    aud = staff(api, first, second, "aud", ["auditor"])
    r = c.post(f"/v1/admin/users/{aud.id}/roles", json={"role": "steward"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("roles: steward and auditor"), r.text
    r = c.post(f"/v1/admin/users/{second.id}/roles", json={"role": "auditor"})
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("roles: admin and auditor"), r.text


def test_a_grant_approver_created_or_promoted_by_the_requester_is_refused(api: ServerAPI) -> None:
    people = cast(api)
    # Simulate a requester who once made its approver's account (as an earlier admin): created_by says so.
    with api.metadata.engine.begin() as conn:
        from sqlalchemy import update

        from workprint.store import tables as t

        conn.execute(update(t.users).where(t.users.c.id == people.steward2.id)
                     .values(created_by=people.steward.actor))  # fmt: skip
    g = api.access.request_grant(people.steward, PURPOSE, "program")
    r = _client(api, people.steward2).post(f"/v1/grants/{g.id}/approve")
    assert r.status_code == 403 and "created by the requester" in r.text, r.text


def test_admin_cannot_link_single_sign_on_to_a_participant(api: ServerAPI) -> None:
    from workprint.server.oidc import OidcLogin, OidcSettings

    people = cast(api)
    sso = OidcLogin(OidcSettings("https://idp.example", "wp", "s", "https://testserver/cb"), api.identity)
    try:
        sso.link(people.admin, people.ada.id, "admin-controlled-subject")
        raise AssertionError("an admin linked a sign-on subject to a participant's account")
    except Exception as exc:
        assert "participant's account" in str(exc)


def test_claiming_a_second_device_gives_no_new_code(api: ServerAPI) -> None:
    pid = api.create_participant("cy")
    e = api.enroll(api.create_enrolment_code(pid), "cy-laptop")
    claim_account(api, e.device_token, "cy")
    e2 = api.enroll(api.create_enrolment_code(pid), "admin-laptop")  # e.g. a device an admin enrolled itself
    assert Claims(api.identity).for_device(api.authenticate_device(e2.device_token)) is None
