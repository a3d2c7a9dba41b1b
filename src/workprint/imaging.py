"""Opening screenshots safely: the dimensions are checked from the image's header before any pixel is decoded.

A frame of a few KiB can declare 50,000 x 50,000 pixels (PNG and WebP compress a blank canvas to almost nothing);
decoding it would take gigabytes. Every place that decodes a frame (the device's redactors, the portal's
thumbnails) opens it here.
"""

from __future__ import annotations

import io

from PIL import Image

from workprint.errors import SegmentError

__all__ = ["MAX_FRAME_PIXELS", "open_frame"]

# Three 4K monitors side by side are 25 million pixels; nothing a capture makes comes near 40.
MAX_FRAME_PIXELS = 40_000_000


def open_frame(data: bytes, max_pixels: int = MAX_FRAME_PIXELS) -> Image.Image:
    """The image in ``data``, not yet decoded; ``SegmentError`` naming the size when it is too large or unreadable."""
    try:
        img = Image.open(io.BytesIO(data))
    except Exception as exc:  # Pillow raises many types for input it cannot parse
        raise SegmentError(f"frame: cannot decode image ({exc})") from None
    w, h = img.size
    if w <= 0 or h <= 0 or w * h > max_pixels:
        img.close()
        raise SegmentError(f"frame: {w}x{h} pixels exceeds the limit of {max_pixels} pixels")
    return img
