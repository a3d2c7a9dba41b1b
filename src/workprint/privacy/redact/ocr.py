"""OCR of screen regions with tesseract: in process through its C API (``OcrEngine``, PyPI ``tesserocr``, the engine
the agent keeps loaded), or as a ``tesseract`` subprocess (``tesseract_words``: what tests and benchmarks use as an
independent reader of redacted frames). Both read Debian's ``tesseract-ocr`` language data.

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
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    line: tuple[int, ...]


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


# Where Debian (and most distributions) put tesseract's language data; ``TESSDATA_PREFIX`` is tesseract's own variable.
_TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
)


def find_tessdata(explicit: str = "") -> str:
    """The directory holding ``eng.traineddata``: ``explicit``, ``$TESSDATA_PREFIX`` or a distribution's default."""
    candidates = (explicit,) if explicit else (os.environ.get("TESSDATA_PREFIX", ""), *_TESSDATA_DIRS)
    for d in candidates:
        if d and (Path(d) / "eng.traineddata").is_file():
            return d.rstrip("/") + "/"
    where = explicit or "TESSDATA_PREFIX or " + ", ".join(_TESSDATA_DIRS)
    raise RedactionError(f"ocr: no eng.traineddata in {where} (install tesseract-ocr-eng)")


class OcrEngine:
    """One tesseract engine loaded once and kept (its C API through ``tesserocr``): no process or model load per
    call. Not shared between threads: each redactor owns one. ``words`` raises ``RedactionError`` on failure or when
    recognition runs past ``timeout_s`` (tesseract's own deadline)."""

    def __init__(self, tessdata: str = "", timeout_s: float = 2.0) -> None:
        self.tessdata = tessdata
        self.timeout_s = timeout_s
        self._api: Any = None
        self._owner: int | None = None

    def _engine(self) -> Any:
        if self._api is None:
            os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one core: the participant's work comes first
            try:
                import tesserocr
            except ImportError as exc:
                raise RedactionError(f"ocr: tesserocr is not installed ({exc})") from None
            path = find_tessdata(self.tessdata)
            try:
                self._api = tesserocr.PyTessBaseAPI(path=path, lang="eng", psm=tesserocr.PSM.SPARSE_TEXT)
            except RuntimeError as exc:
                raise RedactionError(f"ocr: cannot start tesseract with {path} ({exc})") from None
            self._owner = threading.get_ident()
        elif self._owner != threading.get_ident():
            raise RedactionError("ocr: an OcrEngine is used from one thread only")
        return self._api

    def words(self, gray: Image.Image) -> list[Word]:
        """OCR a (normalised) grayscale image."""
        api = self._engine()
        api.SetImage(gray)
        if not api.Recognize(timeout=max(1, int(self.timeout_s * 1000))):
            api.Clear()
            raise RedactionError(f"frame: OCR timed out after {self.timeout_s} s")
        tsv = api.GetTSVText(0)
        api.Clear()
        return parse_tsv("level\n" + tsv)  # the C API's TSV has no header row

    def close(self) -> None:
        """Free the engine (it is loaded again on next use)."""
        if self._api is not None:
            self._api.End()
            self._api = None
