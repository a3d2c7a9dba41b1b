"""Helpers for the server tests: sealed segments for an enrolled device."""

from __future__ import annotations

from workprint.models import ButtonEvent, Event, KeyEvent, WindowEvent
from workprint.segment import SegmentHeader, count_kinds, seal, segment_id

MAX_SEGMENT = 256 * 1024


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
