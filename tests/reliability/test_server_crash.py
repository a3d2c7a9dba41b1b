"""Invariant 7 on the server: kill -9 of ``workprint server`` at 30 random moments under concurrent ingest from four
devices, on SQLite and on PostgreSQL. Every segment the server acknowledged is present and decryptable after
restart; the segments it never acknowledged are sent again and succeed; nothing is stored twice; the audit log
verifies."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from reliability_helpers import Device, consent_all, free_port, seal_segment, start_server

from workprint.config import ServerSettings
from workprint.server.api import blob_key
from workprint.server.serve import build_api
from workprint.transport import HttpTransport

KILLS = 30
DEVICES = 4


def _ingest(url: str, dev: Device, todo: list[tuple[str, bytes]], acked: list[str], stop: threading.Event) -> None:
    """Upload ``todo`` in order until the server stops answering; acknowledged ids move to ``acked``."""
    with HttpTransport(url, dev.token, timeout=10) as transport:
        while todo and not stop.is_set():
            sid, data = todo[0]
            result = transport.put_segment(sid, data)
            if not result.acknowledged:
                assert result.outcome == "retry", result.reason  # a dying server never refuses a good segment
                return
            acked.append(sid)
            todo.pop(0)


def test_acknowledged_segments_survive_30_kills_of_the_server_and_retries_never_duplicate(
    tmp_path: Path, db_url: str
) -> None:
    settings = ServerSettings(home=tmp_path, db_url=db_url)
    admin = build_api(settings)
    pid = admin.create_participant("Ada")
    devices = []
    for n in range(DEVICES):
        e = admin.enroll(admin.create_enrolment_code(pid), f"laptop-{n}")
        consent_all(admin, e.device_token)
        devices.append(Device("", e.device_token, e.participant_id, e.device_id, e.public_key))
    admin.metadata.close()
    todo = {d.device: [seal_segment(d, n * 10_000 + s, frame_bytes=2000) for s in range(100)]
            for n, d in enumerate(devices)}  # fmt: skip
    sent = {sid: data for queue in todo.values() for sid, data in queue}
    acked: list[str] = []
    rng = random.Random()
    port = free_port()
    for _ in range(KILLS):
        proc = start_server(tmp_path, port, db_url)
        stop = threading.Event()
        threads = [threading.Thread(target=_ingest, args=(f"http://127.0.0.1:{port}", d, todo[d.device], acked, stop))
                   for d in devices]  # fmt: skip
        before = len(acked)
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(acked) == before and time.monotonic() < deadline:  # kill under ingest, not during start-up
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.1))
        proc.kill()
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
    acked_before_retry = list(acked)
    assert len(set(acked_before_retry)) == len(acked_before_retry) >= KILLS

    # The segments left (including those in flight at a kill) are retried against a restarted server.
    proc = start_server(tmp_path, port, db_url)
    try:
        for d in devices:
            _ingest(f"http://127.0.0.1:{port}", d, todo[d.device], acked, threading.Event())
            assert todo[d.device] == []
    finally:
        proc.kill()
        proc.wait()

    after = build_api(settings)
    try:
        records = after.metadata.segments()
        assert sorted(r.id for r in records) == sorted(sent), "a segment is missing or stored twice"
        assert set(after.blobs.keys("segments")) == {blob_key(sid) for sid in sent}
        for sid in acked_before_retry:
            segment = after.read_segment("reliability-test", sid)
            assert segment.events[0].t_ns == 1_000_000 + segment.header.seq * 1000
        after.audit_log.checkpoint()  # the log the 30 killed servers appended to still verifies
        verification = after.audit_log.verify()
        assert verification.ok and verification.entries > len(acked_before_retry), verification.problems[:3]
    finally:
        after.metadata.close()
