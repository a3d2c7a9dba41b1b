"""Sealed segments: the unit that leaves the device.

Wire format (all integers big-endian)::

    b"WPS1" | u32 header length | header (canonical JSON, UTF-8) | nonce (12 bytes) | AES-256-GCM ciphertext

The header is readable by the server (it checks participant, time range and scopes against consent) and is bound
to the body as GCM associated data, so it cannot be altered without the body failing to open. The body is
``zstd(msgpack({"events": [...], "frames": {frame_id: bytes}}))`` encrypted under a fresh data key; the data key is
sealed to the participant's X25519 public key (libsodium sealed box) and carried in the header as
``sealed_key``. A segment's id is the SHA-256 of its bytes, which makes uploads idempotent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import msgpack
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from workprint.errors import QuarantineError, SchemaError, SegmentError
from workprint.models import (
    ALL_SCOPES,
    INT64_MAX,
    INT64_MIN,
    SCHEMA_VERSION,
    ControlEvent,
    Event,
    control_problem,
    from_record,
    to_record,
)

MAGIC = b"WPS1"
ENC = "x25519-aes256gcm"
MAX_HEADER = 64 * 1024
MAX_BODY_BYTES = 512 * 1024 * 1024  # hard cap of a decompressed body, whatever its compressed size
MAX_EXPANSION = 100
_NONCE = 12


def _check_int(name: str, v: object, least: int) -> None:
    # JSON integers are unbounded, the database's are 64-bit: refuse here, before anything is stored.
    if not isinstance(v, int) or isinstance(v, bool):
        raise SchemaError(f"{name}: expected an integer, got {v!r}")
    if not least <= v <= INT64_MAX:
        raise SchemaError(f"{name}: {v} is out of range; expected {least} to {INT64_MAX}")


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    """What the server may read about a segment without decrypting it."""

    participant: str
    device: str
    session: str
    seq: int
    t_start_ns: int
    t_end_ns: int
    wall_start_ns: int
    wall_end_ns: int
    scopes: tuple[str, ...]
    notice_version: str
    redactor_version: str
    counts: Mapping[str, int] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION
    enc: str = ENC
    sealed_key: str = ""

    def to_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces, so the same header always has the same bytes."""
        d = asdict(self)
        d["scopes"] = sorted(self.scopes)
        d["counts"] = dict(sorted(self.counts.items()))
        return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> SegmentHeader:
        """Parse and validate a header; raises ``SchemaError`` naming the field."""
        try:
            d = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SchemaError(f"header: not valid JSON ({exc})") from None
        if not isinstance(d, dict):
            raise SchemaError("header: expected an object")
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(d) - known)
        if extra:
            raise SchemaError(f"header.{extra[0]}: unknown field")
        for name in ("participant", "device", "session", "notice_version", "redactor_version", "enc"):
            if not isinstance(d.get(name), str):
                raise SchemaError(f"header.{name}: expected a string, got {d.get(name)!r}")
        for name in ("seq", "t_start_ns", "t_end_ns", "wall_start_ns", "wall_end_ns", "schema"):
            _check_int(f"header.{name}", d.get(name), INT64_MIN)
        scopes = d.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise SchemaError(f"header.scopes: expected a list of scope names, got {scopes!r}")
        for s in scopes:
            if s not in ALL_SCOPES:
                raise SchemaError(f"header.scopes: unknown scope {s!r}")
        counts = d.get("counts", {})
        if not isinstance(counts, dict) or not all(isinstance(k, str) for k in counts):
            raise SchemaError(f"header.counts: expected a mapping of kind to count, got {counts!r}")
        for kind, n in counts.items():
            _check_int(f"header.counts.{kind}", n, 0)
        if d["schema"] != SCHEMA_VERSION:
            raise SchemaError(f"header.schema: unsupported schema version {d['schema']!r}")
        if d["t_end_ns"] < d["t_start_ns"]:
            raise SchemaError(f"header.t_end_ns: {d['t_end_ns']} is before t_start_ns {d['t_start_ns']}")
        d["scopes"] = tuple(scopes)
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment's plaintext content: its header, its events in order and the frames they reference."""

    header: SegmentHeader
    events: tuple[Event, ...]
    frames: Mapping[str, bytes]


