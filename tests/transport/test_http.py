"""``HttpTransport`` and ``enroll`` against a real uvicorn server running a small FastAPI app written here."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from workprint.errors import ConfigError, TransportError
from workprint.models import KeyEvent
from workprint.segment import generate_keypair, open_sealed, segment_id
from workprint.spool import Spool, SpoolIdentity
from workprint.transport import HttpTransport, Uploader, UploadResult, enroll, upload_pending

SK, PK = generate_keypair()
TOKEN = "device-token-1"


def _err(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


@dataclass
class FakeIngest:
    """State of the test server: what it stored, and failures to inject before storing."""

    stored: dict[str, bytes] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    requests: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.put("/v1/segments/{sid}")
        async def put(sid: str, request: Request) -> Response:
            self.requests += 1
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return _err(401, "unauthorized", "device token: not recognised")
            if request.headers.get("content-type") != "application/octet-stream":
                return _err(415, "bad_request", "content-type: expected application/octet-stream")
            body = await request.body()
            if self.fail_next:
                status = self.fail_next.pop(0)
                return _err(status, "busy", "try later", {"Retry-After": "2"})
            if hashlib.sha256(body).hexdigest() != sid:
                return _err(422, "unprocessable", f"segment id: {sid[:16]} does not match the content")
            if sid in self.stored:
                return JSONResponse({"id": sid}, status_code=200)
            self.stored[sid] = body
            return JSONResponse({"id": sid}, status_code=201)

        @app.post("/v1/enroll")
        async def post_enroll(request: Request) -> Response:
            body = await request.json()
            if body != {"code": "GOOD-CODE", "device_name": "laptop"}:
                return _err(403, "forbidden", f"code: {body.get('code')!r} is not valid")
            return JSONResponse(
                {
                    "participant_id": "p1",
                    "device_id": "d1",
                    "device_token": TOKEN,
                    "public_key": base64.b64encode(PK).decode(),
                    "notice_version": "2",
                },
                status_code=201,
            )

        return app


@pytest.fixture
def ingest() -> Iterator[tuple[FakeIngest, str]]:
    state = FakeIngest()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(state.app(), log_level="error", lifespan="off"))
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield state, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(timeout=5)
        sock.close()


def _spool(tmp_path: Path, n: int) -> Spool:
    spool = Spool.open(tmp_path, SpoolIdentity("p1", "d1", "s1", PK, "2", "r"))
    for i in range(n):
        spool.append(KeyEvent(i + 1, i + 1, True, 38, "a", "a"))
        spool.seal()
    return spool


def test_the_same_segment_twice_is_stored_then_duplicate(ingest: tuple[FakeIngest, str]) -> None:
    state, url = ingest
    data = b"sealed bytes"
    with HttpTransport(url, TOKEN) as t:
        assert t.put_segment(segment_id(data), data) == UploadResult.stored()
        assert t.put_segment(segment_id(data), data) == UploadResult.duplicate()
    assert state.stored == {segment_id(data): data}


def test_a_refused_segment_carries_the_servers_error_line(ingest: tuple[FakeIngest, str]) -> None:
    _, url = ingest
    with HttpTransport(url, TOKEN) as t:
        r = t.put_segment("ab" * 32, b"not matching")
    assert r == UploadResult.rejected(
        "server: segment abababababababab refused "
        "(unprocessable: segment id: abababababababab does not match the content)"
    )


def test_busy_server_means_retry_after_and_a_bad_token_means_retry(ingest: tuple[FakeIngest, str]) -> None:
    state, url = ingest
    state.fail_next = [503, 429]
    data = b"x"
    with HttpTransport(url, TOKEN) as t:
        for status in (503, 429):
            r = t.put_segment(segment_id(data), data)
            assert (r.outcome, r.retry_after_s) == ("retry", 2.0)
            assert r.reason == f"server: {url} answered {status} (busy: try later)"
    with HttpTransport(url, "wrong") as t:
        r = t.put_segment(segment_id(data), data)
    assert r == UploadResult.retry(f"server: {url} answered 401 (unauthorized: device token: not recognised)")
    assert state.stored == {}


def test_spool_to_server_end_to_end_with_a_busy_server_loses_and_duplicates_nothing(
    ingest: tuple[FakeIngest, str], tmp_path: Path
) -> None:
    state, url = ingest
    spool = _spool(tmp_path, 4)
    state.fail_next = [503]
    with HttpTransport(url, TOKEN) as t:
        up = Uploader(spool, t)
        with pytest.raises(TransportError) as err:
            up.flush()
        assert str(err.value) == f"server: {url} answered 503 (busy: try later)"
        assert len(spool.pending()) == 4
        assert up.flush() == 4
        assert spool.pending() == [] and len(state.stored) == 4
        # re-sending what the server has (a lost acknowledgement) changes nothing
        for sid, data in list(state.stored.items()):
            assert t.put_segment(sid, data).outcome == "duplicate"
    assert sorted(open_sealed(d, SK).events[0].t_ns for d in state.stored.values()) == [1, 2, 3, 4]


def test_one_shot_upload_beside_an_open_spool_sends_everything_once(
    ingest: tuple[FakeIngest, str], tmp_path: Path
) -> None:
    state, url = ingest
    spool = _spool(tmp_path, 3)  # still open, as if the agent were running
    with HttpTransport(url, TOKEN) as t:
        assert upload_pending(tmp_path, t) == 3
        assert upload_pending(tmp_path, t) == 0
    assert len(state.stored) == 3 and spool.pending() == []


def test_unreachable_server_is_one_line_and_the_spool_keeps_everything(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 2)
    before = spool.pending()
    with HttpTransport("http://127.0.0.1:9", TOKEN, timeout=2) as t, pytest.raises(TransportError) as err:
        Uploader(spool, t).flush()
    assert str(err.value) == "server: cannot reach http://127.0.0.1:9 (connection refused)"
    assert spool.pending() == before
    with HttpTransport("http://127.0.0.1:9", TOKEN, timeout=2) as t, pytest.raises(TransportError) as err:
        upload_pending(tmp_path, t)
    assert str(err.value) == "server: cannot reach http://127.0.0.1:9 (connection refused)"
    assert spool.pending() == before


def test_enroll_returns_the_device_identity(ingest: tuple[FakeIngest, str]) -> None:
    _, url = ingest
    e = enroll(url + "/", "GOOD-CODE", "laptop")
    assert (e.participant_id, e.device_id, e.device_token, e.public_key_bytes, e.notice_version) == (
        "p1",
        "d1",
        TOKEN,
        PK,
        "2",
    )
    assert base64.b64decode(e.public_key) == PK


def test_enroll_with_a_bad_code_or_no_server_is_one_line(ingest: tuple[FakeIngest, str]) -> None:
    _, url = ingest
    with pytest.raises(TransportError) as err:
        enroll(url, "BAD", "laptop")
    assert str(err.value) == "server: enrolment refused (forbidden: code: 'BAD' is not valid)"
    with pytest.raises(TransportError) as err:
        enroll("http://127.0.0.1:9", "GOOD-CODE", "laptop")
    assert str(err.value) == "server: cannot reach http://127.0.0.1:9 (connection refused)"


def test_a_server_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^server_url: expected an http:// or https:// URL, got 'ftp://x'$"):
        HttpTransport("ftp://x", TOKEN)
