"""Journal framing (pure): ``u32 length | u32 crc32 | msgpack payload``, big-endian.

A journal's first record is its meta record (who the events belong to and the segment's sequence number), so a
journal left behind by a killed agent is sealed with the identity it was written under. Every later record is one
event, with the frame's bytes beside a ``FrameEvent`` the first time its ``frame_id`` appears in the journal.
Scanning stops at the first record that is incomplete or fails its checksum: that is where a write was torn.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import msgpack

from workprint.errors import SchemaError
from workprint.models import Event, FrameEvent, from_record, to_record

_HEAD = struct.Struct(">II")
HEAD_SIZE = _HEAD.size
# A record larger than this cannot have been written by us; treat its length field as garbage.
MAX_RECORD = 1 << 30


@dataclass(frozen=True, slots=True)
class JournalMeta:
    """The identity a journal was opened under, and its segment sequence number."""

    participant: str
    device: str
    session: str
    public_key: bytes
    notice_version: str
    redactor_version: str
    seq: int


@dataclass(frozen=True, slots=True)
class Scan:
    """What a journal holds up to its last intact record, and where that record ends."""

    meta: JournalMeta | None
    events: tuple[Event, ...]
    frames: dict[str, bytes]
    good_len: int
    total_len: int

    @property
    def torn(self) -> bool:
        """True when bytes after the last intact record were cut off."""
        return self.good_len != self.total_len


def frame(payload: bytes) -> bytes:
    """Prefix a payload with its length and CRC-32."""
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def meta_record(meta: JournalMeta) -> bytes:
    """The framed meta record that opens a journal."""
    body = {
        "t": "meta",
        "participant": meta.participant,
        "device": meta.device,
        "session": meta.session,
        "public_key": meta.public_key,
        "notice_version": meta.notice_version,
        "redactor_version": meta.redactor_version,
        "seq": meta.seq,
    }
    return frame(msgpack.packb(body, use_bin_type=True))


def event_record(event: Event, data: bytes | None) -> bytes:
    """The framed record of one event (and its frame bytes, when given)."""
    return frame(msgpack.packb({"t": "ev", "e": to_record(event), "f": data}, use_bin_type=True))


def _decode(payload: bytes) -> dict[str, Any] | None:
    try:
        obj = msgpack.unpackb(payload, raw=False)
    except (ValueError, msgpack.UnpackException):
        return None
    return obj if isinstance(obj, dict) else None


def _meta(obj: dict[str, Any]) -> JournalMeta | None:
    try:
        return JournalMeta(
            participant=str(obj["participant"]),
            device=str(obj["device"]),
            session=str(obj["session"]),
            public_key=bytes(obj["public_key"]),
            notice_version=str(obj["notice_version"]),
            redactor_version=str(obj["redactor_version"]),
            seq=int(obj["seq"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def scan(data: bytes) -> Scan:
    """Decode every intact record of a journal, stopping at the first torn or corrupt one."""
    meta: JournalMeta | None = None
    events: list[Event] = []
    frames: dict[str, bytes] = {}
    off = 0
    while off + HEAD_SIZE <= len(data):
        length, crc = _HEAD.unpack_from(data, off)
        end = off + HEAD_SIZE + length
        if length > MAX_RECORD or end > len(data):
            break
        payload = data[off + HEAD_SIZE : end]
        if zlib.crc32(payload) != crc:
            break
        obj = _decode(payload)
        if obj is None:
            break
        if meta is None:
            meta = _meta(obj) if obj.get("t") == "meta" else None
            if meta is None:
                break  # a journal without its identity cannot be sealed to anyone
        else:
            if obj.get("t") != "ev" or not isinstance(obj.get("e"), dict):
                break
            try:
                event = from_record(obj["e"])
            except SchemaError:
                break
            blob = obj.get("f")
            if isinstance(blob, bytes) and isinstance(event, FrameEvent):
                frames.setdefault(event.frame_id, blob)
            events.append(event)
        off = end
    return Scan(meta=meta, events=tuple(events), frames=frames, good_len=off, total_len=len(data))