def segment_id(data: bytes) -> str:
    """The content hash that names a sealed segment."""
    return hashlib.sha256(data).hexdigest()


def encode_payload(events: Iterable[Event], frames: Mapping[str, bytes]) -> bytes:
    """Serialise and compress a segment's events and frames."""
    packed = msgpack.packb({"events": [to_record(e) for e in events], "frames": dict(frames)}, use_bin_type=True)
    return zstandard.ZstdCompressor(level=3).compress(packed)


def body_limit(compressed: int) -> int:
    """The most bytes a body of ``compressed`` bytes may decompress to: ``MAX_EXPANSION`` times (frames barely
    compress, events about 5 to 10 times), plus 1 MiB, and never more than ``MAX_BODY_BYTES``."""
    return min(MAX_BODY_BYTES, compressed * MAX_EXPANSION + (1 << 20))


def _decompress(blob: bytes) -> bytes:
    # Streamed in bounded steps: a body that claims (or turns out) to be a bomb is refused without the memory.
    limit = body_limit(len(blob))
    chunks: list[bytes] = []
    n = 0
    with zstandard.ZstdDecompressor().stream_reader(blob) as reader:
        while chunk := reader.read(min(1 << 20, limit + 1 - n)):
            n += len(chunk)
            if n > limit:
                raise SegmentError(f"body: decompresses to more than {limit} bytes ({len(blob)} bytes compressed)")
            chunks.append(chunk)
    return b"".join(chunks)


