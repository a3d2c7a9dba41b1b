"""End to end on a real display: keys typed with xdotool into an xterm, captured by X11Capture, through the privacy
gate with KeyRedactor and the image redactor. The canary e-mail (typed with a typo fixed by Backspace) must not
survive in any released key or in the frame showing it on screen."""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.models import Event, FrameEvent, KeyEvent
from workprint.privacy.gate import Item, PrivacyGate
from workprint.privacy.redact import KeyRedactor
from workprint.privacy.redact.image import ImageRedactor
from workprint.privacy.redact.ocr import normalise, tesseract_words

pytestmark = pytest.mark.x11


@pytest.fixture(scope="module")
def vd() -> Iterator[VirtualDisplay]:
    with VirtualDisplay(1280, 800) as display:
        # cat echoes every line; a scalable font so the OCR reads the screen like a person would
        proc = subprocess.Popen(
            ["xterm", "-T", "Write: mail", "-fa", "DejaVu Sans Mono", "-fs", "14", "-geometry", "100x30+0+0", "-e",
             "cat"],
            env=display.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        subprocess.run(
            ["xdotool", "search", "--sync", "--name", "Write: mail"], env=display.env, check=True, timeout=10
        )
        time.sleep(0.3)
        yield display
        proc.terminate()
        proc.wait()


def xdo(vd: VirtualDisplay, *args: str) -> None:
    subprocess.run(["xdotool", *args], env=vd.env, check=True, timeout=30)


def ocr(png: bytes) -> str:
    gray = Image.open(io.BytesIO(png)).convert("L")
    return " ".join(w.text for w in tesseract_words(normalise(gray), timeout_s=20))


def test_typed_canary_with_corrected_typo_leaves_neither_keys_nor_screen(vd: VirtualDisplay) -> None:
    gate = PrivacyGate(steps=[KeyRedactor(frame_redactor=ImageRedactor(timeout_s=20))])
    released: list[Item] = []
    raw: list[Item] = []

    def sink(event: Event, data: bytes | None) -> None:
        raw.append((event, data))
        released.extend(gate.admit(event, data))

    cap = X11Capture(vd.display, sink, AgentSettings(frame_format="png"))
    cap.start()
    try:
        time.sleep(0.3)
        xdo(vd, "type", "--delay", "30", "mail zoe.canar")
        xdo(vd, "key", "--delay", "30", "BackSpace", "BackSpace")
        xdo(vd, "type", "--delay", "30", "ary@example.org")
        xdo(vd, "key", "Return")
        time.sleep(0.4)
        xdo(vd, "mousemove", "300", "300", "click", "1")  # the frame before this click shows the whole address
        deadline = time.monotonic() + 15
        while not any(isinstance(e, KeyEvent) and e.keysym == "Redacted" for e, _ in released):
            assert time.monotonic() < deadline, "nothing was released"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        cap.stop()
    released.extend(gate.flush())

    typed_raw = "".join(e.text for e, _ in raw if isinstance(e, KeyEvent) and e.press)
    assert "zoe.canar" in typed_raw  # the capture really saw the value...
    keys = [e for e, _ in released if isinstance(e, KeyEvent)]
    texts = "".join(e.text for e in keys if e.press)
    assert texts.startswith("mail <EMAIL>\n")  # ...and nothing of it left the gate
    assert not any(part in e.text for e in keys for part in ("zoe", "canar", "example"))
    frames = [d for e, d in released if isinstance(e, FrameEvent) and d is not None]
    raw_frames = [d for e, d in raw if isinstance(e, FrameEvent) and d is not None]
    assert len(frames) == len(raw_frames) and gate.dropped == 0
    assert "example.org" in ocr(raw_frames[-1])  # the OCR reads the unredacted screen...
    last = ocr(frames[-1])
    assert "mail" in last and "canary" not in last and "example" not in last  # ...and not the redacted one
