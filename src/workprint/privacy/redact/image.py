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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from PIL import Image, ImageDraw

from workprint.errors import RedactionError, SegmentError
from workprint.imaging import open_frame
from workprint.models import FrameEvent
from workprint.privacy.redact.detectors import detect
from workprint.privacy.redact.ocr import TILE, OcrEngine, Word, normalise
from workprint.privacy.redact.regions import Rect, changed_rects, diff_mask, shifted, vertical_shift
from workprint.privacy.redact.types import Context

_GAP = 24  # white rows between stacked bands, so tesseract never joins their lines
_PAD = 2
# Rows of context above and below a change: a glyph that changed may be the middle of a line, and tesseract reads a
# cropped line worse than one with a margin.
_BAND_PAD = 2 * TILE
_MIN_BAND = 8 * TILE
# Columns read either side of a change: whole words around a typed character (a label a little further off was read
# before and joins the same line, see ``text_lines``), and never a strip too narrow for tesseract's layout analysis.
_MARGIN = 10 * TILE
_MIN_WIDTH = 20 * TILE
# Reads are cut into pieces of at most this many rows (overlapping by a tall line of text), and an engine call reads
# at most about a quarter of a 1280x800 screen: each call ends well inside the OCR deadline even on a busy core.
_PIECE_ROWS = 16 * TILE
_OVERLAP = 3 * TILE
_CALL_PIXELS = 1280 * 16 * TILE


def _inside(w: Word, r: Rect) -> bool:
    return r[0] <= w.x and w.x + w.w <= r[2] and r[1] <= w.y and w.y + w.h <= r[3]


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
    """The redacted image bytes (input format), the boxes filled, the rectangles that were OCR'd (x0, y0, x1, y1),
    their row bands (y0, y1), and how many rows the content had scrolled since the previous frame."""

    image: bytes
    boxes: tuple[Box, ...]
    bands: tuple[tuple[int, int], ...]
    rects: tuple[Rect, ...] = ()
    shift: int = 0


def boxes_for(words: list[Word], title: str, known: Sequence[str] = ()) -> list[Box]:
    """Detect values in OCR'd words (lines joined by newlines) and return the boxes of every word they touch.

    ``known`` holds values the key redactor found in what was typed: a frame taken while the value was half typed
    shows only a prefix no detector recognises, so any word of 3+ characters inside a known value is filled too.
    """
    parts: list[str] = []
    where: list[tuple[int, int, Word]] = []
    pos = 0
    for line in text_lines(words):
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


