"""Erased data does not come back: the original bytes of a segment its participant deleted, or that a withdrawal's
purge rewrote, are refused (410) forever and leave nothing stored; so is a segment holding a scope withdrawn after it
began, whenever it arrives. Each refusal is audited. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey
from server_helpers import WALL0, sealed

from workprint.dataset.purge import PurgeRequest, erase_withdrawn_scopes
from workprint.errors import Gone
from workprint.models import ALL_SCOPES
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.privacy.receipts import make_receipt, sign_receipt
from workprint.server.api import Enrollment, ServerAPI
from workprint.server.consent import consent_of
from workprint.server.identity import Principal


def _upload(api: ServerAPI, e: Enrollment, seq: int, t0: int = 1_000) -> tuple[str, bytes]:
    sid, data, _ = sealed(e.participant_id, e.device_id, e.public_key, seq=seq, t0=t0)
    assert api.ingest(api.authenticate_device(e.device_token), sid, data) == "stored"
    return sid, data


def _refused(api: ServerAPI, e: Enrollment, sid: str, data: bytes, match: str) -> None:
    rows, blobs = len(api.metadata.segments()), sorted(api.blobs.keys("segments"))
    with pytest.raises(Gone, match=match):
        api.ingest(api.authenticate_device(e.device_token), sid, data)
    assert len(api.metadata.segments()) == rows and sorted(api.blobs.keys("segments")) == blobs  # nothing stored


def test_a_segment_deleted_by_its_participant_cannot_be_uploaded_again(api: ServerAPI, enrolled: Enrollment) -> None:
    from workprint.portal.participant_data import erase_range

    sid, data = _upload(api, enrolled, 0)
    me = Principal("user", "u1", frozenset({"participant"}), enrolled.participant_id)
    assert erase_range(api, me, "s1", 0, 10**6, "range") == 3
    assert api.metadata.segments() == []
    _refused(api, enrolled, sid, data, rf"^segment {sid}: deleted \(segment\.erase_part\); its bytes are refused$")
    last = api.metadata.audit_entries()[-1]
    assert (last.action, last.detail["field"], last.detail["reason"]) == ("segment.refused", "tombstone",
                                                                          "segment.erase_part")  # fmt: skip


def test_a_segment_rewritten_by_a_withdrawal_purge_cannot_be_uploaded_again(
    api: ServerAPI, enrolled: Enrollment
) -> None:
    sid, data = _upload(api, enrolled, 0)
    request = PurgeRequest(enrolled.participant_id, api.now(), frozenset({"keys"}))
    assert erase_withdrawn_scopes(api, request, actor="system:purge") == 1
    (narrowed,) = api.metadata.segments()
    assert "keys" not in narrowed.scopes and narrowed.id != sid
    _refused(api, enrolled, sid, data, r"deleted \(segment\.erase_scopes\)")
    rewritten = next(e for e in api.metadata.audit_entries() if e.action == "segment.erase_scopes")
    assert rewritten.detail["replaced_by"] == narrowed.id


def test_a_segment_holding_a_scope_withdrawn_after_it_began_is_refused(api: ServerAPI) -> None:
    pid = api.create_participant("Bo")
    e = api.enroll(api.create_enrolment_code(pid), "laptop")
    device, key, service = api.authenticate_device(e.device_token), SigningKey.generate(), consent_of(api)
    grant = make_receipt(DEFAULT_PROGRAM, "grant", ALL_SCOPES, pid, WALL0 - 10**9)
    service.receive(device, sign_receipt(grant, key).to_dict())
    before = _upload(api, e, 0)  # recorded and uploaded while consented: kept
    withdraw = make_receipt(DEFAULT_PROGRAM, "withdraw", ("keys",), pid, WALL0 + 10**9)
    service.receive(device, sign_receipt(withdraw, key).to_dict())
    sid, data, _ = sealed(pid, e.device_id, e.public_key, seq=1)  # recorded before the withdrawal, sent after it
    _refused(api, e, sid, data, r"^segment refused: scope 'keys' was withdrawn after the segment began \(from ")
    assert [r.id for r in api.metadata.segments()] == [before[0]]
