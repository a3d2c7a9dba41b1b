"""Frames are opened with their dimensions checked before any pixel is decoded: a frame of a few hundred bytes that
declares tens of thousands of pixels a side is refused in one clear line, by the portal's thumbnails and the
device's redactors alike."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from workprint.errors import RedactionError, SegmentError
from workprint.imaging import MAX_FRAME_PIXELS, open_frame
from workprint.privacy.exclusion_step import blank_rects
from workprint.privacy.redact.image import ImageRedactor


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` (its pixel data would take gigabytes to decode)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(1 + 3 * min(width, 64)), 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [50_000, 9_000])  # Pillow itself refuses the first; only our cap stops the second
def test_a_frame_declaring_huge_dimensions_is_refused_before_decoding(side: int) -> None:
    data = png_declaring(side, side)
    assert len(data) < 1024
    with pytest.raises(SegmentError, match=r"^frame: "):
        open_frame(data)
    with pytest.raises(RedactionError, match=r"^frame: "):
        ImageRedactor().redact(data)
    with pytest.raises(RedactionError):
        blank_rects(data, [(0, 0, 10, 10)])


def test_a_frame_at_the_limit_opens_and_the_message_names_the_size() -> None:
    with pytest.raises(SegmentError, match=f"^frame: 9000x9000 pixels exceeds the limit of {MAX_FRAME_PIXELS} pixels$"):
        open_frame(png_declaring(9000, 9000))
    buf = io.BytesIO()
    Image.new("RGB", (1280, 800), "white").save(buf, format="PNG")
    assert open_frame(buf.getvalue()).size == (1280, 800)
