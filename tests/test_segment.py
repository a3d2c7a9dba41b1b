"""Sealed segments: only the participant's key opens them, the header is bound to the body, excess is quarantined."""

from __future__ import annotations

import dataclasses

import pytest

from workprint.errors import QuarantineError, SchemaError, SegmentError
from workprint.models import ButtonEvent, Event, FrameEvent, KeyEvent
from workprint.segment import (
    SegmentHeader,
    count_kinds,
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
    with pytest.raises(QuarantineError, match="counts"):
        open_sealed(seal(header, EVENTS, {}, pk), sk)


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
