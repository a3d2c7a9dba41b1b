"""Sealed segments: only the participant's key opens them, the header is bound to the body, excess is quarantined."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import zstandard

from workprint.errors import QuarantineError, SchemaError, SegmentError
from workprint.models import ButtonEvent, ControlEvent, Event, FrameEvent, KeyEvent
from workprint.segment import (
    SegmentHeader,
    count_kinds,
    declared_counts,
    generate_keypair,
    open_sealed,
    read_header,
    seal,
    segment_id,
)


def _header(events: list[Event], scopes: tuple[str, ...] = ("keys", "mouse", "screenshots")) -> SegmentHeader:
    return SegmentHeader(
        participant="p1",
        device="d1",
        session="s1",
        seq=0,
        t_start_ns=min(e.t_ns for e in events),
        t_end_ns=max(e.t_ns for e in events),
        wall_start_ns=1,
        wall_end_ns=2,
        scopes=scopes,
        notice_version="1",
        redactor_version="test",
        counts=count_kinds(events),
    )


EVENTS: list[Event] = [
    FrameEvent(10, 1, "f1", 2, 2, "webp", "00", 11),
    ButtonEvent(11, 1, True, 5, 6, 1),
    KeyEvent(12, 1, True, 38, "a", "a"),
]


def test_sealed_segment_opens_with_the_participants_key_only() -> None:
    sk, pk = generate_keypair()
    other_sk, _ = generate_keypair()
    data = seal(_header(EVENTS), EVENTS, {"f1": b"img"}, pk)
    seg = open_sealed(data, sk)
    assert list(seg.events) == EVENTS
    assert seg.frames == {"f1": b"img"}
    assert b"img" not in data
    with pytest.raises(SegmentError, match="sealed_key: cannot be opened"):
        open_sealed(data, other_sk)


def test_changing_the_header_breaks_the_body() -> None:
    sk, pk = generate_keypair()
    data = seal(_header(EVENTS), EVENTS, {"f1": b"img"}, pk)
    tampered = data.replace(b'"participant":"p1"', b'"participant":"p2"')
    assert tampered != data
    with pytest.raises(SegmentError, match="authentication failed"):
        open_sealed(tampered, sk)


def test_segment_id_is_the_content_hash() -> None:
    _, pk = generate_keypair()
    data = seal(_header(EVENTS), EVENTS, {}, pk)
    assert segment_id(data) == segment_id(bytes(data)) and len(segment_id(data)) == 64


def test_events_of_an_undeclared_scope_are_quarantined() -> None:
    sk, pk = generate_keypair()
    header = _header(EVENTS, scopes=("mouse", "screenshots"))
    with pytest.raises(QuarantineError, match="undeclared scope 'keys'"):
        open_sealed(seal(header, EVENTS, {"f1": b"img"}, pk), sk)


def test_events_beyond_the_declared_counts_are_quarantined() -> None:
    sk, pk = generate_keypair()
    header = dataclasses.replace(_header(EVENTS), counts={"button": 1, "frame": 1})
    with pytest.raises(QuarantineError, match="holds 3 events; its header declares 2"):
        open_sealed(seal(header, EVENTS, {}, pk), sk)


def test_a_header_declares_only_a_power_of_two_bound_and_holding_more_is_quarantined() -> None:
    sk, pk = generate_keypair()
    assert declared_counts(EVENTS) == {"events_at_most": 4} and declared_counts(4) == {"events_at_most": 4}
    assert declared_counts(5) == {"events_at_most": 8} and declared_counts(0) == {"events_at_most": 1}
    ok = dataclasses.replace(_header(EVENTS), counts=declared_counts(EVENTS))
    assert open_sealed(seal(ok, EVENTS, {}, pk), sk).events == tuple(EVENTS)
    short = dataclasses.replace(_header(EVENTS), counts={"events_at_most": 2})
    with pytest.raises(QuarantineError, match="holds 3 events"):
        open_sealed(seal(short, EVENTS, {}, pk), sk)


def test_header_with_unknown_scope_is_named() -> None:
    raw = _header(EVENTS).to_bytes().replace(b'"keys"', b'"thoughts"')
    with pytest.raises(SchemaError, match=r"header\.scopes: unknown scope 'thoughts'"):
        SegmentHeader.from_bytes(raw)


def test_truncated_and_foreign_bytes_are_refused() -> None:
    _, pk = generate_keypair()
    data = seal(_header(EVENTS), EVENTS, {}, pk)
    with pytest.raises(SegmentError, match="truncated"):
        read_header(data[:60])
    with pytest.raises(SegmentError, match="missing magic"):
        read_header(b"GIF89a" + data)


BOMB = """
import base64, json, os, resource, struct, sys
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from workprint.errors import SegmentError
from workprint.segment import MAGIC, open_sealed, seal, read_header
sk_b64, data_path = sys.argv[1], sys.argv[2]
data = open(data_path, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    open_sealed(data, base64.b64decode(sk_b64))
    outcome = "opened"
except SegmentError as exc:
    outcome = str(exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "grew_kib": after - before}))
