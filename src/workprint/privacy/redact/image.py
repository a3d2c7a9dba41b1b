"""Screenshot redaction: OCR, run the detectors with the window title as context, fill every matching word box.

``ImageRedactor`` keeps the previous frame: only horizontal bands that changed since it are OCR'd again (stacked
into one image, one tesseract call); boxes found earlier outside those bands are reused. Any failure raises
``RedactionError`` and the caller drops the frame.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw

from workprint.errors import RedactionError
from workprint.models import FrameEvent
from workprint.privacy.redact.detectors import detect
from workprint.privacy.redact.ocr import TILE, Word, normalise, tesseract_words
from workprint.privacy.redact.types import Context

_GAP = 24  # white rows between stacked bands, so tesseract never joins their lines
_PAD = 2
# Rows of context above and below a change: a glyph that changed may be the middle of a line, and tesseract reads a
# cropped line worse than one with a margin.
_BAND_PAD = 2 * TILE
_MIN_BAND = 8 * TILE


@dataclass(frozen=True, slots=True)
class Box:
    """A filled rectangle (image pixels) and the type of value under it."""

    x: int
    y: int
    w: int
    h: int
    type: str


@dataclass(frozen=True, slots=True)
class ImageResult:
    """The redacted image bytes (input format), the boxes filled, and the bands (y0, y1) that were OCR'd."""

    image: bytes
    boxes: tuple[Box, ...]
    bands: tuple[tuple[int, int], ...]


def boxes_for(words: list[Word], title: str, known: Sequence[str] = ()) -> list[Box]:
    """Detect values in OCR'd words (lines joined by newlines) and return the boxes of every word they touch.

    ``known`` holds values the key redactor found in what was typed: a frame taken while the value was half typed
    shows only a prefix no detector recognises, so any word of 3+ characters inside a known value is filled too.
    """
    lines: dict[tuple[int, int, int], list[Word]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w)
    parts: list[str] = []
    where: list[tuple[int, int, Word]] = []
    pos = 0
    for line in sorted(lines.values(), key=lambda ws: (ws[0].y, ws[0].x)):
        for i, w in enumerate(line):
            if i:
                parts.append(" ")
                pos += 1
            where.append((pos, pos + len(w.text), w))
            parts.append(w.text)
            pos += len(w.text)
        parts.append("\n")
        pos += 1
    text = "".join(parts)
    out: list[Box] = []
    lowered = [v.lower() for v in known]
    for w in words:
        if lowered and _in_known(w.text.lower(), lowered):
            out.append(Box(w.x - _PAD, w.y - _PAD, w.w + 2 * _PAD, w.h + 2 * _PAD, "TYPED"))
    for span in detect(text, Context(title=title)):
        for s, e, w in where:
            if s < span.end and e > span.start:
                out.append(Box(w.x - _PAD, w.y - _PAD, w.w + 2 * _PAD, w.h + 2 * _PAD, span.type))
    return out


def _in_known(word: str, known: list[str]) -> bool:
    # OCR glues the text cursor or a neighbouring glyph to a half-typed word ("johs" for "joh" + cursor), so up to
    # two characters at either end may be extra.
    n = len(word)
    for a in range(3):
        for b in range(3 - a):
            part = word[a : n - b]
            if len(part) >= 3 and any(part in v for v in known):
                return True
    return False


def changed_bands(prev: Image.Image | None, cur: Image.Image) -> list[tuple[int, int]]:
    """Row ranges (y0, y1) whose pixels differ from the previous frame (grayscale), padded, widened and merged."""
    h = cur.height
    if prev is None or prev.size != cur.size:
        return [(0, h)]
    changed = ImageChops.difference(prev, cur).point(lambda v: 255 if v > 8 else 0)
    rows = changed.getprojection()[1]
    ys = [y for y, hit in enumerate(rows) if hit]
    if not ys:
        return []
    bands: list[tuple[int, int]] = []
    start = prev_y = ys[0]
    for y in ys[1:]:
        if y - prev_y > 2 * _BAND_PAD:
            bands.append((max(0, start - _BAND_PAD), min(h, prev_y + 1 + _BAND_PAD)))
            start = y
        prev_y = y
    bands.append((max(0, start - _BAND_PAD), min(h, prev_y + 1 + _BAND_PAD)))
    return _widen(bands, h)


