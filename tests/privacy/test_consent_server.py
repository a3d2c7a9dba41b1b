"""The server's side of consent over real HTTP, on SQLite and PostgreSQL: receipts countersigned and stored, segments
checked against them, withdrawals recorded as erasure requests."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import nacl.signing
import pytest

from clock_helpers import HISTORIC
from workprint.config import ServerSettings
from workprint.device import DeviceRecord
from workprint.errors import BadRequest, ConfigError
from workprint.models import ALL_SCOPES, Event, KeyEvent
from workprint.privacy.consent_sync import ReceiptSync, adopted_program, pending, sync_now
from workprint.privacy.exclusions import ExclusionRules
from workprint.privacy.notices import DEFAULT_PROGRAM, Notice
from workprint.privacy.receipts import sign_receipt
from workprint.privacy.state import (
    DeviceState,
    load_state,
    record_consent,
    server_verify_key,
    signing_key,
    state_path,
    trusted_keys,
)
from workprint.privacy.watcher import snapshot_of
from workprint.segment import SegmentHeader, count_kinds, seal, segment_id
from workprint.server.api import ServerAPI
from workprint.server.consent import consent_of
from workprint.server.serve import build_api, serve_in_thread, stop_server
from workprint.transport import enroll


@dataclass
class Site:
    api: ServerAPI
    url: str
    home: Path
    device: DeviceRecord

    def put(self, scopes: tuple[str, ...], wall_ns: int, *, notice: str = "1") -> httpx.Response:
        """PUT a one-key segment declaring ``scopes`` at ``wall_ns`` straight to the server."""
        evs: list[Event] = [KeyEvent(1_000, wall_ns, True, 38, "a", "a")]
        header = SegmentHeader(
            self.device.participant_id, self.device.device_id, "s", int(wall_ns % 10**6), 1_000, 1_000, wall_ns,
            wall_ns, scopes, notice, "test", count_kinds(evs),
        )  # fmt: skip
        data = seal(header, evs, {}, self.device.public_key_bytes)
        return httpx.put(
            f"{self.url}/v1/segments/{segment_id(data)}",
            content=data,
            headers={"Authorization": f"Bearer {self.device.device_token}"},
        )


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> Iterator[Site]:
    """A real server on each metadata backend (SQLite, PostgreSQL) with one enrolled device."""
    api = build_api(ServerSettings(home=tmp_path / "server", db_url=db_url, clock_tolerance_s=HISTORIC))
    server, thread, url = serve_in_thread(api)
    pid = api.create_participant("p")
    e = enroll(url, api.create_enrolment_code(pid), "laptop")
    device = DeviceRecord(url, e.participant_id, e.device_id, e.device_token, e.public_key, e.notice_version)
    home = tmp_path / "device"
    device.save(home / "device.json")
    try:
        yield Site(api, url, home, device)
    finally:
        stop_server(server, thread)


def refusal(r: httpx.Response) -> tuple[int, str, str]:
    err = r.json()["error"]
    return r.status_code, err["code"], err["message"]


def test_a_segment_without_any_consent_is_refused_naming_the_scope_and_time_range(site: Site) -> None:
    status, code, message = refusal(site.put(("keys",), time.time_ns()))
    assert (status, code) == (403, "consent_missing")
    assert "keys" in message and "(from 20" in message and " to 20" in message
    assert site.api.metadata.segments() == []


def test_a_sent_receipt_is_countersigned_kept_on_both_sides_and_lets_segments_in(site: Site) -> None:
    granted = record_consent(site.home, "grant", ("keys", "mouse"), time.time_ns())
    result = sync_now(site.home)
    assert result is not None and result.ok and result.sent == 1
    state = load_state(site.home)
    assert pending(state, site.home) == []  # the device copy is now the server's countersigned one
    server_key = server_verify_key(site.home)
    assert server_key is not None and base64.b64encode(bytes(server_key)).decode() == consent_of(site.api).public_key
    assert state.receipts[0].receipt_id == granted.receipt_id
    assert consent_of(site.api).ledger(site.device.participant_id).active_scopes(time.time_ns(), "1") == {
        "keys", "mouse"
    }  # fmt: skip
    assert site.put(("keys", "mouse"), time.time_ns()).status_code == 201
    status, code, message = refusal(site.put(("keys", "screenshots"), time.time_ns()))
    assert (status, code) == (403, "consent_missing") and "screenshots" in message and "keys" not in message
    assert sync_now(site.home) == type(result)()  # nothing left to send


def test_a_segment_from_before_the_grant_is_refused(site: Site) -> None:
    before = time.time_ns() - 5_000_000_000
    record_consent(site.home, "grant", ALL_SCOPES, time.time_ns())
    assert sync_now(site.home) is not None
    assert refusal(site.put(("keys",), before))[:2] == (403, "consent_missing")


def test_withdrawal_records_an_erasure_request_and_refuses_further_data_of_those_scopes(site: Site) -> None:
    record_consent(site.home, "grant", ALL_SCOPES, time.time_ns())
    record_consent(site.home, "withdraw", ("keys",), time.time_ns() + 1)
    result = sync_now(site.home)
    assert result is not None and result.sent == 2
    requests = consent_of(site.api).erasure_requests(site.device.participant_id)
    assert [(r.scopes, r.done_at) for r in requests] == [(("keys",), None)]
    after = time.time_ns() + 10
    assert refusal(site.put(("keys",), after))[:2] == (403, "consent_missing")
    assert site.put(("mouse",), after).status_code == 201
    actions = [e.action for e in site.api.metadata.audit_entries()]
    assert {"consent.grant", "consent.withdraw", "erasure.request"} <= set(actions)


def test_a_segment_under_an_outdated_notice_is_refused(site: Site) -> None:
    record_consent(site.home, "grant", ALL_SCOPES, time.time_ns())
    assert sync_now(site.home) is not None
    consent_of(site.api).publish_notice("2", "a new notice")
    status, code, message = refusal(site.put(("keys",), time.time_ns()))
    assert (status, code) == (403, "notice_outdated") and "'1'" in message and "'2'" in message


def _post(site: Site, body: object) -> httpx.Response:
    return httpx.post(
        f"{site.url}/v1/consents", json=body, headers={"Authorization": f"Bearer {site.device.device_token}"}
    )


def test_tampered_foreign_and_rekeyed_receipts_are_refused(site: Site) -> None:
    r = record_consent(site.home, "grant", ("keys",), time.time_ns())
    tampered = r.to_dict()
    tampered["services"][0]["purposes"][0]["piiCategory"] = ["keys", "screenshots"]
    status, code, message = refusal(_post(site, tampered))
    assert (status, code) == (400, "bad_request") and "signature" in message
    assert _post(site, r.to_dict()).status_code == 201
    other_key = nacl.signing.SigningKey.generate()
    foreign = sign_receipt(replace(r, receipt_id="x-1", principal_id="someone-else"), other_key)
    assert refusal(_post(site, foreign.to_dict()))[:2] == (403, "forbidden")
    rekeyed = sign_receipt(replace(r, receipt_id="x-2"), other_key)
    status, _, message = refusal(_post(site, rekeyed.to_dict()))
    assert status == 403 and "publicKey" in message
    assert refusal(_post(site, {"consentReceiptID": 3}))[0] == 400
    unauth = httpx.post(f"{site.url}/v1/consents", json=r.to_dict())
    assert unauth.status_code == 401


def test_a_receipt_time_beyond_64_bits_is_400_naming_it_and_stores_nothing(site: Site) -> None:
    r = record_consent(site.home, "grant", ("keys",), time.time_ns())
    huge = sign_receipt(replace(r, receipt_id="x-huge", expires_ns=2**63), signing_key(site.home))
    status, code, message = refusal(_post(site, huge.to_dict()))
    assert (status, code) == (400, "bad_request")
    assert (
        message == f"receipt x-huge: workprint.expiresNs: {2**63} is out of range; expected {-(2**63)} to {2**63 - 1}"
    )
    assert consent_of(site.api).ledger(site.device.participant_id).receipts == ()


def test_an_offline_grant_is_kept_on_the_device_and_sent_later(site: Site) -> None:
    offline = replace(site.device, server_url="http://127.0.0.1:9")
    offline.save(site.home / "device.json")
    record_consent(site.home, "grant", ("keys",), time.time_ns())
    result = sync_now(site.home)
    assert result is not None and not result.ok and "connection refused" in result.error
    assert load_state(site.home).consented(time.time_ns()) == {"keys"}
    site.device.save(site.home / "device.json")
    before = state_path(site.home).read_bytes()
    result = sync_now(site.home)
    assert result is not None and result.ok and result.sent == 1
    assert state_path(site.home).read_bytes() != before


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WORKPRINT_HOME=str(home), COLUMNS="80")
    env.pop("DISPLAY", None)
    return subprocess.run([sys.executable, "-m", "workprint.cli", *args], env=env, capture_output=True, text=True)


def test_consent_grant_on_an_enrolled_device_sends_the_receipt_and_tolerates_being_offline(site: Site) -> None:
    sent = _cli(site.home, "consent", "grant", "keys")
    assert sent.returncode == 0, sent.stderr
    assert "the server countersigned the receipt" in sent.stdout
    assert pending(load_state(site.home), site.home) == []
    replace(site.device, server_url="http://127.0.0.1:9").save(site.home / "device.json")
    offline = _cli(site.home, "consent", "withdraw", "keys")
    assert offline.returncode == 0, offline.stderr
    assert "not sent to the server yet (server: cannot reach http://127.0.0.1:9 (connection refused))" in offline.stdout
    assert len(pending(load_state(site.home), site.home)) == 1
    assert consent_of(site.api).erasure_requests(site.device.participant_id) == []


def test_the_device_adopts_a_new_notice_and_its_old_consent_stops_counting(site: Site) -> None:
    record_consent(site.home, "grant", ALL_SCOPES, time.time_ns())
    with ReceiptSync(site.home, site.device) as sync:
        assert sync.fetch_notice() == "" and sync.run().ok
        assert load_state(site.home).notice_version == "1"  # unchanged: nothing new published
        consent_of(site.api).publish_notice("2", "We now also keep screenshots for 2 years.")
        assert sync.fetch_notice() == ""
    state = load_state(site.home)
    assert (state.notice_version, state.program.notice.text) == ("2", "We now also keep screenshots for 2 years.")
    assert state.consented(time.time_ns()) == frozenset()
    record_consent(site.home, "grant", ("keys",), time.time_ns())
    assert sync_now(site.home) is not None
    assert site.put(("keys",), time.time_ns(), notice="2").status_code == 201
    offline = replace(site.device, server_url="http://127.0.0.1:9")
    with ReceiptSync(site.home, offline) as sync:
        assert "connection refused" in sync.fetch_notice()


ORG_RULES = [{"kind": "app", "value": "Slack"}, {"kind": "title", "value": r"payroll\s+\d{4}"},
             {"kind": "site", "value": "intranet.example"}]  # fmt: skip


def test_a_program_published_by_a_steward_reaches_the_device_state_and_excludes_its_windows(site: Site) -> None:
    record_consent(site.home, "grant", ALL_SCOPES, time.time_ns())
    service = consent_of(site.api)
    version = service.publish_program("Train agents on spreadsheet work", ["keys", "mouse"], 90,
                                      "We record keys and mouse for spreadsheet work only.", ORG_RULES)  # fmt: skip
    assert version == "2" and service.current_notice() == "2"
    before = load_state(site.home).exclusion_rules()
    assert not before.excluded("Navigator", "Payroll 2026 - Mozilla Firefox")
    with ReceiptSync(site.home, site.device) as sync:
        assert sync.fetch_notice() == ""
    state = DeviceState.from_dict(json.loads(state_path(site.home).read_text()), trusted_keys(site.home))
    p = state.program
    assert (p.purpose, p.scopes, p.retention_days) == ("Train agents on spreadsheet work", ("keys", "mouse"), 90)
    assert (p.notice.version, p.notice.text) == ("2", "We record keys and mouse for spreadsheet work only.")
    assert p.frame_format == "auto" and service.notice()["program"]["frame_format"] == "auto"
    assert state.consented(time.time_ns()) == frozenset()  # a new notice version needs fresh consent
    rules = state.exclusion_rules()
    hit = rules.match("Navigator", "Payroll 2026 - Mozilla Firefox")
    assert hit is not None and hit.source == "org" and hit.value == r"payroll\s+\d{4}"
    assert rules.match("slack", "general")
    assert rules.match("firefox", "Holidays - intranet.example - Mozilla Firefox")
    assert not rules.excluded("xterm", "make test")
    # personal rules still only add: the org rules stay when the participant adds one
    assert state.with_exclusion({"kind": "app", "value": "gimp"}).exclusion_rules().excluded("Slack", "x")
    rows = service.programs()
    assert [(r.version, r.exclusions) for r in rows] == [("2", tuple(ORG_RULES))]
    assert any(e.action == "program.publish" for e in site.api.metadata.audit_entries())
    service.publish_program("Screens too, small ones", ["keys", "mouse", "screenshots"], 90,
                            "We record keys, mouse and WebP screenshots.", frame_format="webp")  # fmt: skip
    with ReceiptSync(site.home, site.device) as sync:
        assert sync.fetch_notice() == ""
    adopted = DeviceState.from_dict(json.loads(state_path(site.home).read_text()), trusted_keys(site.home))
    assert adopted.program.frame_format == "webp" and snapshot_of(adopted, time.time_ns()).frame_format == "webp"
    assert service.programs()[0].frame_format == "webp"
    assert site.api.metadata.audit_entries()[-1].detail["frame_format"] == "webp"


def test_a_program_with_a_broken_rule_is_refused_naming_it_and_nothing_is_published(site: Site) -> None:
    service = consent_of(site.api)
    with pytest.raises(BadRequest) as err:
        service.publish_program(
            "Purpose", ["keys"], 30, "Notice text", [ORG_RULES[0], {"kind": "title", "value": "(a"}]
        )
    assert err.value.message.startswith(
        "program.exclusions[2]: exclusion rule (title): invalid regular expression '(a'"
    )
    with pytest.raises(BadRequest) as err:
        service.publish_program("Purpose", ["keys"], 30, "Notice text", [{"kind": "title", "value": r"(a+)+\1"}])
    assert err.value.message == (
        r"program.exclusions[1]: exclusion rule (title): invalid regular expression '(a+)+\\1': "
        r"invalid escape sequence: \1"
    )
    with pytest.raises(BadRequest, match=r"program\.retention_days: expected a positive number of days, got 0"):
        service.publish_program("Purpose", ["keys"], 0, "Notice text")
    with pytest.raises(BadRequest, match="scope: unknown scope 'webcam'"):
        service.publish_program("Purpose", ["webcam"], 30, "Notice text")
    with pytest.raises(BadRequest, match=r"program\.frame_format: expected one of auto, jpeg, webp, got 'gif'"):
        service.publish_program("Purpose", ["keys"], 30, "Notice text", frame_format="gif")
    assert service.programs() == [] and service.current_notice() == "1"


def test_the_device_keeps_its_program_when_the_server_sends_a_broken_rule(tmp_path: Path) -> None:
    notice = Notice("7", "A notice")
    adopted = adopted_program(DEFAULT_PROGRAM, notice, {"purpose": "P", "scopes": ["keys"], "retention_days": 5,
                                                        "exclusions": ORG_RULES})  # fmt: skip
    assert ExclusionRules.build(adopted.exclusions).excluded("Slack", "anything")
    assert adopted_program(DEFAULT_PROGRAM, notice, None) == replace(DEFAULT_PROGRAM, notice=notice)
    with pytest.raises(ConfigError, match=r"invalid regular expression '\[x'"):
        adopted_program(DEFAULT_PROGRAM, notice, {"exclusions": [{"kind": "title", "value": "[x"}]})
