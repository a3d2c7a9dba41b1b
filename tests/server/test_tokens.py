"""Revoking API tokens over HTTP and from the admin CLI: the owner or an admin, audited, effective at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_helpers import PASSWORD, Cast, Clock
from sqlalchemy import update
from typer.testing import CliRunner

from workprint.cli.main import _register, app
from workprint.config import ServerSettings
from workprint.errors import Unauthorized
from workprint.server.api import ServerAPI
from workprint.server.identity import Principal
from workprint.server.serve import build_api
from workprint.store import tables

_register([])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _new_token(client: TestClient, who: str) -> tuple[str, str]:
    r = client.post("/v1/login", json={"username": who, "password": PASSWORD})
    assert r.status_code == 200, r.text
    csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
    r = client.post("/v1/tokens", json={"name": "laptop cli"}, headers=csrf)
    client.cookies.clear()
    assert r.status_code == 201, r.text
    return r.json()["token"], r.json()["id"]


def test_the_owner_revokes_a_token_and_it_stops_working_at_once(
    api: ServerAPI, client: TestClient, people: Cast
) -> None:
    token, token_id = _new_token(client, "steward")
    listed = client.get("/v1/tokens", headers=_bearer(token)).json()["tokens"]
    assert [t["id"] for t in listed if t["name"] == "laptop cli"] == [token_id]
    assert all("token_hash" not in t and t["revoked_at"] is None for t in listed)
    other, _ = _new_token(client, "steward")
    r = client.post(f"/v1/tokens/{token_id}/revoke", headers=_bearer(other))
    assert r.status_code == 204, r.text
    r = client.get("/v1/me", headers=_bearer(token))
    assert r.status_code == 401 and r.json()["error"]["message"] == "api token: unknown, expired or revoked"
    revokes = [e for e in api.metadata.audit_entries() if e.action == "api_token.revoke"]
    assert [(e.actor, e.subject) for e in revokes] == [(f"user:{people.steward.id}", f"api_token:{token_id}")]
    assert client.post(f"/v1/tokens/{token_id}/revoke", headers=_bearer(other)).status_code == 204  # idempotent
    assert len([e for e in api.metadata.audit_entries() if e.action == "api_token.revoke"]) == 1


def test_another_accounts_token_is_not_found_except_for_an_admin(
    api: ServerAPI, client: TestClient, people: Cast
) -> None:
    bobs, bobs_id = _new_token(client, "bob")
    steward, _ = _new_token(client, "steward")
    r = client.post(f"/v1/tokens/{bobs_id}/revoke", headers=_bearer(steward))
    assert r.status_code == 404 and r.json()["error"]["message"] == f"api token {bobs_id!r}: not found"
    assert client.get("/v1/me", headers=_bearer(bobs)).status_code == 200
    admin, _ = _new_token(client, "admin")
    assert client.post(f"/v1/tokens/{bobs_id}/revoke", headers=_bearer(admin)).status_code == 204
    assert client.get("/v1/me", headers=_bearer(bobs)).status_code == 401
    r = client.post("/v1/tokens/ffffffff/revoke", headers=_bearer(admin))
    assert r.status_code == 404 and "'ffffffff'" in r.json()["error"]["message"]


def test_a_cookie_session_needs_the_csrf_token_to_revoke(client: TestClient, people: Cast) -> None:
    _, token_id = _new_token(client, "auditor")
    client.post("/v1/login", json={"username": "auditor", "password": PASSWORD})
    r = client.post(f"/v1/tokens/{token_id}/revoke")
    assert r.status_code == 403 and r.json()["error"]["message"] == "csrf_token: missing or not this session's"


def test_admin_cli_lists_and_revokes_a_token(tmp_path: Path, db_url: str) -> None:
    blobs = str(tmp_path / "b")
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url, blob_url=blobs))
    try:
        user = api.identity.add_user(Principal.system("t", "admin"), "rita", PASSWORD, ["researcher"])
        token = api.identity.create_api_token(Principal("user", user.id, frozenset({"researcher"})), "notebook")
    finally:
        api.metadata.close()
    env = {"WORKPRINT_HOME": str(tmp_path)}
    r = CliRunner().invoke(app, ["admin", "list-tokens", "rita", "--db", db_url, "--blobs", blobs], env=env)
    m = re.fullmatch(r"([0-9a-f]{32}) active notebook", r.output.strip())
    assert r.exit_code == 0 and m, r.output
    r = CliRunner().invoke(app, ["admin", "revoke-token", m.group(1), "--db", db_url, "--blobs", blobs], env=env)
    assert r.exit_code == 0 and r.output.strip() == f"revoked api token {m.group(1)}", r.output
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url, blob_url=blobs))
    try:
        assert [e.actor for e in api.metadata.audit_entries() if e.action == "api_token.revoke"] == ["system:admin-cli"]
        assert api.identity.api_tokens(Principal.system("t", "admin"), user.id)[0].revoked_at is not None
        with pytest.raises(Unauthorized, match="api token: unknown, expired or revoked"):
            api.identity.principal_from_api_token(token)
    finally:
        api.metadata.close()
    r = CliRunner().invoke(app, ["admin", "revoke-token", "00", "--db", db_url, "--blobs", blobs], env=env)
    assert r.exit_code == 1 and str(r.exception) == "api token '00': not found"


def _mint(client: TestClient, token: str, name: str, ttl_s: int = 30 * 86400) -> tuple[str, str]:
    r = client.post("/v1/tokens", json={"name": name, "ttl_s": ttl_s}, headers=_bearer(token))
    assert r.status_code == 201, r.text
    return r.json()["token"], r.json()["id"]


def test_tokens_minted_by_a_token_die_with_it_at_any_depth(api: ServerAPI, client: TestClient, people: Cast) -> None:
    parent, parent_id = _new_token(client, "steward")
    child, child_id = _mint(client, parent, "minted by the leaked one")
    grandchild, grandchild_id = _mint(client, child, "and by that one")
    sibling, _ = _new_token(client, "steward")  # from a session: not in the family
    assert client.get("/v1/me", headers=_bearer(grandchild)).status_code == 200
    assert client.post(f"/v1/tokens/{parent_id}/revoke", headers=_bearer(sibling)).status_code == 204
    for token in (parent, child, grandchild):
        r = client.get("/v1/me", headers=_bearer(token))
        assert r.status_code == 401 and r.json()["error"]["message"] == "api token: unknown, expired or revoked"
        assert client.post("/v1/tokens", json={"name": "again"}, headers=_bearer(token)).status_code == 401
    listed = {t["id"]: t for t in client.get("/v1/tokens", headers=_bearer(sibling)).json()["tokens"]}
    assert all(listed[i]["revoked_at"] is not None for i in (parent_id, child_id, grandchild_id))
    assert (listed[child_id]["parent_id"], listed[grandchild_id]["parent_id"]) == (parent_id, child_id)
    revoke = [e for e in api.metadata.audit_entries() if e.action == "api_token.revoke"][-1]
    assert revoke.subject == f"api_token:{parent_id}" and revoke.detail["children"] == [child_id, grandchild_id]
    created = {e.subject: e.detail for e in api.metadata.audit_entries() if e.action == "api_token.create"}
    assert created[f"api_token:{grandchild_id}"] == {"parent": f"api_token:{child_id}"}


def test_a_child_token_never_outlives_its_parent(
    api: ServerAPI, client: TestClient, people: Cast, clock: Clock
) -> None:
    r = client.post("/v1/login", json={"username": "steward", "password": PASSWORD})
    short = client.post("/v1/tokens", json={"name": "an hour", "ttl_s": 3600},
                        headers={"X-CSRF-Token": r.json()["csrf_token"]}).json()  # fmt: skip
    client.cookies.clear()
    child, child_id = _mint(client, short["token"], "asks for a month")
    listed = {t["id"]: t for t in client.get("/v1/tokens", headers=_bearer(child)).json()["tokens"]}
    assert listed[child_id]["expires_at"] == listed[short["id"]]["expires_at"]
    clock.advance(3601)
    assert client.get("/v1/me", headers=_bearer(child)).status_code == 401


def test_a_child_minted_while_its_parent_was_revoked_is_still_refused(
    api: ServerAPI, client: TestClient, people: Cast
) -> None:
    parent, parent_id = _new_token(client, "steward")
    child, _ = _mint(client, parent, "minted in the race")
    with api.metadata.engine.begin() as conn:  # the parent revoked without reaching the child, as a race could
        conn.execute(update(tables.api_tokens).where(tables.api_tokens.c.id == parent_id).values(revoked_at=1))
    assert client.get("/v1/me", headers=_bearer(child)).status_code == 401