def text_lines(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped into lines by where they are, not by which OCR pass read them: a word re-read after a change
    joins the words of its line read earlier (a label and the value typed after it stay on one line), while words
    far apart on one row (two windows side by side) stay separate lines. Lines top to bottom, words left to right."""
    rows: list[tuple[float, float, list[Word]]] = []  # (top, bottom, words) of each row, by vertical centre
    for w in sorted(words, key=lambda w: (w.y + w.h / 2, w.x)):
        centre = w.y + w.h / 2
        if rows and rows[-1][0] <= centre <= rows[-1][1]:
            rows[-1][2].append(w)
        else:
            rows.append((w.y - 2, w.y + w.h + 2, [w]))
    lines: list[list[Word]] = []
    for _, _, row in rows:
        row.sort(key=lambda w: w.x)
        gap = max(60, 4 * sorted(w.h for w in row)[len(row) // 2])
        line = [row[0]]
        for w in row[1:]:
            if w.x - (line[-1].x + line[-1].w) > gap:
                lines.append(line)
                line = []
            line.append(w)
        lines.append(line)
    return lines


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
    if prev is None or prev.size != cur.size:
        return [(0, cur.height)]
    rects = changed_rects(diff_mask(prev, cur), pad=_BAND_PAD, min_band=_MIN_BAND, margin=0, min_width=1)
    return [(y0, y1) for _, y0, _, y1 in rects]


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
        self,
        timeout_s: float = 2.0,
        tessdata: str = "",
        *,
        engine: OcrEngine | None = None,
        cache: int = 128,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.engine = engine or OcrEngine(tessdata, timeout_s)
        self.cancelled = cancelled  # asked between engine calls: a stop need not wait for a whole screen's OCR
        # The last frame redacted and its words, per image format: frames of another format (the agent moves between
        # JPEG and WebP with its load) differ everywhere in compression noise, so each is compared with its own kind.
        self._last: dict[str, tuple[Image.Image, tuple[Word, ...]]] = {}
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
        rects: list[Rect] = []
        shift = 0
        if seen is not None:
            self.cache_hits += 1
            words = seen
        else:
            rects, kept, shift = self._plan(gray, self._last.get(fmt))
            words = (*kept, *self._read(gray, rects)) if rects else tuple(kept)
        boxes = boxes_for(list(words), title, known)
        # Fail closed: state advances only once the output exists. A frame that fails is dropped by the caller and
        # the next one is compared with the last frame redacted (whose words are right for it), not read whole again.
        draw = ImageDraw.Draw(rgb)
        for b in boxes:
            draw.rectangle((b.x, b.y, b.x + b.w - 1, b.y + b.h - 1), fill=(0, 0, 0))
        out = io.BytesIO()
        if fmt in ("JPEG", "WEBP"):
            rgb.save(out, format=fmt, quality=80)
        else:
            rgb.save(out, format="PNG")
        self._last[fmt] = (gray, words)
        self._frames.put(digest, words)
        bands = tuple(sorted({(r[1], r[3]) for r in rects}))
        return ImageResult(out.getvalue(), tuple(boxes), bands, tuple(rects), shift)

    def _plan(
        self, gray: Image.Image, last: tuple[Image.Image, tuple[Word, ...]] | None
    ) -> tuple[list[Rect], list[Word], int]:
        """What to read of ``gray``, the previous words still valid (moved with a scroll), and the scroll."""
        w, h = gray.size
        if last is None or last[0].size != gray.size:
            return [(0, 0, w, h)], [], 0
        prev, words = last[0], list(last[1])
        mask = diff_mask(prev, gray)
        box = mask.getbbox()
        if box is None:
            return [], words, 0
        shift = vertical_shift(prev, gray, box)
        if shift:  # a scroll: what was read moves with it; only what scrolled into view is new
            prev = shifted(prev, box, shift)
            mask = diff_mask(prev, gray, moved=True)
            x0, _, x1, _ = box
            words = [replace(t, y=t.y - shift) if x0 <= t.x and t.x + t.w <= x1 else t for t in words]
            words = [t for t in words if t.y >= 0 and t.y + t.h <= h]
        rects = changed_rects(mask, pad=_BAND_PAD, min_band=_MIN_BAND, margin=_MARGIN, min_width=_MIN_WIDTH)
        # A word is dropped only when a rectangle re-read covers it whole; one cut by an edge may not be read again
        # (its text is split), so it stays: too much blanked is the safe side.
        kept = [t for t in words if not any(_inside(t, r) for r in rects)]
        return rects, kept, shift

    def __call__(self, frame: FrameEvent, data: bytes, title: str, known: Sequence[str] = ()) -> bytes:
        """The ``KeyRedactor`` frame hook."""
        return self.redact(data, title, known).image

    def _place(self, words: Sequence[Word], r: Rect) -> list[Word]:
        self._placements += 1
        return [replace(w, x=w.x + r[0], y=w.y + r[1], line=(self._placements, *w.line)) for w in words]

    def _read(self, gray: Image.Image, rects: list[Rect]) -> list[Word]:
        norm = normalise(gray)
        placed: list[Word] = []
        todo: list[tuple[Rect, Image.Image, bytes, tuple[int, int]]] = []
        for r in rects:
            for piece, own in _pieces(r):
                crop = norm.crop(piece)
                key = _digest(crop)
                hit = self._bands.get_recent(key)
                if hit is None:
                    todo.append((piece, crop, key, own))
                else:
                    self.cache_hits += 1
                    placed.extend(self._place(_owned(hit, piece, own), piece))
        # Pieces not seen before, stacked a call's worth at a time: each engine call stays well inside its deadline
        # (a whole dense screen in one call can take seconds), and a stop is noticed between calls.
        call: list[tuple[Rect, Image.Image, bytes, tuple[int, int]]] = []
        for item in todo:
            if call and sum(c.width * c.height for _, c, _, _ in call) + item[1].width * item[1].height > _CALL_PIXELS:
                placed.extend(self._read_call(call))
                call = []
            call.append(item)
        if call:
            placed.extend(self._read_call(call))
        return placed

    def _read_call(self, call: list[tuple[Rect, Image.Image, bytes, tuple[int, int]]]) -> list[Word]:
        if self.cancelled():
            raise RedactionError("frame: redaction stopped (the agent is stopping)")
        height = sum(c.height for _, c, _, _ in call) + _GAP * (len(call) - 1)
        stack = Image.new("L", (max(c.width for _, c, _, _ in call), height), 255)
        offsets: list[tuple[int, int]] = []  # (stack y0, stack y1) of each piece
        y = 0
        for _, crop, _, _ in call:
            stack.paste(crop, (0, y))
            offsets.append((y, y + crop.height))
            y += crop.height + _GAP
        self.ocr_calls += 1
        found = self.engine.words(stack)
        placed: list[Word] = []
        for (s0, s1), (piece, _, key, own) in zip(offsets, call, strict=True):
            mine = tuple(replace(w, y=w.y - s0) for w in found if s0 <= w.y < s1)
            self._bands.put(key, mine)
            placed.extend(self._place(_owned(mine, piece, own), piece))
        return placed


def _pieces(r: Rect) -> list[tuple[Rect, tuple[int, int]]]:
    """``r`` cut into pieces at most ``_PIECE_ROWS`` tall that overlap by ``_OVERLAP`` rows, each with the rows it
    owns (relative to it): a word belongs to the piece that owns its centre, so one cut by an edge is read whole by
    its neighbour and no word is counted twice."""
    x0, y0, x1, y1 = r
    if y1 - y0 <= _PIECE_ROWS:
        return [(r, (0, y1 - y0))]
    out: list[tuple[Rect, tuple[int, int]]] = []
    top = y0
    while True:
        bottom = min(y1, top + _PIECE_ROWS)
        own_from = 0 if top == y0 else _OVERLAP // 2
        own_to = bottom - top if bottom == y1 else bottom - top - _OVERLAP // 2
        out.append(((x0, top, x1, bottom), (own_from, own_to)))
        if bottom == y1:
            return out
        top = bottom - _OVERLAP


def _owned(words: Sequence[Word], piece: Rect, own: tuple[int, int]) -> tuple[Word, ...]:
    lo, hi = own
    if lo == 0 and hi == piece[3] - piece[1]:
        return tuple(words)
    return tuple(w for w in words if lo <= w.y + w.h // 2 < hi)


__all__ = ["Box", "ImageRedactor", "ImageResult", "boxes_for", "changed_bands"]
