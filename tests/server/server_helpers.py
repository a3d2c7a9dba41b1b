"""Helpers for the server tests: sealed segments for an enrolled device, a settable clock, a cast of accounts."""

from __future__ import annotations

import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from nacl.signing import SigningKey

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
PASSWORD = "correct horse battery"


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


def signed_in(api: ServerAPI, username: str, password: str = PASSWORD) -> Principal:
    """The principal of a real password sign-in."""
    return api.identity.principal_from_session(api.identity.login(username, password).token)


def admins(api: ServerAPI, names: tuple[str, str] = ("admin", "admin2")) -> tuple[Principal, Principal]:
    """Two admins made the supported way on an empty database: the first by a local command (no approval: there is
    nobody to approve), the second requested by that command and approved by the first."""
    root = Principal.system("test", "admin")
    api.identity.add_user(root, names[0], PASSWORD, ["admin"])
    first = signed_in(api, names[0])
    second = api.identity.add_user(root, names[1], PASSWORD, ["admin"])
    for g in api.identity.duties.role_grants(second.id):
        api.identity.approve_role(first, g.id)
    return first, signed_in(api, names[1])


def staff(api: ServerAPI, requester: Principal, approver: Principal, name: str, roles: list[str]) -> Principal:
    """A staff account requested by one admin and its steward, auditor or admin roles approved by a second."""
    user = api.identity.add_user(requester, name, PASSWORD, roles)
    for g in api.identity.duties.role_grants(user.id):
        if g.approved_at is None:
            api.identity.approve_role(approver, g.id)
    return signed_in(api, name)


def claim_account(api: ServerAPI, device_token: str, username: str, password: str = PASSWORD) -> Principal:
    """The participant of ``device_token`` claims their account with the code their device receives, as a
    participant does (``workprint status`` shows the code; the portal's claim page takes it)."""
    from workprint.server.claims import Claims

    claims = Claims(api.identity)
    got = claims.for_device(api.authenticate_device(device_token))
    assert got is not None, "no claim code for this device"
    claims.claim(got["code"], username, password)
    return signed_in(api, username, password)


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
