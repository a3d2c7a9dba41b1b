"""Scale-out as an operator runs it: three ``workprint server`` processes on one PostgreSQL database, one S3 blob store
(SeaweedFS) and one key store: OpenBao's Vault Transit (each replica with its own home holding a copy of the audit
signing key), or the master key file and key directory on storage all of them share. Twenty devices upload through
all three, retrying on another replica when one fails (as a load balancer does); one replica is killed with -9
mid-run and started again; the keys are rotated from the CLI and a participant is created while uploads go on; every
replica checkpoints, on its timer and on request. Then every acknowledged segment is stored once and decrypts, reads
answer on every replica, the audit log verifies and each checkpoint extends the last, and every replica is ready."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from reliability_helpers import Device, consent_all, free_port, seal_segment, start_server

from account_helpers import admins, claim_account, staff
from clock_helpers import HISTORIC_ENV
from s3_server import s3_url, weed
from workprint.config import ServerSettings
from workprint.server.api import blob_key, split_secret
from workprint.server.serve import build_api

pytestmark = pytest.mark.postgres

REPLICAS, DEVICES, SEGMENTS = 3, 20, 12
VAULT_TOKEN = "root-test-token"


@pytest.fixture
def s3_blobs(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "weed").mkdir()
    with weed(tmp_path / "weed") as w:
        yield s3_url(w.endpoint, "replica-blobs")


def _upload(urls: list[str], dev: Device, todo: list[tuple[str, bytes]], acked: list[str], start: int) -> None:
    """Upload ``todo`` round-robin over the replicas; a refused or failed attempt is retried on the next one."""
    clients = {u: httpx.Client(base_url=u, timeout=10, trust_env=False) for u in urls}
    turn = itertools.count(start)
    try:
        for sid, data in todo:
            deadline = time.monotonic() + 60
            while True:
                client = clients[urls[next(turn) % len(urls)]]
                try:
                    auth = {"authorization": f"Bearer {dev.token}"}
                    r = client.put(f"/v1/segments/{sid}", content=data, headers=auth)
                except httpx.TransportError:
                    r = None
                if r is not None and r.status_code in (200, 201):
                    acked.append(sid)
                    break
                assert r is None or r.status_code in (502, 503, 500), r.text  # only overload or a dying replica
                assert time.monotonic() < deadline, "no replica took the segment within 60 s"
                time.sleep(0.05)
    finally:
        for c in clients.values():
            c.close()


@pytest.mark.parametrize("key_store", ["vault", "key-file"])
def test_three_replicas_on_postgresql_and_s3_survive_a_kill_and_a_key_rotation(
    tmp_path: Path, pg_url: str, s3_blobs: str, key_store: str, request: pytest.FixtureRequest
) -> None:
    env = {"WORKPRINT_BLOB_URL": s3_blobs, "WORKPRINT_CHECKPOINT_INTERVAL_S": "0.5"}
    if key_store == "vault":
        vault_url: str = request.getfixturevalue("vault_url")
        env |= {"WORKPRINT_VAULT_ADDR": vault_url, "WORKPRINT_VAULT_TOKEN": VAULT_TOKEN,
                "WORKPRINT_VAULT_KEY": f"rep-{tmp_path.name[-10:]}"}  # fmt: skip
        homes = [tmp_path / f"replica-{i}" for i in range(REPLICAS)]
    else:  # the master key file and key directory on storage every replica mounts (the README says how)
        homes = [tmp_path / "shared-home"] * REPLICAS
    settings = ServerSettings(home=homes[0], db_url=pg_url, blob_url=s3_blobs)
    api = build_api(settings, env)  # the first home sets the deployment up; the others get its signing key
    for h in homes[1:] if key_store == "vault" else []:
        (h / "server").mkdir(parents=True)
        shutil.copy2(homes[0] / "server" / "audit-signing.key", h / "server" / "audit-signing.key")
    devices, participants = [], []
    for n in range(DEVICES):
        if n % 4 == 0:
            pid = api.create_participant(f"person-{n}")
            participants.append(pid)
        e = api.enroll(api.create_enrolment_code(pid), f"laptop-{n}")
        if n % 4 == 0:
            claim_account(api, e.device_token, f"person-{n}", "a long test password")
        consent_all(api, e.device_token)
        devices.append(Device("", e.device_token, e.participant_id, e.device_id, e.public_key))
    admin, admin2 = admins(api, password="a long test password")
    auditor = staff(api, admin, admin2, "audra", ["auditor"], "a long test password")
    auditor_token = api.identity.create_api_token(auditor, "replica-test")
    reader = api.identity.principal_from_session(api.identity.login("person-0", "a long test password").token)
    reader_token = api.identity.create_api_token(reader, "replica-test")

    ports = [free_port() for _ in homes]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    procs = [start_server(h, p, pg_url, **env) for h, p in zip(homes, ports, strict=True)]
    todo = {d.device: [seal_segment(d, n * 1000 + s, frame_bytes=3000) for s in range(SEGMENTS)]
            for n, d in enumerate(devices)}  # fmt: skip
    acked: list[str] = []
    threads = [threading.Thread(target=_upload, args=(urls, d, todo[d.device], acked, n))
               for n, d in enumerate(devices)]  # fmt: skip
    try:
        for t in threads:
            t.start()
        total = DEVICES * SEGMENTS
        while len(acked) < total // 4:
            time.sleep(0.01)
        procs[1].kill()  # kill -9 of one replica mid-run
        procs[1].wait()
        while len(acked) < total // 2:
            time.sleep(0.01)
        late: list[str] = []
        creator = threading.Thread(target=lambda: late.append(api.create_participant("late joiner")))
        creator.start()  # a participant is created while the keys rotate
        rotation = subprocess.run(
            [sys.executable, "-m", "workprint.cli", "admin", "rotate-keys", "--db", pg_url],
            env={**os.environ, **HISTORIC_ENV, **env, "WORKPRINT_HOME": str(homes[2])}, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        creator.join(30)
        assert rotation.returncode == 0, rotation.stderr[-500:]
        procs[1] = start_server(homes[1], ports[1], pg_url, **env)  # back after the rotation
        for t in threads:
            t.join(120)
        assert len(acked) == total and len(set(acked)) == total

        with httpx.Client(trust_env=False, timeout=10) as http:
            auth = {"authorization": f"Bearer {auditor_token}"}
            for u in urls:  # each replica signs a checkpoint on request; the leader also does on its timer
                assert http.post(f"{u}/v1/audit/checkpoints", headers=auth).status_code == 201
                assert http.get(f"{u}/readyz").status_code == 200
            mine = http.get(f"{urls[0]}/v1/me/segments", headers={"authorization": f"Bearer {reader_token}"})
            sid = mine.json()["segments"][0]["id"]
            for u in urls:  # every replica reads after the rotation (one was running through it, one restarted)
                r = http.get(f"{u}/v1/me/segments/{sid}", headers={"authorization": f"Bearer {reader_token}"})
                assert r.status_code == 200, r.text
            verdicts = [http.get(f"{u}/v1/audit/verify", headers=auth).json() for u in urls]
        assert all(v["ok"] for v in verdicts), verdicts
    finally:
        for p in procs:
            p.kill()
            p.wait()

    after = build_api(ServerSettings(home=homes[2], db_url=pg_url, blob_url=s3_blobs), env)
    try:
        records = after.metadata.segments()
        sent = {sid for q in todo.values() for sid, _ in q}
        assert sorted(r.id for r in records) == sorted(sent), "a segment is missing or stored twice"
        assert set(after.blobs.keys("segments")) == {blob_key(s) for s in sent}
        for sid in acked[:: max(1, len(acked) // 40)]:
            assert after.read_segment("replica-test", sid).header.session == "load"
        for pid in [*participants, *late]:  # every participant's key opens with the rotated key store
            p = after.participant(pid)
            assert len(split_secret(after.keys.unwrap(pid, p.wrapped_private_key or b""))[0]) == 32
        entries = after.metadata.audit_entries()
        assert any(e.action == "keys.rotate" for e in entries)
        cps = after.audit_log.checkpoints()
        assert len(cps) >= REPLICAS and [c.size for c in cps] == sorted(c.size for c in cps)
        verification = after.audit_log.verify()
        assert verification.ok, verification.problems[:3]
    finally:
        after.metadata.close()
