"""Pre-action frames from a screen video (PyAV): for each action time, the last frame shown before it."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from workprint.errors import SchemaError


def frames_before(video: Path, times_s: Sequence[float], fmt: str = "WEBP") -> list[bytes | None]:
    """Encoded frames, one per time in ``times_s`` (seconds from the video's start, ascending); None before the first.

    Decodes the video once, front to back, so memory holds one frame whatever the video's length.
    """
    import av

    out: list[bytes | None] = [None] * len(times_s)
    order = sorted(range(len(times_s)), key=lambda i: times_s[i])
    k = 0
    last = None
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else 0.0
                while k < len(order) and times_s[order[k]] <= t:
                    out[order[k]] = _encode(last, fmt)
                    k += 1
                if k == len(order):
                    break
                last = frame
    except av.FFmpegError as exc:
        raise SchemaError(f"video {video.name!r}: cannot decode ({exc})") from None
    while k < len(order):  # actions after the last frame see the last frame
        out[order[k]] = _encode(last, fmt)
        k += 1
    return out


def _encode(frame: object, fmt: str) -> bytes | None:
    if frame is None:
        return None
    buf = io.BytesIO()
    frame.to_image().save(buf, format=fmt, quality=80)  # type: ignore[attr-defined]
    return buf.getvalue()


__all__ = ["frames_before"]
