"""OCR of screen regions with tesseract (Debian ``tesseract-ocr``), run as a local subprocess.

Chosen by measurement on rendered 1280x800 frames (bench/redaction.py --frames): tesseract 5.3 on a normalised image
reads every planted value in ≈ 0.2 s on one core, with word boxes; rapidocr-onnxruntime took 1.6-2.7 s, missed a
whole line and returns line boxes only. Tesseract misreads light-on-dark text, so ``normalise`` inverts every
16x16 tile whose background is dark before OCR: dark themes, dark panels in light themes and the reverse all become
dark-on-light.
"""

from __future__ import annotations

import io
import os
import subprocess
from dataclasses import dataclass

from PIL import Image, ImageChops

from workprint.errors import RedactionError

TILE = 16
_DARK = 110  # tile mean below this: a dark background


@dataclass(frozen=True, slots=True)
class Word:
    """One OCR'd word and its box in image pixels; ``line`` groups the words of one text line."""

    text: str
    x: int
    y: int
    w: int
    h: int
    line: tuple[int, int, int]


def normalise(gray: Image.Image) -> Image.Image:
    """Dark-on-light everywhere: invert each tile whose mean level is dark (a grayscale "L" image in and out)."""
    w, h = gray.size
    # Tile means (Pillow's reduce averages; text is sparse enough that the mean is the background's side).
    means = gray.reduce(TILE)
    mask = means.point(lambda v: 255 if v < _DARK else 0).resize((means.width * TILE, means.height * TILE))
    return Image.composite(ImageChops.invert(gray), gray, mask.crop((0, 0, w, h)))


def tesseract_words(gray: Image.Image, timeout_s: float = 2.0, binary: str = "tesseract") -> list[Word]:
    """OCR a (normalised) grayscale image; raises ``RedactionError`` on failure or timeout."""
    buf = io.BytesIO()
    gray.save(buf, format="PNG", compress_level=1)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        proc = subprocess.run(
            [binary, "stdin", "stdout", "--psm", "11", "-l", "eng", "tsv"],
            input=buf.getvalue(),
            capture_output=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RedactionError(f"frame: OCR timed out after {timeout_s} s") from None
    except OSError as exc:
        raise RedactionError(f"frame: cannot run {binary!r} ({exc.strerror})") from None
    if proc.returncode != 0:
        raise RedactionError(f"frame: OCR failed ({proc.stderr.decode(errors='replace').strip()[:200]})")
    return parse_tsv(proc.stdout.decode("utf-8", errors="replace"))


def parse_tsv(tsv: str) -> list[Word]:
    """Words of tesseract's TSV output (level 5 rows with text)."""
    words: list[Word] = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        block, par, line = int(cols[2]), int(cols[3]), int(cols[4])
        x, y, w, h = (int(c) for c in cols[6:10])
        words.append(Word(cols[11].strip(), x, y, w, h, (block, par, line)))
    return words
