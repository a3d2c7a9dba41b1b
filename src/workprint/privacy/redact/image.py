"""Screenshot redaction: OCR, run the detectors with the window title as context, fill every matching word box.

``ImageRedactor`` does work in proportion to what changed on screen:

- it keeps the previous frame and its words: only horizontal bands that changed since it are OCR'd again (stacked
  into one image, one call of the engine it keeps loaded); words read earlier outside those bands are reused, and
  the detectors run over all of them, so a value that stays on screen stays filled;
- it remembers the words of recent bands by their pixels and of recent whole frames by theirs, so a band or a
  screen read before (a window switched back to, a cursor blinking between two states) costs a lookup.

Any failure raises ``RedactionError`` and the caller drops the frame.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from PIL import Image, ImageChops, ImageDraw

from workprint.errors import RedactionError, SegmentError
from workprint.imaging import open_frame
from workprint.models import FrameEvent
from workprint.privacy.redact.detectors import detect
from workprint.privacy.redact.ocr import TILE, OcrEngine, Word, normalise
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
    lines: dict[tuple[int, ...], list[Word]] = {}
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


class _Lru(OrderedDict[bytes, tuple[Word, ...]]):
    """A small map that forgets its least recently used entries beyond ``size``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_recent(self, key: bytes) -> tuple[Word, ...] | None:
        found = self.get(key)
        if found is not None:
            self.move_to_end(key)
        return found

    def put(self, key: bytes, value: tuple[Word, ...]) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def _digest(img: Image.Image) -> bytes:
    return hashlib.blake2b(img.tobytes(), digest_size=16, person=f"{img.width}x{img.height}".encode()[:16]).digest()


class ImageRedactor:
    """Redacts frames; remembers the previous frame and its words to re-read only what changed.

    ``engine`` is the OCR engine (loaded on first use and kept); ``cache`` the number of bands and of whole frames
    whose words are remembered. ``ocr_calls`` and ``cache_hits`` count engine calls and bands or frames looked up.
    """

    def __init__(
        self, timeout_s: float = 2.0, tessdata: str = "", *, engine: OcrEngine | None = None, cache: int = 128
    ) -> None:
        self.engine = engine or OcrEngine(tessdata, timeout_s)
        self._prev: Image.Image | None = None
        self._words: tuple[Word, ...] = ()
        self._bands = _Lru(cache)  # normalised band pixels -> words, y relative to the band
        self._frames = _Lru(max(1, cache // 8))  # whole grayscale frame -> its words
        self._placements = 0  # numbers each placement of read words, so lines of different reads never merge
        self.ocr_calls = 0
        self.cache_hits = 0

    def redact(self, data: bytes, title: str = "", known: Sequence[str] = ()) -> ImageResult:
        """Redact one encoded image (PNG/JPEG/WebP); raises ``RedactionError`` (drop the frame) on failure."""
        try:
            img = open_frame(data)
            fmt = img.format or "PNG"
            rgb = img.convert("RGB")
        except SegmentError as exc:  # unreadable, or more pixels than any screen
            raise RedactionError(str(exc)) from None
        except Exception as exc:
            raise RedactionError(f"frame: cannot decode image ({exc})") from None
        gray = rgb.convert("L")
        digest = _digest(gray)
        seen = self._frames.get_recent(digest)
        if seen is not None:
            self.cache_hits += 1
            bands: list[tuple[int, int]] = []
            words = seen
        else:
            bands = changed_bands(self._prev, gray)
            # A word is dropped only when a band re-read covers it whole; one cut by a band's edge may not be read
            # again (its text is split), so it stays: too much blanked is the safe side.
            kept = [w for w in self._words if not any(y0 <= w.y and w.y + w.h <= y1 for y0, y1 in bands)]
            words = (*kept, *self._read(gray, bands)) if bands else tuple(kept)
        boxes = boxes_for(list(words), title, known)
        self._prev, self._words = None, ()  # fail closed: state only advances once the output exists
        draw = ImageDraw.Draw(rgb)
        for b in boxes:
            draw.rectangle((b.x, b.y, b.x + b.w - 1, b.y + b.h - 1), fill=(0, 0, 0))
        out = io.BytesIO()
        if fmt in ("JPEG", "WEBP"):
            rgb.save(out, format=fmt, quality=80)
        else:
            rgb.save(out, format="PNG")
        self._prev, self._words = gray, words
        self._frames.put(digest, words)
        return ImageResult(out.getvalue(), tuple(boxes), tuple(bands))

    def __call__(self, frame: FrameEvent, data: bytes, title: str, known: Sequence[str] = ()) -> bytes:
        """The ``KeyRedactor`` frame hook."""
        return self.redact(data, title, known).image

    def _place(self, words: Sequence[Word], y0: int) -> list[Word]:
        self._placements += 1
        return [replace(w, y=w.y + y0, line=(self._placements, *w.line)) for w in words]

    def _read(self, gray: Image.Image, bands: list[tuple[int, int]]) -> list[Word]:
        norm = normalise(gray)
        placed: list[Word] = []
        todo: list[tuple[int, int, Image.Image, bytes]] = []
        for y0, y1 in bands:
            crop = norm.crop((0, y0, gray.width, y1))
            key = _digest(crop)
            hit = self._bands.get_recent(key)
            if hit is None:
                todo.append((y0, y1, crop, key))
            else:
                self.cache_hits += 1
                placed.extend(self._place(hit, y0))
        if not todo:
            return placed
        # Stack the bands not seen before into one image so one engine call reads them all.
        height = sum(y1 - y0 for y0, y1, _, _ in todo) + _GAP * (len(todo) - 1)
        stack = Image.new("L", (gray.width, height), 255)
        offsets: list[tuple[int, int]] = []  # (stack y0, stack y1) of each band
        y = 0
        for y0, y1, crop, _ in todo:
            stack.paste(crop, (0, y))
            offsets.append((y, y + y1 - y0))
            y += y1 - y0 + _GAP
        self.ocr_calls += 1
        found = self.engine.words(stack)
        for (s0, s1), (y0, _, _, key) in zip(offsets, todo, strict=True):
            mine = tuple(replace(w, y=w.y - s0) for w in found if s0 <= w.y < s1)
            self._bands.put(key, mine)
            placed.extend(self._place(mine, y0))
        return placed


__all__ = ["Box", "ImageRedactor", "ImageResult", "boxes_for", "changed_bands"]
