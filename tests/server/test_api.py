"""The domain API over both metadata backends: audited reads, erasure, enrolment codes, durable idempotent ingest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from server_helpers import consent_all, sealed
from sqlalchemy import text

from workprint.errors import (
    AuditUnavailable,
    BadRequest,
    ConfigError,
    Forbidden,
    Gone,
    PayloadTooLarge,
    Unauthorized,
)
from workprint.segment import open_sealed
from workprint.server.api import Enrollment, ServerAPI
from workprint.store.blobs import LocalBlobStore


def test_reading_a_segment_decrypts_it_and_audits_the_read_first(api: ServerAPI, enrolled: Enrollment) -> None:
    sid, data, evs = sealed(enrolled.participant_id, enrolled.device_id, enrolled.public_key)
    assert api.ingest(api.authenticate_device(enrolled.device_token), sid, data) == "stored"
    before = api.metadata.audit_entries()
    segment = api.read_segment("steward:grace", sid)
    assert list(segment.events) == evs
    assert segment.header.participant == enrolled.participant_id
    new = api.metadata.audit_entries(after=before[-1].seq)
    assert [(e.actor, e.action, e.subject) for e in new] == [("steward:grace", "segment.read", f"segment:{sid}")]
    assert new[0].detail == {"participant_id": enrolled.participant_id, "session": "s1", "seq": 0}


def test_when_the_audit_log_cannot_be_written_the_read_is_refused(api: ServerAPI, enrolled: Enrollment) -> None:
    sid, data, _ = sealed(enrolled.participant_id, enrolled.device_id, enrolled.public_key)
    api.ingest(api.authenticate_device(enrolled.device_token), sid, data)
    with api.metadata.engine.begin() as conn:
        conn.execute(text("DROP TABLE audit_log"))
    with pytest.raises(AuditUnavailable, match=f"audit log: cannot append the read of segment {sid}"):
        api.read_segment("steward:grace", sid)


def test_erasure_makes_every_copy_unreadable(api: ServerAPI, enrolled: Enrollment, tmp_path: Path) -> None:
    sid, data, _ = sealed(enrolled.participant_id, enrolled.device_id, enrolled.public_key)
    device = api.authenticate_device(enrolled.device_token)
    api.ingest(device, sid, data)
    backup = tmp_path / "backup"
    assert isinstance(api.blobs, LocalBlobStore)
    shutil.copytree(api.blobs.root, backup)
    wrapped = api.participant(enrolled.participant_id).wrapped_private_key
    assert wrapped is not None
    assert list(open_sealed(data, api.keys.unwrap(enrolled.participant_id, wrapped)[:32]).events)  # what is destroyed

    assert api.erase_participant(enrolled.participant_id) == 1
    assert list(api.blobs.keys()) == []
    message = f"segment {sid}: participant {enrolled.participant_id} was erased and their key destroyed; unreadable"
    with pytest.raises(Gone) as err:
        api.read_segment("steward:grace", sid)
    assert str(err.value) == message
    # The backup still holds the ciphertext, but the only key that opens it is gone from the store.
    restored = ServerAPI(api.metadata, LocalBlobStore(backup), api.keys, api.settings)
    with pytest.raises(Gone, match="was erased and their key destroyed"):
        restored.read_segment("steward:grace", sid)
    assert LocalBlobStore(backup).get(f"segments/{sid[:2]}/{sid}") == data
    assert api.participant(enrolled.participant_id).wrapped_private_key is None
    assert api.participant(enrolled.participant_id).name == ""
    # A copy of the wrapped key (a database backup) no longer unwraps: its key-encryption key was destroyed.
    with pytest.raises(ConfigError, match=f"participant {enrolled.participant_id}: key destroyed"):
        api.keys.unwrap(enrolled.participant_id, wrapped)
    assert [e.action for e in api.metadata.audit_entries()][-2:] == ["participant.key_destroy", "participant.erase"]


def test_uploads_from_an_erased_participants_devices_are_forbidden(api: ServerAPI, enrolled: Enrollment) -> None:
    device = api.authenticate_device(enrolled.device_token)
    api.erase_participant(enrolled.participant_id)
    sid, data, _ = sealed(enrolled.participant_id, enrolled.device_id, enrolled.public_key)
    with pytest.raises(Forbidden, match=f"participant '{enrolled.participant_id}': erased; uploads are refused"):
        api.ingest(device, sid, data)
    with pytest.raises(Gone):
        api.create_enrolment_code(enrolled.participant_id)


def test_iter_segments_yields_in_participant_session_seq_order_each_audited(
    api: ServerAPI, enrolled: Enrollment
) -> None:
    device = api.authenticate_device(enrolled.device_token)
    order = [("s2", 0), ("s1", 1), ("s1", 0), ("s2", 1)]
    for i, (session, seq) in enumerate(order):
        sid, data, _ = sealed(enrolled.participant_id, device.id, enrolled.public_key, session=session, seq=seq, t0=i)
        api.ingest(device, sid, data)
    other = api.enroll(api.create_enrolment_code(api.create_participant("Bob")), "desk")
    consent_all(api, other.device_token)
    sid, data, _ = sealed(other.participant_id, other.device_id, other.public_key)
    api.ingest(api.authenticate_device(other.device_token), sid, data)
    api.erase_participant(other.participant_id)
    seen = [(s.header.session, s.header.seq) for s in api.iter_segments("builder")]
    assert seen == [("s1", 0), ("s1", 1), ("s2", 0), ("s2", 1)]
    reads = [e for e in api.metadata.audit_entries() if e.action == "segment.read"]
    assert len(reads) == 4 and {e.actor for e in reads} == {"builder"}


def test_an_expired_enrolment_code_is_refused(api: ServerAPI) -> None:
    now = [1_000_000_000_000]
    api._clock = lambda: now[0]
    code = api.create_enrolment_code(api.create_participant("Ada"), ttl_s=60)
    now[0] += 61 * 1_000_000_000
    with pytest.raises(Unauthorized, match="code: enrolment code is unknown, expired or already used"):
        api.enroll(code, "laptop")


def test_codes_are_stored_hashed_and_accepted_in_any_case(api: ServerAPI) -> None:
    code = api.create_enrolment_code(api.create_participant("Ada"))
    with api.metadata.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT code_hash FROM enrolment_codes"))]
    assert len(stored) == 1 and code.replace("-", "") not in stored[0]
    assert api.enroll(code.lower().replace("-", " "), "laptop").device_token.startswith("wpd_")


def test_ingest_refuses_a_mismatched_id_before_writing_anything(api: ServerAPI, enrolled: Enrollment) -> None:
    device = api.authenticate_device(enrolled.device_token)
    sid, data, _ = sealed(enrolled.participant_id, device.id, enrolled.public_key)
    with pytest.raises(BadRequest, match="segment_id: expected 64 lowercase hex digits, got 'nope'"):
        api.ingest(device, "nope", data)
    with pytest.raises(PayloadTooLarge, match="segment: 262145 bytes exceeds the limit of 262144 bytes"):
        api.ingest(device, sid, b"x" * 262145)
    assert list(api.blobs.keys()) == [] and api.metadata.segment(sid) is None


def test_the_blob_is_durable_before_the_row_exists(api: ServerAPI, enrolled: Enrollment) -> None:
    device = api.authenticate_device(enrolled.device_token)
    sid, data, _ = sealed(enrolled.participant_id, device.id, enrolled.public_key)
    seen: list[bool] = []
    add = api.metadata.add_segment

    def spy(rec: object) -> bool:
        seen.append(api.blobs.exists(f"segments/{sid[:2]}/{sid}"))
        return add(rec)  # type: ignore[arg-type]

    api.metadata.add_segment = spy  # type: ignore[method-assign]
    assert api.ingest(device, sid, data) == "stored"
    assert seen == [True]