def _widen(bands: list[tuple[int, int]], h: int) -> list[tuple[int, int]]:
    # tesseract's layout analysis misreads thin strips (measured: a 64-row strip lost a word a 128-row one kept)
    out: list[tuple[int, int]] = []
    for y0, y1 in bands:
        grow = max(0, _MIN_BAND - (y1 - y0))
        y0, y1 = max(0, y0 - grow // 2), min(h, y1 + grow - grow // 2)
        if y1 - y0 < _MIN_BAND:
            y0, y1 = (0, min(h, _MIN_BAND)) if y0 == 0 else (max(0, h - _MIN_BAND), h)
        if out and y0 <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], y1))
        else:
            out.append((y0, y1))
    return out


class ImageRedactor:
    """Redacts frames; remembers the previous frame to re-read only what changed."""

    def __init__(self, timeout_s: float = 2.0, binary: str = "tesseract") -> None:
        self.timeout_s = timeout_s
        self.binary = binary
        self._prev: Image.Image | None = None
        self._boxes: list[Box] = []

    def redact(self, data: bytes, title: str = "", known: Sequence[str] = ()) -> ImageResult:
        """Redact one encoded image (PNG/JPEG/WebP); raises ``RedactionError`` (drop the frame) on failure."""
        try:
            img = Image.open(io.BytesIO(data))
            fmt = img.format or "PNG"
            rgb = img.convert("RGB")
        except Exception as exc:
            raise RedactionError(f"frame: cannot decode image ({exc})") from None
        gray = rgb.convert("L")
        bands = changed_bands(self._prev, gray)
        # A box is dropped only when the band re-read covers it whole; one cut by a band's edge may not be read again
        # (its text is split), so it stays blanked: too much blanked is the safe side.
        kept = [b for b in self._boxes if not any(y0 <= b.y and b.y + b.h <= y1 for y0, y1 in bands)]
        new = self._read(gray, bands, title, known) if bands else []
        boxes = kept + new
        self._prev, self._boxes = None, []  # fail closed: state only advances once the output exists
        draw = ImageDraw.Draw(rgb)
        for b in boxes:
            draw.rectangle((b.x, b.y, b.x + b.w - 1, b.y + b.h - 1), fill=(0, 0, 0))
        out = io.BytesIO()
        if fmt in ("JPEG", "WEBP"):
            rgb.save(out, format=fmt, quality=80)
        else:
            rgb.save(out, format="PNG")
        self._prev, self._boxes = gray, boxes
        return ImageResult(out.getvalue(), tuple(boxes), tuple(bands))

    def __call__(self, frame: FrameEvent, data: bytes, title: str, known: Sequence[str] = ()) -> bytes:
        """The ``KeyRedactor`` frame hook."""
        return self.redact(data, title, known).image

    def _read(self, gray: Image.Image, bands: list[tuple[int, int]], title: str, known: Sequence[str]) -> list[Box]:
        norm = normalise(gray)
        # Stack the changed bands into one image so one tesseract run reads them all.
        height = sum(y1 - y0 for y0, y1 in bands) + _GAP * (len(bands) - 1)
        stack = Image.new("L", (gray.width, height), 255)
        offsets: list[tuple[int, int, int]] = []  # (stack y0, stack y1, frame y0)
        y = 0
        for y0, y1 in bands:
            stack.paste(norm.crop((0, y0, gray.width, y1)), (0, y))
            offsets.append((y, y + y1 - y0, y0))
            y += y1 - y0 + _GAP
        words = tesseract_words(stack, self.timeout_s, self.binary)
        placed: list[Word] = []
        for w in words:
            for s0, s1, f0 in offsets:
                if s0 <= w.y < s1:
                    placed.append(Word(w.text, w.x, w.y - s0 + f0, w.w, w.h, w.line))
                    break
        return boxes_for(placed, title, known)


__all__ = ["Box", "ImageRedactor", "ImageResult", "boxes_for", "changed_bands"]
