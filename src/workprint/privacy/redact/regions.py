"""Which parts of a frame must be read again, and how far content moved since the last frame (pure, Pillow only).

OCR costs in proportion to the pixels it reads, and on a text-heavy screen most of a new frame was read before:

- ``vertical_shift`` finds a scroll: within the columns that changed, how many rows the content moved, by voting
  over rows whose pixels are unique in the previous frame. The previous frame and its words are moved by as much, so
  only the rows scrolled into view are new.
- ``changed_rects`` turns what still differs into rectangles to read: row bands around the change (padded and
  widened, as tesseract reads thin strips poorly), each narrowed to the columns that changed plus a margin of whole
  words, so one typed character costs a word's worth of OCR, not a screen's width.
"""

from __future__ import annotations

from collections import Counter

from PIL import Image, ImageChops

__all__ = ["Rect", "changed_rects", "diff_mask", "shifted", "vertical_shift"]

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

_LEVEL = 8  # grey levels of difference that count as a change (JPEG noise stays below)
_MIN_VOTES = 24  # rows that must agree on a shift (about two lines of text)
_MAX_SHIFT = 2000


def diff_mask(prev: Image.Image, cur: Image.Image) -> Image.Image:
    """255 where the two grayscale frames differ, 0 elsewhere."""
    return ImageChops.difference(prev, cur).point(lambda v: 255 if v > _LEVEL else 0)


def _rows(img: Image.Image, x0: int, x1: int) -> list[int]:
    data = img.crop((x0, 0, x1, img.height)).tobytes()
    w = x1 - x0
    return [hash(data[i : i + w]) for i in range(0, len(data), w)]


def vertical_shift(prev: Image.Image, cur: Image.Image, box: Rect) -> int:
    """Rows the content within ``box``'s columns moved up (positive) or down (negative) from ``prev`` to ``cur``;
    0 when no shift is clear (fewer than ``_MIN_VOTES`` unique rows agree)."""
    x0, _, x1, _ = box
    if x1 - x0 < 16:
        return 0
    before, after = _rows(prev, x0, x1), _rows(cur, x0, x1)
    counts = Counter(before)
    unique = {h: y for y, h in enumerate(before) if counts[h] == 1}  # blank and repeated rows say nothing
    votes: Counter[int] = Counter()
    for y, h in enumerate(after):
        src = unique.get(h)
        if src is not None and src != y:
            votes[src - y] += 1
    if not votes:
        return 0
    shift, n = votes.most_common(1)[0]
    return shift if n >= _MIN_VOTES and abs(shift) <= _MAX_SHIFT else 0


def shifted(prev: Image.Image, box: Rect, shift: int) -> Image.Image:
    """``prev`` with the columns of ``box`` moved up by ``shift`` rows (down when negative); what scrolled in is
    left as it was, so it shows as changed."""
    x0, _, x1, _ = box
    h = prev.height
    out = prev.copy()
    if shift > 0:
        out.paste(prev.crop((x0, shift, x1, h)), (x0, 0))
    elif shift < 0:
        out.paste(prev.crop((x0, 0, x1, h + shift)), (x0, -shift))
    return out


def changed_rects(
    mask: Image.Image, *, pad: int, min_band: int, margin: int, min_width: int
) -> list[Rect]:
    """Rectangles covering every changed pixel of ``mask``: bands of rows (padded by ``pad``, at least
    ``min_band`` tall, merged when they touch), each narrowed to its changed columns plus ``margin`` on both sides
    (at least ``min_width`` wide)."""
    w, h = mask.size
    rows = mask.getprojection()[1]
    ys = [y for y, hit in enumerate(rows) if hit]
    if not ys:
        return []
    bands: list[tuple[int, int]] = []
    start = prev_y = ys[0]
    for y in ys[1:]:
        if y - prev_y > 2 * pad:
            bands.append((max(0, start - pad), min(h, prev_y + 1 + pad)))
            start = y
        prev_y = y
    bands.append((max(0, start - pad), min(h, prev_y + 1 + pad)))
    widened: list[tuple[int, int]] = []
    for y0, y1 in bands:
        grow = max(0, min_band - (y1 - y0))
        y0, y1 = max(0, y0 - grow // 2), min(h, y1 + grow - grow // 2)
        if y1 - y0 < min_band:
            y0, y1 = (0, min(h, min_band)) if y0 == 0 else (max(0, h - min_band), h)
        if widened and y0 <= widened[-1][1]:
            widened[-1] = (widened[-1][0], max(widened[-1][1], y1))
        else:
            widened.append((y0, y1))
    rects: list[Rect] = []
    for y0, y1 in widened:
        box = mask.crop((0, y0, w, y1)).getbbox()
        if box is None:
            continue
        x0, x1 = max(0, box[0] - margin), min(w, box[2] + margin)
        if x1 - x0 < min_width:
            grow = min_width - (x1 - x0)
            x0 = max(0, x0 - grow // 2)
            x1 = min(w, x0 + min_width)
            x0 = max(0, x1 - min_width)
        rects.append((x0, y0, x1, y1))
    return rects
