"""A pre-action frame shows the screen as it was before the action, not after it."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from typing import Any

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


def _start_toggler(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", TOGGLE], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel[:3], colour, strict=True))


def _colours_before_clicks(display: str, env: dict[str, str], settings: AgentSettings, clicks: int) -> list[Any]:
    """Click the toggler ``clicks`` times; return the pixel under the pointer in each click's pre-action frame."""
    rec = Recorder()
    cap = X11Capture(display, rec, settings)
    cap.start()
    try:
        subprocess.run(["xdotool", "mousemove", "300", "250"], env=env, check=True)
        for n in range(1, clicks + 1):
            subprocess.run(["xdotool", "click", "1"], env=env, check=True)
            rec.wait_for(lambda evs, n=n: sum(1 for e in evs if isinstance(e, ButtonEvent) and not e.press) == n)
            time.sleep(0.3)  # let the new colour be painted and grabbed before the next click
        items = list(rec.items)
    finally:
        cap.stop()
    seen = []
    for i, (event, _) in enumerate(items):
        if isinstance(event, ButtonEvent) and event.press:
            frame, data = items[i - 1]
            assert isinstance(frame, FrameEvent) and data is not None and frame.format == settings.frame_format
            image = Image.open(io.BytesIO(data))
            assert image.format == settings.frame_format.upper()
            seen.append(image.convert("RGB").getpixel((event.x, event.y)))
    return seen


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_the_frame_before_each_click_shows_the_colour_before_that_click(vd: VirtualDisplay, fmt: str) -> None:
    proc = _start_toggler(vd.env)
    try:
        seen = _colours_before_clicks(vd.display, vd.env, AgentSettings(frame_format=fmt), 4)
    finally:
        proc.terminate()
        proc.wait()
    expected = [RED, BLUE, RED, BLUE]
    assert len(seen) == len(expected)
    assert all(_near(p, c) for p, c in zip(seen, expected, strict=True)), seen


def test_without_damage_the_screen_is_polled_and_frames_still_precede_their_click() -> None:
    no_damage = VirtualDisplay(640, 480, window_manager=False, extra_args=("-extension", "DAMAGE"))
    with no_damage as display:
        proc = _start_toggler(display.env)
        try:
            settings = AgentSettings(frame_format="jpeg", frame_interval_s=0.1)
            seen = _colours_before_clicks(display.display, display.env, settings, 3)
        finally:
            proc.terminate()
            proc.wait()
    assert len(seen) == 3
    assert all(_near(p, c) for p, c in zip(seen, [RED, BLUE, RED], strict=True)), seen
