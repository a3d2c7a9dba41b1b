"""A pre-action frame shows the screen as it was before the action, not after it."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from PIL import Image
from xrecorder import Recorder

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.models import ButtonEvent, FrameEvent

pytestmark = pytest.mark.x11

# A borderless Tk window at a fixed place that turns from red to blue (and back) on every click.
TOGGLE = """
import tkinter as tk
root = tk.Tk()
root.overrideredirect(True)
root.geometry("400x300+100+100")
colours = ["#ff0000", "#0000ff"]
frame = tk.Frame(root, bg=colours[0], width=400, height=300)
frame.pack()
def toggle(_event):
    colours.reverse()
    frame.configure(bg=colours[0])
frame.bind("<Button-1>", toggle)
root.after(200, lambda: print("ready", flush=True))
root.mainloop()
"""
RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture
def toggler(vd: VirtualDisplay) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-c", TOGGLE], env=vd.env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield
    proc.terminate()
    proc.wait()


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel[:3], colour, strict=True))


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_the_frame_before_each_click_shows_the_colour_before_that_click(
    vd: VirtualDisplay, xdo: Callable[[str], None], toggler: None, fmt: str
) -> None:
    rec = Recorder()
    cap = X11Capture(vd.display, rec, AgentSettings(frame_format=fmt))
    cap.start()
    try:
        xdo("mousemove 300 250")
        expected = [RED, BLUE, RED, BLUE]
        for n in range(1, len(expected) + 1):
            xdo("click 1")
            rec.wait_for(lambda evs, n=n: sum(1 for e in evs if isinstance(e, ButtonEvent) and not e.press) == n)
            time.sleep(0.2)  # let the new colour be painted and grabbed before the next click
        items = list(rec.items)
    finally:
        cap.stop()
    seen = []
    for i, (event, _) in enumerate(items):
        if isinstance(event, ButtonEvent) and event.press:
            frame, data = items[i - 1]
            assert isinstance(frame, FrameEvent) and data is not None and frame.format == fmt
            image = Image.open(io.BytesIO(data))
            assert image.format == fmt.upper()
            seen.append(image.convert("RGB").getpixel((event.x, event.y)))
    assert len(seen) == len(expected)
    assert all(_near(p, c) for p, c in zip(seen, expected, strict=True)), seen
