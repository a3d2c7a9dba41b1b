"""Helpers for the server tests: sealed segments for an enrolled device, a settable clock, a cast of accounts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from nacl.signing import SigningKey

from account_helpers import PASSWORD as PASSWORD
from account_helpers import admins as admins
from account_helpers import claim_account as claim_account
from account_helpers import claim_code as claim_code
from account_helpers import signed_in as signed_in
from account_helpers import staff as staff
from workprint.models import ALL_SCOPES, ButtonEvent, Event, KeyEvent, WindowEvent
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.privacy.receipts import make_receipt, sign_receipt
from workprint.segment import SegmentHeader, count_kinds, read_header, seal, segment_id
from workprint.server.api import ServerAPI, blob_key
from workprint.server.consent import consent_of
from workprint.server.identity import Principal
from workprint.store.records import SegmentRecord

MAX_SEGMENT = 256 * 1024


WALL0 = 1_700_000_000_000_000_000


def events(t0: int = 1_000) -> list[Event]:
    """A few events of different kinds starting at ``t0``."""
    return [
        WindowEvent(t0, 1_700_000_000_000_000_000, "xterm", "Terminal", 42, 0, 0, 800, 600, 1280, 800),
        ButtonEvent(t0 + 1, 1_700_000_000_000_000_001, True, 10, 20, 1),
        KeyEvent(t0 + 2, 1_700_000_000_000_000_002, True, 38, "a", "a"),
    ]


def sealed(
    participant: str, device: str, public_key: bytes, *, session: str = "s1", seq: int = 0, t0: int = 1_000
) -> tuple[str, bytes, list[Event]]:
    """(segment id, sealed bytes, events) of a small segment for ``participant`` on ``device``."""
    evs = events(t0)
    header = SegmentHeader(
        participant=participant,
        device=device,
        session=session,
        seq=seq,
        t_start_ns=evs[0].t_ns,
        t_end_ns=evs[-1].t_ns,
        wall_start_ns=evs[0].wall_ns,
        wall_end_ns=evs[-1].wall_ns,
        scopes=("keys", "mouse", "window_titles", "app_names"),
        notice_version="1",
        redactor_version="test",
        counts=count_kinds(evs),
    )
    data = seal(header, evs, {}, public_key)
    return segment_id(data), data, evs


FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # still argon2id, cheap for tests


class Clock:
    """A settable clock in nanoseconds, starting at the real time."""

    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000_000)


@dataclass(frozen=True)
class Cast:
    """Two participants with one stored segment each, and one account per role (two stewards)."""

    ada: Principal
    bob: Principal
    ada_segment: str
    bob_segment: str
    steward: Principal
    steward2: Principal
    researcher: Principal
    auditor: Principal
    admin: Principal
    usernames: dict[str, str]


def consent_all(api: ServerAPI, device_token: str) -> None:
    """The device's participant consents to every scope from before ``events()``' wall times (as an agent would)."""
    device = api.authenticate_device(device_token)
    receipt = make_receipt(DEFAULT_PROGRAM, "grant", ALL_SCOPES, device.participant_id, WALL0 - 10**9)
    consent_of(api).receive(device, sign_receipt(receipt, SigningKey.generate()).to_dict())


def store_sealed(api: ServerAPI, participant_id: str, device_id: str, sid: str, data: bytes) -> None:
    """Store a sealed segment as ingest does, without ingest's consent check (these tests are about reads)."""
    header, _, _ = read_header(data)
    key = blob_key(sid)
    api.blobs.put(key, data)
    rec = SegmentRecord(
        sid, participant_id, device_id, header.session, header.seq, header.t_start_ns, header.t_end_ns,
        header.wall_start_ns, header.wall_end_ns, tuple(sorted(header.scopes)), header.notice_version,
        header.redactor_version, len(data), dict(header.counts), key, api.now(),
    )  # fmt: skip
    assert api.metadata.add_segment(rec)


def cast(api: ServerAPI) -> Cast:
    """Create the cast through the domain API, signing each account in for real: participants claim their own
    accounts, staff roles are requested by one admin and approved by a second."""
    made: dict[str, Principal] = {}
    segs: dict[str, str] = {}
    for name in ("ada", "bob"):
        pid = api.create_participant(name)
        e = api.enroll(api.create_enrolment_code(pid), f"{name}-laptop")
        sid, data, _ = sealed(pid, e.device_id, e.public_key)
        store_sealed(api, pid, e.device_id, sid, data)
        segs[name] = sid
        made[name] = claim_account(api, e.device_token, name)
    made["admin"], admin2 = admins(api)
    for name, role in (("steward", "steward"), ("steward2", "steward"), ("researcher", "researcher"),
                       ("auditor", "auditor")):  # fmt: skip
        made[name] = staff(api, made["admin"], admin2, name, [role])
    return Cast(
        made["ada"], made["bob"], segs["ada"], segs["bob"], made["steward"], made["steward2"], made["researcher"],
        made["auditor"], made["admin"], {k: k for k in made},
    )  # fmt: skip
