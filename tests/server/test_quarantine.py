"""One bad segment never breaks a participant's pages: a segment that fails to open (content beyond its header, a
stored blob that no longer matches its hash) is quarantined with its reason on first read (audited), answered 422
from then on without being decrypted again, shown to its participant as quarantined, deletable by them (its bytes
are then refused for good), and every page around it answers 200. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient
from server_helpers import claim_account, consent_all, events, sealed, store_sealed

from workprint.errors import Gone, Unprocessable
from workprint.segment import SegmentHeader, count_kinds, seal, segment_id
from workprint.server.api import Enrollment, ServerAPI
from workprint.server.app import create_app

PASSWORD = "a long enough password"


def _over_declared(e: Enrollment) -> tuple[str, bytes]:
    """A segment whose events exceed the kinds its header declares (quarantined when opened)."""
    evs = events(5_000)
    header = SegmentHeader(e.participant_id, e.device_id, "s1", 7, evs[0].t_ns, evs[-1].t_ns, evs[0].wall_ns,
                           evs[-1].wall_ns, ("keys", "mouse", "window_titles", "app_names"), "1", "test",
                           {**count_kinds(evs), "key": 0})  # fmt: skip
    data = seal(header, evs, {}, e.public_key)
    return segment_id(data), data


@pytest.fixture
def ada(api: ServerAPI) -> Enrollment:
    pid = api.create_participant("Ada")
    e = api.enroll(api.create_enrolment_code(pid), "laptop")
    consent_all(api, e.device_token)
    claim_account(api, e.device_token, "ada", PASSWORD)
    return e


def test_a_segment_that_fails_to_open_is_quarantined_and_every_page_still_answers(
    api: ServerAPI, ada: Enrollment
) -> None:
    good, good_data, _ = sealed(ada.participant_id, ada.device_id, ada.public_key, seq=0)
    store_sealed(api, ada.participant_id, ada.device_id, good, good_data)
    bad, bad_data = _over_declared(ada)
    store_sealed(api, ada.participant_id, ada.device_id, bad, bad_data)
    with TestClient(create_app(api), base_url="https://testserver") as c:
        csrf = c.post("/v1/login", json={"username": "ada", "password": PASSWORD}).json()["csrf_token"]
        first = c.get(f"/v1/me/segments/{bad}")
        assert first.status_code == 422 and first.json()["error"]["code"] == "quarantined"
        assert "events; its header declares" in first.json()["error"]["message"]
        assert c.get(f"/v1/me/segments/{bad}").status_code == 422  # again, from the quarantine list
        assert c.get(f"/v1/me/segments/{good}").status_code == 200
        for path in ("/portal/me", "/portal/me/timeline", "/portal/me/data", "/portal/me/accesses"):
            assert c.get(path).status_code == 200, path
        timeline = c.get("/portal/me/timeline").text
        assert "quarantined" in timeline and bad in timeline
        archive = c.post("/portal/me/data/archive", data={"csrf_token": csrf})
        assert archive.status_code == 200
        manifest = json.loads(zipfile.ZipFile(io.BytesIO(archive.content)).read("manifest.json"))
        assert {s["id"]: "quarantined" in s for s in manifest["segments"]} == {good: False, bad: True}
        deleted = c.post("/portal/me/timeline/delete-quarantined", data={"csrf_token": csrf, "segment": bad},
                         follow_redirects=False)  # fmt: skip
        assert deleted.status_code == 303
        assert [r.id for r in api.metadata.segments()] == [good]
    quarantines = [e for e in api.metadata.audit_entries() if e.action == "segment.quarantine"]
    assert len(quarantines) == 1 and quarantines[0].subject == f"segment:{bad}"
    with pytest.raises(Gone, match="deleted"):  # and its bytes never come back
        api.ingest(api.authenticate_device(ada.device_token), bad, bad_data)


def test_a_stored_blob_that_no_longer_matches_its_hash_is_quarantined(api: ServerAPI, ada: Enrollment) -> None:
    sid, data, _ = sealed(ada.participant_id, ada.device_id, ada.public_key, seq=0)
    store_sealed(api, ada.participant_id, ada.device_id, sid, data)
    rec = api.metadata.segment(sid)
    assert rec is not None
    api.blobs.put(rec.blob_key, data[:-1] + bytes([data[-1] ^ 1]))  # someone with blob-store access edits it
    with pytest.raises(Unprocessable, match=r"quarantined \(stored blob does not match its hash"):
        api.read_segment("steward:x", sid)
    assert api.metadata.quarantined() == {sid: "stored blob does not match its hash (tampered or corrupt)"}
    assert dataclasses.replace(rec) in api.metadata.segments()  # kept (shown to its participant), never used
