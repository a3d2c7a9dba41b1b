"""The full path with encryption on, over HTTP: a device enrols, consents and uploads a sealed segment; the
participant signs in (cookie session) and reads it decrypted; the read shows up among their accesses with an
inclusion proof that verifies against the public checkpoint key."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient
from nacl.signing import VerifyKey
from server_helpers import PASSWORD, claim_account, consent_all, sealed

from workprint.audit.checkpoint import Checkpoint, entry_bytes, signature_ok
from workprint.audit.merkle import leaf_hash, verify_inclusion
from workprint.models import to_record
from workprint.server.api import ServerAPI


def test_a_participant_reads_their_upload_and_sees_the_read_with_a_proof(api: ServerAPI, client: TestClient) -> None:
    pid = api.create_participant("Ada")
    enrol = client.post("/v1/enroll", json={"code": api.create_enrolment_code(pid), "device_name": "laptop"}).json()
    claim_account(api, enrol["device_token"], "ada")
    consent_all(api, enrol["device_token"])
    sid, data, evs = sealed(pid, enrol["device_id"], base64.b64decode(enrol["public_key"]))
    put = client.put(f"/v1/segments/{sid}", content=data, headers={"Authorization": f"Bearer {enrol['device_token']}"})
    assert put.status_code == 201, put.text
    stored = api.blobs.get(f"segments/{sid[:2]}/{sid}")
    assert stored == data and b"Terminal" not in stored and b"xterm" not in stored  # ciphertext only at rest
    assert client.post("/v1/login", json={"username": "ada", "password": PASSWORD}).status_code == 200
    assert [s["id"] for s in client.get("/v1/me/segments").json()["segments"]] == [sid]
    got = client.get(f"/v1/me/segments/{sid}").json()
    assert got["events"] == [to_record(e) for e in evs] and got["header"]["participant"] == pid
    accesses = client.get("/v1/me/accesses").json()
    key = VerifyKey(bytes.fromhex(client.get("/v1/audit/public-key").json()["public_key"]))
    reads = [a for a in accesses["accesses"] if a["entry"]["action"] == "segment.read"]
    assert len(reads) == 1 and reads[0]["entry"]["subject"] == f"segment:{sid}"
    a = reads[0]
    cp = Checkpoint(**a["checkpoint"])
    assert signature_ok(cp, key)
    proof = [bytes.fromhex(p) for p in a["proof"]]
    assert verify_inclusion(leaf_hash(entry_bytes(a["entry"])), a["index"], cp.size, proof, bytes.fromhex(cp.root))
    a["entry"]["actor"] = "someone else"
    assert not verify_inclusion(leaf_hash(entry_bytes(a["entry"])), a["index"], cp.size, proof, bytes.fromhex(cp.root))
