"""Consent in the server's time: a device that lies about its clock cannot backdate consent, stretch it past the
program's re-confirmation period, or slip in segments dated ahead of the server (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from server_helpers import FAST_HASHER, Clock

from workprint.config import ServerSettings
from workprint.errors import BadRequest, Forbidden, Unprocessable
from workprint.models import ALL_SCOPES, Event, KeyEvent
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.privacy.receipts import make_receipt, sign_receipt
from workprint.segment import SegmentHeader, count_kinds, seal, segment_id
from workprint.server.api import ServerAPI
from workprint.server.consent import consent_of
from workprint.store.blobs import LocalBlobStore
from workprint.store.keys import MasterKeyFile
from workprint.store.metadata import MetadataStore
from workprint.store.records import Device

S = 1_000_000_000
DAY = 86_400 * S


@dataclass
class Rig:
    api: ServerAPI
    clock: Clock
    device: Device
    key: SigningKey  # the device's consent key: the device (or whoever holds its token) can sign anything

    def receipt(self, action: str, at: int, *, expires: int | None = None, scopes: tuple[str, ...] = ALL_SCOPES):
        r = make_receipt(DEFAULT_PROGRAM, action, scopes, self.device.participant_id, at)  # type: ignore[arg-type]
        if expires is not None:
            from dataclasses import replace

            r = replace(r, expires_ns=expires)
        return consent_of(self.api).receive(self.device, sign_receipt(r, self.key).to_dict())

    def upload(self, wall_ns: int, scopes: tuple[str, ...] = ("keys",)) -> str:
        evs: list[Event] = [KeyEvent(1_000, wall_ns, True, 38, "a", "a")]
        header = SegmentHeader(
            self.device.participant_id, self.device.id, "s", int(wall_ns % 10**6), 1_000, 1_000, wall_ns, wall_ns,
            scopes, "1", "test", count_kinds(evs),
        )  # fmt: skip
        data = seal(header, evs, {}, self.api.participant(self.device.participant_id).public_key)
        sid = segment_id(data)
        self.api.ingest(self.device, sid, data)
        return sid


@pytest.fixture
def rig(db_url: str, tmp_path: Path) -> Iterator[Rig]:
    clock = Clock()
    store = MetadataStore(db_url)
    settings = ServerSettings(home=tmp_path, db_url=db_url)  # the default tolerance: 300 s
    api = ServerAPI(
        store, LocalBlobStore(tmp_path / "blobs"), MasterKeyFile(tmp_path / "master.key"), settings, clock=clock,
        password_hasher=FAST_HASHER,
    )  # fmt: skip
    pid = api.create_participant("Ada")
    e = api.enroll(api.create_enrolment_code(pid), "laptop")
    yield Rig(api, clock, api.authenticate_device(e.device_token), SigningKey.generate())
    store.close()


def test_a_backdated_grant_does_not_cover_data_from_before_it_reached_the_server(rig: Rig) -> None:
    now = rig.clock()
    rig.receipt("grant", now - 7 * DAY)  # signed "a week ago"
    with pytest.raises(Forbidden, match="consent") as refused:
        rig.upload(now - DAY)  # recorded yesterday, before any real consent
    assert refused.value.code == "consent_missing"
    with pytest.raises(Forbidden):
        rig.upload(now - 301 * S)  # just outside the tolerance
    rig.upload(now - 299 * S)  # inside it: clocks differ a little, and a sync takes a moment
    rig.upload(now + 60 * S)
    assert len(rig.api.metadata.segments()) == 2


def test_a_grant_lapses_after_the_programs_re_confirmation_period_whatever_it_claims(rig: Rig) -> None:
    now = rig.clock()
    rig.receipt("grant", now, expires=now + 3650 * DAY)  # "valid for ten years"
    ledger = consent_of(rig.api).ledger(rig.device.participant_id)
    (grant,) = ledger.receipts
    assert grant.expires_ns == now + DEFAULT_PROGRAM.reconfirm_ns
    rig.clock.advance(DEFAULT_PROGRAM.reconfirm_days * 86_400 + 3600)
    with pytest.raises(Forbidden, match="consent"):
        rig.upload(rig.clock() - 60 * S)
    rig.receipt("grant", rig.clock())  # re-confirmed: data flows again
    rig.upload(rig.clock())


def test_a_receipt_dated_ahead_of_the_server_is_refused_naming_the_field(rig: Rig) -> None:
    with pytest.raises(BadRequest, match=r"timestamp: .* ahead of the server's clock \(tolerance 300 s\)"):
        rig.receipt("grant", rig.clock() + 3600 * S)
    assert consent_of(rig.api).ledger(rig.device.participant_id).receipts == ()


def test_a_segment_dated_ahead_of_the_server_is_refused_and_nothing_is_stored(rig: Rig) -> None:
    rig.receipt("grant", rig.clock())
    with pytest.raises(Unprocessable, match=r"header.wall_end_ns: .* ahead of the server's clock") as refused:
        rig.upload(rig.clock() + 3600 * S)
    assert refused.value.code == "clock"
    assert rig.api.metadata.segments() == []


def test_a_withdrawal_dated_later_than_its_arrival_counts_from_its_arrival(rig: Rig) -> None:
    now = rig.clock()
    rig.receipt("grant", now)
    rig.receipt("withdraw", now + 200 * S, scopes=("keys",))  # dated a little ahead (within the tolerance)
    with pytest.raises(Forbidden):
        rig.upload(now + 100 * S)  # between the arrival and the claimed time: already withdrawn


def test_a_withdrawal_from_a_slow_clock_still_ends_an_earlier_arrived_grant(rig: Rig) -> None:
    now = rig.clock()
    rig.receipt("grant", now)
    rig.clock.advance(3600)
    rig.receipt("withdraw", now - 3600 * S, scopes=("keys",))  # dated an hour before the grant it ends
    rig.clock.advance(60)
    with pytest.raises(Forbidden):
        rig.upload(rig.clock())  # recorded after the withdrawal reached the server: refused
    ledger = consent_of(rig.api).ledger(rig.device.participant_id)
    assert not ledger.status("keys", rig.clock(), "1").active
