"""A small multi-participant corpus, in memory or uploaded to a real collection server, for release tests."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from dataset_helpers import MS, Tape, png_bytes
from nacl.signing import SigningKey
from PIL import Image

from clock_helpers import HISTORIC
from workprint.config import ServerSettings
from workprint.models import ALL_SCOPES, Event, FrameEvent
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.privacy.receipts import make_receipt, sign_receipt
from workprint.segment import Segment, SegmentHeader, count_kinds, generate_keypair, open_sealed, seal, segment_id
from workprint.server.api import ServerAPI
from workprint.server.consent import consent_of
from workprint.server.serve import build_api

WALL0 = 1_780_000_000_000_000_000


def frames_for(events: list[Event], seed: int) -> dict[str, bytes]:
    """A distinct real image per frame (colour from ``seed`` and position)."""
    ids = [e.frame_id for e in events if isinstance(e, FrameEvent)]
    return {f: png_bytes(((seed * 40 + i * 7) % 256, (i * 13) % 256, 90)) for i, f in enumerate(ids)}


def session_tape(n: int, word: str = "hello", title: str = "notes", app: str = "gedit") -> Tape:
    """A session: click, type ``word``, Ctrl+S; a marker; click, type; so two episodes of >= 2 actions."""
    tape = Tape(app=app, title=title)
    tape.click(100 + n, 120)
    tape.type(word)
    tape.key_down("Control_L")
    tape.key("s")
    tape.key_up("Control_L")
    tape.control("marker")
    tape.click(300, 200 + n)
    tape.type("done")
    return tape


def header_for(participant: str, session: str, seq: int, events: list[Event], scopes: tuple[str, ...] = ALL_SCOPES,
               device: str = "dev-1") -> SegmentHeader:  # fmt: skip
    """A header that declares exactly ``events``."""
    times = [e.t_ns for e in events]
    return SegmentHeader(
        participant=participant, device=device, session=session, seq=seq, t_start_ns=min(times),
        t_end_ns=max(times), wall_start_ns=WALL0 + min(times), wall_end_ns=WALL0 + max(times), scopes=scopes,
        notice_version="1", redactor_version="test", counts=count_kinds(events),
    )  # fmt: skip


def on_wall_clock(events: list[Event]) -> list[Event]:
    """The events with wall times ``WALL0`` + their monotonic time, as a device stamps them (headers declare that)."""
    return [replace(e, wall_ns=WALL0 + e.t_ns) for e in events]


def opened(participant: str, session: str, seq: int, events: list[Event], frames: dict[str, bytes]) -> Segment:
    """Sealed to a fresh key and opened again, as the server hands segments over."""
    sk, pk = generate_keypair()
    events = on_wall_clock(events)
    return open_sealed(seal(header_for(participant, session, seq, events), events, frames, pk), sk)


def corpus(n_participants: int = 6, shared_title: str = "notes") -> list[Segment]:
    """One two-segment session per participant; the last participant works in a window nobody else has."""
    segs = []
    for p in range(n_participants):
        title = shared_title if p < n_participants - 1 else "private diary of p5"
        tape = session_tape(p, word=f"word{p}", title=title)
        cut = len(tape.events) // 2
        for i, part in enumerate((tape.events[:cut], tape.events[cut:])):
            segs.append(opened(f"participant-{p}", "sess-1", i, part, frames_for(part, p * 2 + i)))
    return segs


def upload(api: ServerAPI, name: str, sessions: list[tuple[str, Tape]], withdraw: tuple[str, ...] = ()) -> str:
    """Create participant ``name``, grant every scope, enrol a device, ingest each (session, tape) as two sealed
    segments; then withdraw the ``withdraw`` scopes (after the recording)."""
    pid = api.create_participant(name)
    enrol = api.enroll(api.create_enrolment_code(pid), f"{name}-laptop")
    device = api.authenticate_device(enrol.device_token)
    receipt = make_receipt(DEFAULT_PROGRAM, "grant", ALL_SCOPES, pid, WALL0 - 10**9)
    signing = SigningKey.generate()
    consent_of(api).receive(device, sign_receipt(receipt, signing).to_dict())
    for session, tape in sessions:
        cut = len(tape.events) // 2
        for i, part in enumerate((tape.events[:cut], tape.events[cut:])):
            part = on_wall_clock(part)
            data = seal(
                header_for(pid, session, i, part, device=device.id), part, frames_for(part, i), enrol.public_key
            )
            api.ingest(device, segment_id(data), data)
    if withdraw:
        later = make_receipt(DEFAULT_PROGRAM, "withdraw", withdraw, pid, WALL0 + 10**12)  # type: ignore[arg-type]
        consent_of(api).receive(device, sign_receipt(later, signing).to_dict())
    return pid


def server(home: Path, blob_url: str = "") -> ServerAPI:
    """A collection server (SQLite, local or S3 blobs, master key file) under ``home``."""
    return build_api(ServerSettings(home=home, blob_url=blob_url, clock_tolerance_s=HISTORIC))


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def tar_names(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def decodes(data: bytes) -> bool:
    Image.open(io.BytesIO(data)).load()
    return True


__all__ = ["MS", "corpus", "frames_for", "header_for", "jsonl", "opened", "server", "session_tape", "upload"]
