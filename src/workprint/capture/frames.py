"""Screen grabs kept in a small ring, encoded lazily when an action refers to them.

The grabber thread takes a grab whenever the X DAMAGE extension says the screen changed (rate-capped), or, without
DAMAGE, polls at ``frame_interval_s`` and keeps only grabs that differ. Before each action the capture asks the
ring for the last grab taken before the action's time (OpenCUA: "last visually distinct frame before the action").
A grab's time is taken when its pixels were complete, so a grab dated before an action cannot show its effect.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import deque
from typing import Any

from PIL import Image

from workprint.models import FrameEvent


class Grab:
    """One raw screen grab (BGRA) and, once an action needed it, its encoded bytes."""

    __slots__ = ("_encoded", "_event_fields", "bgra", "digest", "height", "t_ns", "wall_ns", "width")

    def __init__(self, t_ns: int, wall_ns: int, width: int, height: int, bgra: bytes | bytearray) -> None:
        self.t_ns = t_ns
        self.wall_ns = wall_ns
        self.width = width
        self.height = height
        self.bgra = bgra
        self.digest = b""  # set by the polling fallback to skip identical grabs
        self._encoded: bytes | None = None
        self._event_fields: tuple[str, str, str] = ("", "", "")

    def encoded(self, fmt: str, quality: int) -> tuple[bytes, str, str]:
        """Encoded bytes, frame id and sha256 hex; encoded at most once."""
        if self._encoded is None:
            self._encoded = encode_bgra(self.bgra, self.width, self.height, fmt, quality)
            sha = hashlib.sha256(self._encoded).hexdigest()
            self._event_fields = (sha[:16], sha, fmt)
            self.bgra = b""  # the raw pixels are no longer needed once encoded
        return self._encoded, self._event_fields[0], self._event_fields[1]

    def frame_event(self, action_t_ns: int, fmt: str, quality: int) -> tuple[FrameEvent, bytes]:
        """The FrameEvent (dated at the grab) and encoded bytes for an action at ``action_t_ns``."""
        data, frame_id, sha = self.encoded(fmt, quality)
        event = FrameEvent(
            t_ns=self.t_ns,
            wall_ns=self.wall_ns,
            frame_id=frame_id,
            width=self.width,
            height=self.height,
            format=fmt,
            sha256=sha,
            action_t_ns=action_t_ns,
        )
        return event, data


def encode_bgra(bgra: bytes | bytearray, width: int, height: int, fmt: str, quality: int) -> bytes:
    """Encode raw BGRA pixels as WebP (method 0: ~8x faster than the default) or JPEG."""
    image = Image.frombytes("RGB", (width, height), bgra, "raw", "BGRX")
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, format="WEBP", quality=quality, method=0)
    else:
        image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


class FrameRing:
    """The last few grabs, shared between the grabber thread (writer) and the input thread (reader)."""

    def __init__(self, size: int = 4) -> None:
        self._grabs: deque[Grab] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, grab: Grab) -> None:
        """Append a grab; the oldest falls out."""
        with self._lock:
            self._grabs.append(grab)

    def latest(self) -> Grab | None:
        """The newest grab."""
        with self._lock:
            return self._grabs[-1] if self._grabs else None

    def before(self, t_ns: int) -> Grab | None:
        """The last grab completed strictly before ``t_ns`` (None if there is none)."""
        with self._lock:
            for grab in reversed(self._grabs):
                if grab.t_ns < t_ns:
                    return grab
        return None


def open_mss(display: str) -> Any:
    """An mss screenshot object: ``mss.MSS()`` (mss 10), else the older ``mss.mss()``."""
    import mss

    factory = getattr(mss, "MSS", None) or mss.mss
    return factory(display=display)


__all__ = ["FrameRing", "Grab", "encode_bgra", "open_mss"]
