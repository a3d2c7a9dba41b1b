"""The audit log over HTTP: the public head with its consistency proof, and checkpoints a page at a time."""

from __future__ import annotations

from fastapi.testclient import TestClient

from account_helpers import admins, staff
from workprint.audit import merkle
from workprint.server.api import ServerAPI
from workprint.store.records import AuditEvent


def test_the_head_proves_it_extends_any_earlier_size(api: ServerAPI, client: TestClient) -> None:
    for i in range(9):
        api.audit_log.append(AuditEvent("user:1", "segment.read", f"segment:{i:064x}"))
    old = api.audit_log.checkpoints()[3]
    body = client.get(f"/v1/audit/checkpoint?since={old.size}").json()
    new = body["checkpoint"]
    assert new["size"] == len(api.audit_log.entries()) and body["public_key"] == bytes(api.audit_log.verify_key).hex()
    proof = [bytes.fromhex(p) for p in body["consistency"]]
    assert merkle.verify_consistency(old.size, new["size"], bytes.fromhex(old.root), bytes.fromhex(new["root"]), proof)
    bad = client.get("/v1/audit/checkpoint?since=-1")
    assert bad.status_code == 422 and "since" in bad.text


def test_checkpoints_come_a_page_at_a_time(api: ServerAPI, client: TestClient) -> None:
    first, second = admins(api)
    staff(api, first, second, "audrey", ["auditor"], "a long enough password")
    token = client.post("/v1/login", json={"username": "audrey", "password": "a long enough password"}).json()
    for i in range(5):
        api.audit_log.append(AuditEvent("user:1", "segment.read", f"segment:{i:064x}"))
    total = len(api.audit_log.checkpoints())
    seen = []
    after: int | None = 0
    while after is not None:
        r = client.get(f"/v1/audit/checkpoints?after={after}&limit=3", headers={"X-CSRF-Token": token["csrf_token"]})
        assert r.status_code == 200, r.text
        seen += r.json()["checkpoints"]
        after = r.json()["next"]
    assert len(seen) == total >= 5
    assert [c["size"] for c in seen] == sorted(c["size"] for c in seen)
