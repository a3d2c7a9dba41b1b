"""Helpers shared by the spool tests (imported by name: pytest puts this directory on sys.path)."""

from __future__ import annotations

from pathlib import Path

from workprint.models import Event, FrameEvent, KeyEvent
from workprint.segment import Segment, open_sealed
from workprint.spool import SpoolIdentity


def make_identity(public_key: bytes, session: str = "s1") -> SpoolIdentity:
    return SpoolIdentity(
        participant="p1",
        device="d1",
        session=session,
        public_key=public_key,
        notice_version="3",
        redactor_version="redact-test",
    )


def key(i: int) -> KeyEvent:
    """A key press whose timestamps encode ``i``, so tests can tell every event apart."""
    return KeyEvent(t_ns=1_000_000 + i, wall_ns=1_700_000_000_000_000_000 + i, press=True, keycode=38, keysym="a")


def frame(i: int, frame_id: str | None = None) -> FrameEvent:
    return FrameEvent(1_000_000 + i, 1_700_000_000_000_000_000 + i, frame_id or f"f{i}", 4, 3, "webp", "ab", 0)


def open_all(paths: list[Path], private_key: bytes) -> list[Segment]:
    return [open_sealed(p.read_bytes(), private_key) for p in paths]


def sealed_paths(directory: Path) -> list[Path]:
    return sorted((directory / "sealed").glob("*.wps"))


def all_events(directory: Path, private_key: bytes) -> list[Event]:
    return [e for s in open_all(sealed_paths(directory), private_key) for e in s.events]
