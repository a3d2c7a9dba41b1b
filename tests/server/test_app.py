"""The HTTP layer over both metadata backends: enrolment, ingest, and one JSON error shape for every failure."""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from server_helpers import MAX_SEGMENT, consent_all, sealed
from sqlalchemy import func, select

from workprint.segment import read_header, seal, segment_id
from workprint.server.api import Enrollment, ServerAPI
from workprint.server.app import JSON_BODY_LIMIT, create_app
from workprint.server.auth import AUTH_DEPENDENCIES
from workprint.server.identity import Principal
from workprint.server.middleware import SECURITY_HEADERS
from workprint.server.ratelimit import RateLimits
from workprint.store import tables


def _error(r: httpx.Response, status: int, code: str) -> str:
    """Assert the one error shape and return its message."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    assert message
    return message


def _auth(e: Enrollment) -> dict[str, str]:
    return {"Authorization": f"Bearer {e.device_token}"}


def _count_segments(api: ServerAPI) -> int:
    with api.metadata.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(tables.segments)).scalar_one())


def test_enrol_then_upload_is_stored_once_and_a_retry_is_a_duplicate(api: ServerAPI, client: TestClient) -> None:
    pid = api.create_participant("Ada")
    code = api.create_enrolment_code(pid)
    r = client.post("/v1/enroll", json={"code": code, "device_name": "laptop"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"participant_id", "device_id", "device_token", "public_key", "notice_version"}
    assert body["participant_id"] == pid and body["notice_version"] == "1"
    public_key = base64.b64decode(body["public_key"])
    consent_all(api, body["device_token"])
    assert public_key == api.participant(pid).public_key
    sid, data, _ = sealed(pid, body["device_id"], public_key)
    headers = {"Authorization": f"Bearer {body['device_token']}"}
    first = client.put(f"/v1/segments/{sid}", content=data, headers=headers)
    assert (first.status_code, first.json()) == (201, {"id": sid, "status": "stored"})
    again = client.put(f"/v1/segments/{sid}", content=data, headers=headers)
    assert (again.status_code, again.json()) == (200, {"id": sid, "status": "duplicate"})
    assert _count_segments(api) == 1
    assert list(api.blobs.keys()) == [f"segments/{sid[:2]}/{sid}"]


def test_a_replayed_enrolment_code_is_401(api: ServerAPI, client: TestClient) -> None:
    code = api.create_enrolment_code(api.create_participant("Ada"))
    assert client.post("/v1/enroll", json={"code": code, "device_name": "one"}).status_code == 201
    r = client.post("/v1/enroll", json={"code": code, "device_name": "two"})
    assert _error(r, 401, "unauthorized") == "code: enrolment code is unknown, expired or already used"


def test_an_unknown_device_token_is_401(client: TestClient, enrolled: Enrollment) -> None:
    sid, data, _ = sealed(enrolled.participant_id, enrolled.device_id, enrolled.public_key)
    r = client.put(f"/v1/segments/{sid}", content=data, headers={"Authorization": "Bearer wpd_not-a-token"})
    assert _error(r, 401, "unauthorized") == "device token: unknown or revoked"
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.put(f"/v1/segments/{sid}", content=data)
    assert _error(r, 401, "unauthorized") == "authorization: expected 'Bearer <device token>'"


def test_a_revoked_device_is_401(api: ServerAPI, client: TestClient, enrolled: Enrollment) -> None:
    api.revoke_device(enrolled.device_id)
    sid, data, _ = sealed(enrolled.participant_id, enrolled.device_id, enrolled.public_key)
    r = client.put(f"/v1/segments/{sid}", content=data, headers=_auth(enrolled))
    assert _error(r, 401, "unauthorized") == "device token: unknown or revoked"


def test_a_segment_of_another_participant_is_403(api: ServerAPI, client: TestClient, enrolled: Enrollment) -> None:
    other = api.create_participant("Bob")
    sid, data, _ = sealed(other, enrolled.device_id, enrolled.public_key)
    r = client.put(f"/v1/segments/{sid}", content=data, headers=_auth(enrolled))
    assert _error(r, 403, "forbidden") == f"header.participant: {other!r} is not this device's participant"
    assert _count_segments(api) == 0 and list(api.blobs.keys()) == []


def test_a_segment_id_that_is_not_the_bodys_hash_is_400(client: TestClient, enrolled: Enrollment) -> None:
    sid, data, _ = sealed(enrolled.participant_id, enrolled.device_id, enrolled.public_key)
    wrong = "0" * 64
    r = client.put(f"/v1/segments/{wrong}", content=data, headers=_auth(enrolled))
    assert _error(r, 400, "bad_request") == f"segment_id: {wrong} does not match the body's sha256 {sid}"


def test_a_body_that_is_not_a_segment_is_422_with_the_reason(client: TestClient, enrolled: Enrollment) -> None:
    import hashlib

    junk = b"this is not a segment at all"
    r = client.put(f"/v1/segments/{hashlib.sha256(junk).hexdigest()}", content=junk, headers=_auth(enrolled))
    assert _error(r, 422, "unprocessable") == "segment: missing magic WPS1 (not a workprint segment)"


def test_a_header_integer_beyond_64_bits_is_422_naming_it_and_stores_nothing(
    api: ServerAPI, client: TestClient, enrolled: Enrollment
) -> None:
    _, data, evs = sealed(enrolled.participant_id, enrolled.device_id, enrolled.public_key)
    header, _, _ = read_header(data)
    huge = dataclasses.replace(header, seq=2**63, sealed_key="")
    data = seal(huge, evs, {}, enrolled.public_key)
    r = client.put(f"/v1/segments/{segment_id(data)}", content=data, headers=_auth(enrolled))
    assert _error(r, 422, "unprocessable") == f"header.seq: {2**63} is out of range; expected {-(2**63)} to {2**63 - 1}"
    assert _count_segments(api) == 0 and list(api.blobs.keys()) == []


def test_an_oversized_segment_is_413_by_length_and_while_streaming(client: TestClient, enrolled: Enrollment) -> None:
    big = b"x" * (MAX_SEGMENT + 1)
    r = client.put(f"/v1/segments/{'a' * 64}", content=big, headers=_auth(enrolled))
    assert (
        _error(r, 413, "payload_too_large")
        == f"body: {MAX_SEGMENT + 1} bytes declared; the limit is {MAX_SEGMENT} bytes"
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(MAX_SEGMENT // 65536 + 2):
            yield b"y" * 65536

    r = client.put(f"/v1/segments/{'a' * 64}", content=chunks(), headers=_auth(enrolled))
    assert (
        _error(r, 413, "payload_too_large")
        == f"body: more than {MAX_SEGMENT} bytes received; the limit is {MAX_SEGMENT} bytes"
    )


def test_an_oversized_json_body_is_413(client: TestClient) -> None:
    r = client.post(
        "/v1/enroll", content=b"{" + b" " * JSON_BODY_LIMIT + b"}", headers={"Content-Type": "application/json"}
    )
    _error(r, 413, "payload_too_large")


def test_enrol_request_validation_names_the_field(client: TestClient) -> None:
    r = client.post("/v1/enroll", json={"code": "X"})
    assert _error(r, 422, "invalid_request") == "device_name: Field required"
    r = client.post("/v1/enroll", json={"code": 5, "device_name": "d"})
    assert _error(r, 422, "invalid_request") == "code: Input should be a valid string (got 5)"
    r = client.post("/v1/enroll", json={"code": "X", "device_name": "d", "admin": True})
    assert _error(r, 422, "invalid_request") == "admin: Extra inputs are not permitted (got True)"
    r = client.post("/v1/enroll", content=b"{not json", headers={"Content-Type": "application/json"})
    _error(r, 422, "invalid_request")


def test_unknown_paths_and_methods_use_the_error_shape(client: TestClient) -> None:
    assert _error(client.get("/v1/nothing"), 404, "not_found") == "Not Found"
    assert _error(client.delete("/v1/enroll"), 405, "method_not_allowed") == "Method Not Allowed"
    _error(client.get("/docs"), 404, "not_found")


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for r in (client.get("/v1/healthz"), client.get("/nope"), client.put(f"/v1/segments/{'a' * 64}", content=b"x")):
        for name, value in SECURITY_HEADERS:
            assert r.headers[name.decode()] == value.decode()
    assert client.get("/v1/healthz").json() == {"status": "ok"}


def test_every_route_depends_on_exactly_one_auth_dependency(api: ServerAPI) -> None:
    app = create_app(api)
    routes: list[Any] = list(app.routes)
    assert routes and all(isinstance(r, APIRoute) for r in routes), "every route is one of ours (no docs routes)"
    for route in routes:
        calls = {d.call for d in route.dependant.dependencies}
        assert len(calls & AUTH_DEPENDENCIES) == 1, route.path


def test_an_unexpected_failure_is_a_json_500_without_details(api: ServerAPI, client: TestClient) -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("secret internals")

    api.health = broken  # type: ignore[method-assign]
    r = client.get("/v1/healthz")
    assert _error(r, 500, "internal") == "internal server error"
    assert "secret" not in r.text and r.headers["x-content-type-options"] == "nosniff"


def test_security_relevant_refusals_are_audited_and_store_nothing(
    api: ServerAPI, client: TestClient, enrolled: Enrollment
) -> None:
    other = api.enroll(api.create_enrolment_code(api.create_participant("Bob")), "desk")
    sid, data, _ = sealed(other.participant_id, enrolled.device_id, other.public_key)
    r = client.put(f"/v1/segments/{sid}", content=data, headers=_auth(enrolled))
    assert _error(r, 403, "forbidden").startswith("header.participant:")
    last = api.metadata.audit_entries()[-1]
    assert (last.action, last.actor, last.detail) == (
        "segment.refused",
        f"device:{enrolled.device_id}",
        {"segment_id": sid, "field": "participant"},
    )
    api.revoke_device(enrolled.device_id)
    r = client.put(f"/v1/segments/{sid}", content=data, headers=_auth(enrolled))
    assert _error(r, 401, "unauthorized") == "device token: unknown or revoked"
    assert api.metadata.audit_entries()[-1].action == "device.refused"
    assert _count_segments(api) == 0 and list(api.blobs.keys()) == []


def test_a_device_over_its_rate_limit_gets_429_with_retry_after(api: ServerAPI, enrolled: Enrollment) -> None:
    limits = RateLimits(device_rate=0.5, device_burst=3)
    with TestClient(create_app(api, limits=limits), base_url="https://testserver") as client:
        statuses = [client.put(f"/v1/segments/{'a' * 64}", content=b"x", headers=_auth(enrolled)) for _ in range(4)]
    assert [r.status_code for r in statuses] == [400, 400, 400, 429]
    assert _error(statuses[-1], 429, "too_many_requests") == "rate limit: too many requests for device; retry in 2 s"
    assert statuses[-1].headers["retry-after"] == "2"


def test_no_secret_reaches_the_logs(api: ServerAPI, client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    code = api.create_enrolment_code(api.create_participant("Ada"))
    token = client.post("/v1/enroll", json={"code": code, "device_name": "laptop"}).json()["device_token"]
    api.identity.add_user(Principal.system("t", "admin"), "grace", "a long enough password", ["steward"])
    login = client.post("/v1/login", json={"username": "grace", "password": "a long enough password"})
    client.post("/v1/login", json={"username": "grace", "password": "a wrong password here"})

    def broken() -> dict[str, str]:
        raise RuntimeError("boom")

    api.health = broken  # type: ignore[method-assign]
    client.get("/v1/healthz", headers={"Authorization": f"Bearer {token}"})
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "boom" in text  # the failure itself is logged ...
    for secret in (code, token, "a long enough password", "a wrong password here", login.json()["csrf_token"]):
        assert secret not in text  # ... but none of the secrets that passed through
