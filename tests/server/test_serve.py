"""A real uvicorn in a thread, driven by the device's own transport client; and the admin CLI on a real store."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest
from server_helpers import MAX_SEGMENT, consent_all, sealed
from typer.testing import CliRunner

from workprint.cli.main import _register, app
from workprint.config import ServerSettings
from workprint.errors import ConfigError
from workprint.server.api import ServerAPI
from workprint.server.serve import build_api, serve_in_thread, stop_server
from workprint.transport import HttpTransport, enroll


def test_a_device_enrols_and_uploads_over_real_http(api: ServerAPI) -> None:
    code = api.create_enrolment_code(api.create_participant("Ada"))
    server, thread, url = serve_in_thread(api)
    try:
        e = enroll(url, code, "laptop")
        consent_all(api, e.device_token)
        sid, data, evs = sealed(e.participant_id, e.device_id, e.public_key_bytes)
        with HttpTransport(url, e.device_token) as transport:
            assert transport.put_segment(sid, data).outcome == "stored"
            assert transport.put_segment(sid, data).outcome == "duplicate"
            oversized = transport.put_segment("a" * 64, b"z" * (MAX_SEGMENT + 1))
            assert oversized.outcome == "rejected", oversized.reason
            assert "payload_too_large: body:" in oversized.reason
        chunks = (b"w" * 65536 for _ in range(MAX_SEGMENT // 65536 + 4))  # chunked: no Content-Length
        auth = {"Authorization": f"Bearer {e.device_token}"}
        r = httpx.put(f"{url}/v1/segments/{'b' * 64}", content=chunks, headers=auth)
        assert (r.status_code, r.json()["error"]["code"]) == (413, "payload_too_large")
        r = httpx.get(f"{url}/v1/healthz")
        assert r.json() == {"status": "ok"} and r.headers["x-frame-options"] == "DENY"
    finally:
        stop_server(server, thread)
    assert not thread.is_alive()
    assert list(api.read_segment("test", sid).events) == evs


def test_serve_in_thread_refuses_a_port_in_use(api: ServerAPI) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(
            ConfigError, match=f"server: cannot listen on 127.0.0.1:{port} \\(Address already in use\\)"
        ):
            serve_in_thread(api, port=port, timeout=5)


def test_admin_add_participant_prints_an_id_and_a_code_that_enrols(tmp_path: Path, db_url: str) -> None:
    _register([])
    result = CliRunner().invoke(
        app, ["admin", "add-participant", "Ada Lovelace", "--db", db_url, "--blobs", str(tmp_path / "b")],
        env={"WORKPRINT_HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    pid = re.search(r"participant ([0-9a-f]{32})", result.output)
    code = re.search(r"enrolment code ([A-Z0-9-]{23})", result.output)
    assert pid and code, result.output
    assert (tmp_path / "server" / "master.key").stat().st_mode & 0o777 == 0o600
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url, blob_url=str(tmp_path / "b")))
    try:
        assert api.enroll(code.group(1), "laptop").participant_id == pid.group(1)
        assert api.participant(pid.group(1)).name == ""  # the name is wrapped in the key store, not in the database
        assert api.participant_name(pid.group(1), actor="admin:test") == "Ada Lovelace"
    finally:
        api.metadata.close()
    args = ["admin", "erase-participant", pid.group(1), "--db", db_url, "--blobs", str(tmp_path / "b")]
    result = CliRunner().invoke(app, args, env={"WORKPRINT_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"erased participant {pid.group(1)}: key destroyed, 0 segment blobs deleted"
    api = build_api(ServerSettings(home=tmp_path, db_url=db_url, blob_url=str(tmp_path / "b")))
    try:
        assert api.participant(pid.group(1)).erased
    finally:
        api.metadata.close()