def decode_payload(blob: bytes, *, max_events: int | None = None) -> tuple[tuple[Event, ...], dict[str, bytes]]:
    """Inverse of ``encode_payload``; raises ``SegmentError`` on corrupt or oversized data, ``QuarantineError`` when
    it holds more than ``max_events`` events (what the header declares) before any of them is decoded."""
    try:
        raw = _decompress(blob)
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (zstandard.ZstdError, ValueError, msgpack.UnpackException) as exc:
        raise SegmentError(f"body: cannot decode ({exc})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("events"), list) or not isinstance(obj.get("frames"), dict):
        raise SegmentError("body: expected events and frames")
    if max_events is not None and len(obj["events"]) > max_events:
        raise QuarantineError(f"segment holds {len(obj['events'])} events; its header declares {max_events}")
    events = tuple(from_record(r) for r in obj["events"])
    return events, {str(k): bytes(v) for k, v in obj["frames"].items()}


def count_kinds(events: Sequence[Event]) -> dict[str, int]:
    """How many records of each kind (what headers declared before ``declared_counts``; still accepted)."""
    counts: dict[str, int] = {}
    for e in events:
        counts[e.KIND] = counts.get(e.KIND, 0) + 1
    return counts


AT_MOST = "events_at_most"


def declared_counts(events: Sequence[Event] | int) -> dict[str, int]:
    """What a header declares of its body: a bound on the number of events, the next power of two.

    Enough to bound a read (``open_sealed`` decodes no more), too coarse to chart anyone's keystroke rate: the
    per-kind counts live only inside the sealed body, and the server keeps only this bound.
    """
    n = events if isinstance(events, int) else len(events)
    return {AT_MOST: 1 << max(0, n - 1).bit_length()}


def seal(header: SegmentHeader, events: Sequence[Event], frames: Mapping[str, bytes], public_key: bytes) -> bytes:
    """Encrypt a segment for upload to the participant's X25519 ``public_key`` (32 raw bytes)."""
    data_key = AESGCM.generate_key(bit_length=256)
    sealed_key = SealedBox(PublicKey(public_key)).encrypt(data_key)
    header = replace(header, sealed_key=base64.b64encode(sealed_key).decode(), enc=ENC)
    hbytes = header.to_bytes()
    nonce = os.urandom(_NONCE)
    body = AESGCM(data_key).encrypt(nonce, encode_payload(events, frames), hbytes)
    return MAGIC + struct.pack(">I", len(hbytes)) + hbytes + nonce + body


def read_header(data: bytes) -> tuple[SegmentHeader, bytes, bytes]:
    """Split sealed bytes into (header, header bytes, nonce + ciphertext) without decrypting."""
    if len(data) < len(MAGIC) + 4 or data[: len(MAGIC)] != MAGIC:
        raise SegmentError("segment: missing magic WPS1 (not a workprint segment)")
    (hlen,) = struct.unpack(">I", data[4:8])
    if hlen > MAX_HEADER:
        raise SegmentError(f"segment: header length {hlen} exceeds {MAX_HEADER}")
    if len(data) < 8 + hlen + _NONCE + 16:
        raise SegmentError("segment: truncated")
    hbytes = data[8 : 8 + hlen]
    header = SegmentHeader.from_bytes(hbytes)
    if header.enc != ENC:
        raise SegmentError(f"header.enc: unsupported encryption {header.enc!r}")
    return header, hbytes, data[8 + hlen :]


def unwrap_data_key(header: SegmentHeader, private_key: bytes) -> bytes:
    """Open the sealed data key with the participant's X25519 private key."""
    try:
        return bytes(SealedBox(PrivateKey(private_key)).decrypt(base64.b64decode(header.sealed_key)))
    except (CryptoError, ValueError) as exc:
        raise SegmentError(f"header.sealed_key: cannot be opened with this key ({exc})") from None


def open_sealed(data: bytes, private_key: bytes) -> Segment:
    """Decrypt, decode and check a sealed segment; a segment holding undeclared content is quarantined."""
    header, hbytes, rest = read_header(data)
    data_key = unwrap_data_key(header, private_key)
    try:
        plain = AESGCM(data_key).decrypt(rest[:_NONCE], rest[_NONCE:], hbytes)
    except InvalidTag:
        raise SegmentError("segment: authentication failed (tampered header or body)") from None
    events, frames = decode_payload(plain, max_events=sum(int(v) for v in header.counts.values()))
    check_against_header(header, events, frames)
    return Segment(header=header, events=events, frames=frames)


def check_against_header(header: SegmentHeader, events: Sequence[Event], frames: Mapping[str, bytes]) -> None:
    """Raise ``QuarantineError`` when the events exceed the header: undeclared scope, kind count or time range."""
    from workprint.privacy.scopes import scopes_of_event

    declared = set(header.scopes)
    for e in events:
        extra = scopes_of_event(e) - declared
        if extra:
            raise QuarantineError(f"segment holds {e.KIND} data of undeclared scope {sorted(extra)[0]!r}")
        if not header.t_start_ns <= e.t_ns <= header.t_end_ns:
            raise QuarantineError(f"segment holds a {e.KIND} event at {e.t_ns} outside its declared time range")
        if not header.wall_start_ns <= e.wall_ns <= header.wall_end_ns:
            raise QuarantineError(f"segment holds a {e.KIND} event at wall time {e.wall_ns} outside its declared range")
        if isinstance(e, ControlEvent) and (problem := control_problem(e)) is not None:
            raise QuarantineError(f"segment holds a {problem}")
    if set(header.counts) == {AT_MOST}:
        if len(events) > (bound := header.counts[AT_MOST]):
            raise QuarantineError(f"segment holds {len(events)} events, more than the {bound} declared")
    elif count_kinds(events) != dict(header.counts):
        raise QuarantineError(f"segment counts {count_kinds(events)} differ from header counts {dict(header.counts)}")
    if frames and "screenshots" not in declared:
        raise QuarantineError("segment holds frames without the declared scope 'screenshots'")


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair as (private, public) raw bytes."""
    sk = PrivateKey.generate()
    return bytes(sk), bytes(sk.public_key)