"""


def _bomb(header: SegmentHeader, pk: bytes, size: int) -> bytes:
    """A sealed segment whose (valid, encrypted) body decompresses to ``size`` bytes of zeros."""
    import base64
    import os
    import struct

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from nacl.public import PublicKey, SealedBox

    from workprint.segment import ENC, MAGIC

    cctx = zstandard.ZstdCompressor(level=1)
    chunk = bytes(1 << 20)
    comp = cctx.compressobj()
    body = b"".join(comp.compress(chunk) for _ in range(size >> 20)) + comp.flush()
    key = AESGCM.generate_key(bit_length=256)
    sealed_key = base64.b64encode(SealedBox(PublicKey(pk)).encrypt(key)).decode()
    hbytes = dataclasses.replace(header, sealed_key=sealed_key, enc=ENC).to_bytes()
    nonce = os.urandom(12)
    return MAGIC + struct.pack(">I", len(hbytes)) + hbytes + nonce + AESGCM(key).encrypt(nonce, body, hbytes)


def test_a_small_segment_that_decompresses_to_a_gibibyte_is_refused_within_a_bounded_memory(tmp_path: Path) -> None:
    import base64
    import json
    import subprocess
    import sys

    sk, pk = generate_keypair()
    data = _bomb(_header(EVENTS), pk, 1 << 30)
    assert len(data) < 64 * 1024  # a few KiB on the wire
    path = tmp_path / "bomb.wps"
    path.write_bytes(data)
    proc = subprocess.run([sys.executable, "-c", BOMB, base64.b64encode(sk).decode(), str(path)],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    result = json.loads(proc.stdout)
    assert result["outcome"].startswith("body: decompresses to more than ")
    assert result["grew_kib"] < 64 * 1024  # under 64 MiB of peak memory, for a body that claimed 1 GiB


@pytest.mark.parametrize(
    ("control", "why"),
    [
        (
            ControlEvent(11, 1, "pause", (("reason", "call with Dr. Ana Souza re: biopsy"),)),
            "control pause detail reason is not of its enumerated form",
        ),
        (ControlEvent(11, 1, "note", (("text", "anything"),)), "control kind 'note' is not one of the known kinds"),
        (
            ControlEvent(11, 1, "consent", (("consented", "keys"), ("who", "ana"))),
            "control consent carries an unknown detail 'who'",
        ),
    ],
)
def test_control_records_with_free_text_or_unknown_fields_are_quarantined(control: ControlEvent, why: str) -> None:
    sk, pk = generate_keypair()
    evs: list[Event] = [*EVENTS[:1], control, *EVENTS[1:]]
    with pytest.raises(QuarantineError, match=f"^segment holds a {why}$"):
        open_sealed(seal(_header(evs), evs, {"f1": b"img"}, pk), sk)


def test_every_control_record_the_agent_writes_passes_the_check() -> None:
    from workprint.models import SECRET_FIELD, control_problem

    made = [
        ControlEvent(1, 1, "session_start"), ControlEvent(1, 1, "session_stop"),
        ControlEvent(1, 1, "pause", (("reason", "participant"),)), ControlEvent(1, 1, "pause", (("reason", "idle"),)),
        ControlEvent(1, 1, "resume", (("reason", "no longer screen locked"),)),
        ControlEvent(1, 1, "consent", (("consented", "keys,mouse,screenshots"), ("withdrawn", "app_names"))),
        ControlEvent(1, 1, "consent", (("consented", ""),)), ControlEvent(1, 1, "exclusion_enter"),
        ControlEvent(1, 1, "exclusion_leave", (("duration_ms", "1520"),)),
        ControlEvent(1, 1, SECRET_FIELD, (("state", "enter"),)),
    ]  # fmt: skip
    assert [control_problem(c) for c in made] == [None] * len(made)


def test_an_event_whose_wall_time_lies_outside_the_header_is_quarantined() -> None:
    sk, pk = generate_keypair()
    header = dataclasses.replace(_header(EVENTS), wall_start_ns=2)  # every event says wall time 1
    with pytest.raises(QuarantineError, match="outside its declared range"):
        open_sealed(seal(header, EVENTS, {"f1": b"img"}, pk), sk)


@pytest.mark.parametrize(
    ("field", "value", "least"),
    [
        ("seq", 2**63, -(2**63)),
        ("wall_end_ns", -(2**63) - 1, -(2**63)),
        ("counts.key", 2**63, 0),
        ("counts.key", -1, 0),
    ],
)
def test_header_integers_outside_64_bits_are_refused_naming_field_and_value(field: str, value: int, least: int) -> None:
    header = _header(EVENTS)
    if field.startswith("counts."):
        header = dataclasses.replace(header, counts={**header.counts, "key": value})
    else:
        header = dataclasses.replace(header, **{field: value})
    expected = f"header.{field}: {value} is out of range; expected {least} to {2**63 - 1}"
    with pytest.raises(SchemaError) as err:
        SegmentHeader.from_bytes(header.to_bytes())
    assert str(err.value) == expected
