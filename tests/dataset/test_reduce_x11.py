"""Real input from xdotool, recorded by X11Capture on a private Xvfb, reduces to the actions a person would name."""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.dataset.reduce import reduce_events
from workprint.models import Event, FrameEvent, KeyEvent, WindowEvent

pytestmark = pytest.mark.x11


class Sink:
    """Keeps events and frame bytes; signals when the closing key (F12) is released."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.frames: dict[str, bytes] = {}
        self.done = threading.Event()

    def __call__(self, event: Event, data: bytes | None) -> None:
        self.events.append(event)
        if isinstance(event, FrameEvent) and data is not None:
            self.frames[event.frame_id] = data
        if isinstance(event, KeyEvent) and event.keysym == "F12" and not event.press:
            self.done.set()


@pytest.fixture(scope="module")
def vd() -> Iterator[VirtualDisplay]:
    with VirtualDisplay(1280, 800) as display:
        proc = subprocess.Popen(
            ["xterm", "-T", "reduce-sink", "-geometry", "150x50+0+0", "-e", "cat"],
            env=display.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            subprocess.run(["xdotool", "search", "--sync", "--name", "reduce-sink"], env=display.env, check=True)
            yield display
        finally:
            proc.terminate()
            proc.wait()


def test_recorded_session_reduces_to_clicks_text_hotkeys_drag_and_scroll_with_their_frames(vd: VirtualDisplay) -> None:
    sink = Sink()
    capture = X11Capture(vd.display, sink, AgentSettings(frame_format="jpeg"))
    capture.start()
    try:
        # Focus first and wait until capture reports it, so a loaded machine cannot deliver the first click before
        # the window context it happened in.
        subprocess.run(["xdotool", "search", "--name", "reduce-sink", "windowfocus", "--sync"], env=vd.env, check=True,
                       timeout=30)  # fmt: skip
        deadline = time.monotonic() + 10
        while not any(isinstance(e, WindowEvent) and e.app for e in list(sink.events)):
            assert time.monotonic() < deadline, "capture never reported the focused window"
            time.sleep(0.02)
        for script in (
            "mousemove 640 400 click 1",
            "type --delay 20 'Hello, World'",
            "key BackSpace",
            "key ctrl+shift+t",
            "key Return",
            "mousemove 320 200 click --repeat 2 --delay 80 1",
            "mousemove 100 100 mousedown 1 mousemove 200 150 mousemove 300 200 mouseup 1",
            "mousemove 700 500 click 5 click 5 click 5",
            "mousemove 900 700",
            "sleep 0.3 key F12",
        ):
            subprocess.run(["xdotool", *shlex.split(script)], env=vd.env, check=True, timeout=30)
        assert sink.done.wait(10), "the closing F12 never arrived"
    finally:
        capture.stop()

    actions = reduce_events(sink.events)
    assert [a.to_pyautogui() for a in actions] == [
        "pyautogui.click(x=0.5, y=0.5)",
        "pyautogui.write(message='Hello, Worl')",
        "pyautogui.hotkey('ctrl', 'shift', 't')",
        "pyautogui.press('enter')",
        "pyautogui.doubleClick(x=0.25, y=0.25)",
        "pyautogui.moveTo(x=0.0781, y=0.125)\npyautogui.dragTo(x=0.2344, y=0.25, button='left')",
        "pyautogui.moveTo(x=0.5469, y=0.625)\npyautogui.scroll(-3)",
        "pyautogui.press('f12')",
        # The trailing move to (900, 700) came before F12, so it was folded away; only motion left at the end moves.
    ]
    assert all(a.app for a in actions)
    # Every action's pre-action frame was captured and its bytes travelled with it.
    assert all(a.frame_id in sink.frames for a in actions)
