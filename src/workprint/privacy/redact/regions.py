"""Which parts of a frame must be read again, and how far content moved since the last frame (pure, Pillow only).

OCR costs in proportion to the pixels it reads, and on a text-heavy screen most of a new frame was read before:

- ``vertical_shift`` finds a scroll: within the columns that changed, how many rows the content moved (the rows'
  mean levels matched coarsely, the best shift checked on the pixels). The previous frame and its words are moved
  by as much, so only the rows scrolled into view are new.
- ``changed_rects`` turns what still differs into rectangles to read: row bands around the change (padded and
  widened, as tesseract reads thin strips poorly), each narrowed to the columns that changed plus a margin of whole
  words, so one typed character costs a word's worth of OCR, not a screen's width.
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

__all__ = ["Rect", "changed_rects", "diff_mask", "shifted", "vertical_shift"]

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)

_LEVEL = 8  # grey levels of difference that count as a change (JPEG noise stays below)
_MOVED_LEVEL = 40  # the same after a 3x3 blur, between a shifted frame and the next
_STEP = 4  # rows per step of the coarse search for a scroll
_MIN_SHIFT_ROWS = 64  # a change shorter than this is no scroll worth finding


def diff_mask(prev: Image.Image, cur: Image.Image, *, moved: bool = False) -> Image.Image:
    """255 where the two grayscale frames differ, 0 elsewhere. ``moved``: ``prev`` was shifted to match ``cur``, so
    the same text sits at another offset in JPEG's 8x8 blocks and its compression ringing differs (up to ~20 grey
    levels at glyph edges): both are blurred over 3x3 pixels and only a larger difference counts. A changed glyph
    still differs by far more than that."""
    if moved:
        prev, cur = prev.filter(ImageFilter.BoxBlur(1)), cur.filter(ImageFilter.BoxBlur(1))
    level = _MOVED_LEVEL if moved else _LEVEL
    return ImageChops.difference(prev, cur).point(lambda v: 255 if v > level else 0)


def _profile(img: Image.Image, x0: int, x1: int, step: int) -> list[int]:
    """Mean grey level of every ``step`` rows within columns [x0, x1): compression noise averages out."""
    column = img.crop((x0, 0, x1, img.height)).resize((1, img.height // step), Image.Resampling.BOX)
    return [int(v) for v in column.tobytes()]


def _changed(prev: Image.Image, cur: Image.Image, box: Rect) -> int:
    """How many pixels of ``box`` differ, tolerant of compression noise at another offset."""
    hist = diff_mask(prev.crop(box), cur.crop(box), moved=True).histogram()
    return sum(hist[1:])


def _best(before: list[int], after: list[int], shifts: range, least: int) -> tuple[float, int]:
    """The shift (of ``shifts``) whose overlap of at least ``least`` rows differs least, mean absolute difference."""
    n = len(before)
    best: tuple[float, int] = (float("inf"), 0)
    for k in shifts:
        lo, hi = max(0, -k), min(n, n - k)
        if k == 0 or hi - lo < least:
            continue
        cost = sum(abs(before[y + k] - after[y]) for y in range(lo, hi)) / (hi - lo)
        if cost < best[0]:
            best = (cost, k)
    return best


def vertical_shift(prev: Image.Image, cur: Image.Image, box: Rect) -> int:
    """Rows the content within ``box``'s columns moved up (positive) or down (negative) from ``prev`` to ``cur``;
    0 when no shift explains the change (where the shifted rows overlap the new ones, at most a quarter of the pixels
    that differed may still differ: the edges of the scrolled area, a line that changed).

    Frames arrive compressed (JPEG), so the same text shifted by a few rows never has identical pixels: the shift is
    found on the rows' mean levels (compression noise averages out), coarsely then to the row, and checked once on
    the pixels.
    """
    x0, y0, x1, y1 = box
    h = prev.height
    if x1 - x0 < 32 or y1 - y0 < _MIN_SHIFT_ROWS:
        return 0
    before, after = _profile(prev, x0, x1, 1), _profile(cur, x0, x1, 1)
    if max(after) - min(after) < 16:
        return 0  # a blank region: any shift would "match"
    coarse_b, coarse_a = _profile(prev, x0, x1, _STEP), _profile(cur, x0, x1, _STEP)
    n = len(coarse_b)
    _, k = _best(coarse_b, coarse_a, range(-n + 1, n), max(8, n // 8))
    if k == 0:
        return 0
    _, k = _best(before, after, range(k * _STEP - _STEP + 1, k * _STEP + _STEP), max(32, h // 8))
    if k == 0:
        return 0
    overlap = (x0, max(0, -k), x1, min(h, h - k))
    moved = _changed(shifted(prev, (x0, 0, x1, h), k), cur, overlap)
    return k if moved * 4 <= _changed(prev, cur, overlap) else 0


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
