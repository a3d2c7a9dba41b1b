"""Screenshot redaction on rendered 1280x800 frames, read back with the same OCR."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from workprint.errors import RedactionError
from workprint.privacy.redact.image import ImageRedactor, changed_bands
from workprint.privacy.redact.ocr import normalise, tesseract_words

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
EMAIL = "robert.miller@acme-corp.com"


def frame(dark: bool, extra: str = "") -> bytes:
    bg, fg = ((30, 30, 36), (220, 220, 220)) if dark else ((255, 255, 255), (20, 20, 20))
    img = Image.new("RGB", (1280, 800), bg)
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 14)
    d.rectangle((0, 0, 1280, 28), fill=(50, 50, 60) if dark else (225, 225, 230))
    d.text((10, 6), "Write: quarterly numbers - Thunderbird", fill=fg, font=font)
    d.text((40, 60), f"To: {EMAIL}", fill=fg, font=font)
    d.text((40, 86), "Meeting notes for the quarterly review", fill=fg, font=font)
    # a panel of the opposite theme: light-on-dark inside a light frame and the reverse
    d.rectangle((900, 40, 1270, 200), fill=(240, 240, 240) if dark else (40, 40, 48))
    d.text((910, 60), "card 4111 1111 1111 1111", fill=(10, 10, 10) if dark else (230, 230, 230), font=font)
    if extra:
        d.text((40, 400), extra, fill=fg, font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def ocr_text(png: bytes) -> str:
    gray = Image.open(io.BytesIO(png)).convert("L")
    return " ".join(w.text for w in tesseract_words(normalise(gray), timeout_s=20))


@pytest.mark.parametrize("dark", [True, False], ids=["dark", "light"])
def test_planted_values_are_unreadable_after_redaction(dark: bool) -> None:
    png = frame(dark)
    before = ocr_text(png)
    assert EMAIL in before and "4111" in before  # the OCR can read them, so the check below means something
    result = ImageRedactor(timeout_s=20).redact(png, title="Write: quarterly numbers")
    after = ocr_text(result.image)
    assert "acme-corp" not in after and "4111" not in after
    assert "quarterly review" in after  # ordinary text survives
    assert {b.type for b in result.boxes} >= {"EMAIL", "CARD"}


def test_only_changed_bands_are_read_again_and_old_boxes_are_kept() -> None:
    red = ImageRedactor(timeout_s=20)
    first = red.redact(frame(False))
    second = red.redact(frame(False, extra="reply to jane.doe@example.org"))
    assert first.bands == ((0, 800),)
    (band,) = second.bands
    assert 300 < band[0] < 400 < band[1] < 500 and band[1] - band[0] == 128  # one line, widened to 128 rows
    after = ocr_text(second.image)
    assert "jane.doe" not in after and "acme-corp" not in after
    assert red.redact(frame(False, extra="reply to jane.doe@example.org")).bands == ()


def test_changed_bands_of_identical_frames_is_empty() -> None:
    a = Image.new("L", (64, 800), 0)
    assert changed_bands(a, a.copy()) == []
    b = a.copy()
    b.putpixel((3, 400), 200)
    b.putpixel((3, 700), 200)
    # each change padded by 32 rows and widened to 128 rows; far-apart changes stay separate bands
    assert changed_bands(a, b) == [(337, 465), (637, 765)]
    b.putpixel((3, 40), 200)
    assert changed_bands(a, b)[0] == (0, 128)


def test_undecodable_or_failing_ocr_raises_so_the_frame_is_dropped() -> None:
    with pytest.raises(RedactionError, match="cannot decode"):
        ImageRedactor().redact(b"not an image")
    with pytest.raises(RedactionError, match=r"no eng\.traineddata in /nonexistent"):
        ImageRedactor(tessdata="/nonexistent").redact(frame(False))
    page = Image.new("RGB", (1280, 800), "white")
    for i in range(30):  # a page full of text: recognition takes far longer than a millisecond
        ImageDraw.Draw(page).text((10, 10 + 25 * i), "a long line of ordinary words " * 4, fill="black",
                                  font=ImageFont.truetype(FONT, 14))  # fmt: skip
    buf = io.BytesIO()
    page.save(buf, format="PNG")
    dense = buf.getvalue()
    with pytest.raises(RedactionError, match="timed out"):
        ImageRedactor(timeout_s=0.001).redact(dense)  # tesseract's own deadline: no partial read is used


def test_redact_image_command_writes_the_redacted_frame(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    src.write_bytes(frame(True))
    proc = subprocess.run(
        [sys.executable, "-c", "from workprint.cli.main import main; main()", "redact-image", str(src), str(dst),
         "--title", "Inbox"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "EMAIL" in proc.stdout
    assert "acme-corp" not in ocr_text(dst.read_bytes())



def _page(n: int, line: str) -> bytes:
    """A light page whose first line counts frames (always new) and whose line at y=400 is ``line``."""
    img = Image.new("RGB", (1280, 800), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 14)
    d.text((40, 100), f"frame number {n} of the session", fill="black", font=font)
    d.text((40, 400), line, fill="black", font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_a_screen_or_band_seen_before_costs_a_lookup_not_a_read() -> None:
    red = ImageRedactor(timeout_s=20)
    inbox, other = frame(False), frame(True)
    first = red.redact(inbox)
    red.redact(other)  # a window switch
    calls = red.ocr_calls
    back = red.redact(inbox)  # and back: the whole screen was read before
    assert red.ocr_calls == calls and back.bands == () and back.boxes == first.boxes
    mail, plain = "reply to jane.doe@example.org", "a harmless line of text"
    red.redact(_page(1, plain))
    red.redact(_page(2, mail))  # both lines change: two bands, read in one call
    red.redact(_page(3, plain))
    hits = red.cache_hits
    again = red.redact(_page(4, mail))  # the counter's band is new; the mail line's band was read at frame 2
    assert len(again.bands) == 2 and red.cache_hits == hits + 1
    assert "EMAIL" in {b.type for b in again.boxes} and "jane.doe" not in ocr_text(again.image)


def _terminal(first: int, extra: str = "", width: int = 1280, fmt: str = "PNG") -> bytes:
    """A dark terminal-like page of numbered lines starting at line ``first`` (one holds an address), 20 px apart."""
    img = Image.new("RGB", (width, 800), (20, 20, 24))
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 14)
    for row in range(38):
        n = first + row
        text = f"{n:04d} mail from robert.miller@acme-corp.com about the build" if n == 20 else f"{n:04d} ok step {n}"
        d.text((8, 6 + 20 * row), text, fill=(225, 225, 225), font=font)
    if extra:
        d.text((8, 6 + 20 * 38), extra, fill=(225, 225, 225), font=font)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **({"quality": 80} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])  # JPEG: the shifted text's compression noise differs everywhere
def test_a_scroll_moves_what_was_read_and_only_the_rows_scrolled_in_are_read(fmt: str) -> None:
    red = ImageRedactor(timeout_s=20)
    first = red.redact(_terminal(0, fmt=fmt))
    assert first.rects == ((0, 0, 1280, 800),) and "EMAIL" in {b.type for b in first.boxes}
    after = red.redact(_terminal(3, fmt=fmt))  # three lines scrolled up
    assert after.shift == 60
    read = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in after.rects)
    assert read <= 1280 * 800 // 4  # the lines scrolled in, not the screen
    email = [b for b in after.boxes if b.type == "EMAIL"]
    assert email and all(abs(b.y - (6 + 20 * 17)) <= 6 for b in email)  # the address moved up with its line
    assert "acme-corp" not in ocr_text(after.image)


def test_a_typed_character_reads_a_few_words_not_the_screen_width() -> None:
    red = ImageRedactor(timeout_s=20)
    red.redact(_terminal(0))
    typed = red.redact(_terminal(0, extra="$ echo jane.doe@example.org"))
    (x0, y0, x1, y1) = typed.rects[0]
    assert len(typed.rects) == 1 and x1 - x0 < 1280 // 2 and y1 - y0 == 128
    assert "jane.doe" not in ocr_text(typed.image) and "acme-corp" not in ocr_text(typed.image)


def test_a_whole_screen_is_read_in_pieces_within_the_deadline_and_a_stop_is_noticed_between_them() -> None:
    red = ImageRedactor(timeout_s=20)
    first = red.redact(_terminal(0))
    assert red.ocr_calls >= 3  # a 1280x800 screen: several engine calls, each a quarter screen at most
    assert sum(b.type == "EMAIL" for b in first.boxes) >= 1 and "acme-corp" not in ocr_text(first.image)
    words = red._last["PNG"][1]
    assert len({(w.text, w.x, w.y) for w in words}) == len(words)  # no word read twice where pieces overlap
    stopping = ImageRedactor(timeout_s=20, cancelled=lambda: True)
    with pytest.raises(RedactionError, match="redaction stopped"):
        stopping.redact(_terminal(0))


def test_a_frame_that_fails_keeps_the_last_good_state_so_the_next_reads_only_what_changed() -> None:
    red = ImageRedactor(timeout_s=20)
    red.redact(_terminal(0))
    with pytest.raises(RedactionError):
        red.redact(b"garbage")
    after = red.redact(_terminal(0, extra="$ ls"))
    assert after.rects and after.rects != ((0, 0, 1280, 800),)
