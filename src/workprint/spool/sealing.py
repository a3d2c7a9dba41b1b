"""Turning a journal's content into a sealed segment (pure apart from the randomness of encryption)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from workprint.models import ALL_SCOPES, Event, FrameEvent
from workprint.privacy.scopes import scopes_of_event
from workprint.segment import SegmentHeader, declared_counts, seal, segment_id
from workprint.spool.records import JournalMeta

SUFFIX = ".wps"
_NAME = re.compile(r"^(\d{12})-([0-9a-f]{16})\.wps$")


def build_header(meta: JournalMeta, events: Sequence[Event]) -> SegmentHeader:
    """The header that declares exactly what ``events`` hold: time range, scopes and counts."""
    if not events:
        raise ValueError("events: a segment needs at least one event")
    scopes: set[str] = set()
    for e in events:
        scopes |= scopes_of_event(e)
    return SegmentHeader(
        participant=meta.participant,
        device=meta.device,
        session=meta.session,
        seq=meta.seq,
        t_start_ns=min(e.t_ns for e in events),
        t_end_ns=max(e.t_ns for e in events),
        wall_start_ns=min(e.wall_ns for e in events),
        wall_end_ns=max(e.wall_ns for e in events),
        scopes=tuple(s for s in ALL_SCOPES if s in scopes),
        notice_version=meta.notice_version,
        redactor_version=meta.redactor_version,
        counts=declared_counts(events),
    )


def seal_events(meta: JournalMeta, events: Sequence[Event], frames: Mapping[str, bytes]) -> bytes:
    """Seal ``events`` and the frames they reference to the participant's public key."""
    referenced = {e.frame_id for e in events if isinstance(e, FrameEvent)}
    kept = {k: v for k, v in frames.items() if k in referenced}
    return seal(build_header(meta, events), events, kept, meta.public_key)


def sealed_name(seq: int, data: bytes) -> str:
    """File name of a sealed segment: its sequence number first, so names sort in upload order."""
    return f"{seq:012d}-{segment_id(data)[:16]}{SUFFIX}"


def seq_of(name: str) -> int | None:
    """The sequence number in a sealed segment's file name, or None for other files."""
    m = _NAME.match(name)
    return int(m.group(1)) if m else None
