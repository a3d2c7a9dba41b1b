"""An acknowledged segment survives kill -9 of the server process (``workprint server`` on SQLite, real uvicorn)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from server_helpers import consent_all, sealed

from clock_helpers import HISTORIC_ENV
from workprint.config import ServerSettings
from workprint.server.serve import build_api
from workprint.transport import HttpTransport, enroll


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    code = "from workprint.cli.main import main; main()"
    env = {**os.environ, **HISTORIC_ENV, "WORKPRINT_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", code, "server", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)


def test_acknowledged_segments_survive_kill_9_of_the_server(tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path)
    admin = build_api(settings)
    code = admin.create_enrolment_code(admin.create_participant("Ada"))
    admin.metadata.close()
    port = _free_port()
    proc = _start(tmp_path, port)
    acked: list[str] = []
    try:
        e = enroll(f"http://127.0.0.1:{port}", code, "laptop")
        consenting = build_api(settings)
        consent_all(consenting, e.device_token)
        consenting.metadata.close()
        with HttpTransport(f"http://127.0.0.1:{port}", e.device_token) as transport:
            for seq in range(20):
                sid, data, _ = sealed(e.participant_id, e.device_id, e.public_key_bytes, seq=seq, t0=seq * 10)
                if transport.put_segment(sid, data).acknowledged:
                    acked.append(sid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(acked) == 20
    after = build_api(settings)
    try:
        assert [s.header.seq for s in after.iter_segments("test")] == list(range(20))
    finally:
        after.metadata.close()
