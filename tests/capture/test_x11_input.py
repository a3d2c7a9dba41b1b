"""X11Capture records real xdotool input on a private Xvfb: order, coordinates, keys, text and pre-action frames."""

from __future__ import annotations

import hashlib
import itertools
import random
import string
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from xrecorder import Recorder

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.models import ButtonEvent, Event, FrameEvent, KeyEvent, MotionEvent, ScrollEvent, is_action

pytestmark = pytest.mark.x11


@pytest.fixture(scope="module")
def cat_xterm(vd: VirtualDisplay) -> Iterator[subprocess.Popen[bytes]]:
    # An xterm running cat: keys and clicks land in a real window and change the screen, and nothing is executed.
    proc = subprocess.Popen(
        ["xterm", "-T", "input-sink", "-geometry", "150x50+0+0", "-e", "cat"],
        env=vd.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(["xdotool", "search", "--sync", "--name", "input-sink"], env=vd.env, check=True, timeout=10)
    yield proc
    proc.terminate()
    proc.wait()


def _presses(events: list[Event]) -> list[KeyEvent]:
    return [e for e in events if isinstance(e, KeyEvent) and e.press]


def test_scripted_clicks_scrolls_keys_and_drag_arrive_in_order_with_exact_coordinates(
    capture: tuple[X11Capture, Recorder], xdo: Callable[[str], None], cat_xterm: subprocess.Popen[bytes]
) -> None:
    _, rec = capture
    xdo("mousemove 100 120 click 1")
    xdo("mousemove 640 400 click 3 click 2")
    xdo("click 4 click 5 click 6 click 7")
    xdo("key ctrl+shift+a")
    xdo("mousemove 200 210 mousedown 1 mousemove 300 330 mouseup 1")
    xdo("key Return")
    events = rec.wait_for(
        lambda evs: any(isinstance(e, KeyEvent) and e.keysym == "Return" and not e.press for e in evs)
    )

    inputs = [e for e in rec.inputs() if not isinstance(e, KeyEvent) or e.press]
    summary = [
        (e.press, e.x, e.y, e.button)
        if isinstance(e, ButtonEvent)
        else (e.x, e.y, e.dx, e.dy)
        if isinstance(e, ScrollEvent)
        else (e.keysym, e.text, e.modifiers)
        for e in inputs
    ]
    assert summary == [
        (True, 100, 120, 1),
        (False, 100, 120, 1),
        (True, 640, 400, 3),
        (False, 640, 400, 3),
        (True, 640, 400, 2),
        (False, 640, 400, 2),
        (640, 400, 0, 1),
        (640, 400, 0, -1),
        (640, 400, -1, 0),
        (640, 400, 1, 0),
        ("Control_L", "", ()),
        ("Shift_L", "", ("ctrl",)),
        ("A", "", ("ctrl", "shift")),
        (True, 200, 210, 1),
        (False, 300, 330, 1),
        ("Return", "\n", ()),
    ]
    # The drag's path ends where the button was released, and is emitted before the release.
    release_at = events.index(next(e for e in events if isinstance(e, ButtonEvent) and not e.press and e.x == 300))
    motions = [e for e in events[:release_at] if isinstance(e, MotionEvent)]
    assert (motions[-1].x, motions[-1].y) == (300, 330)
    ts = [e.t_ns for e in inputs]
    assert ts == sorted(ts)


def test_every_action_but_keys_continuing_a_typing_run_is_preceded_by_its_frame_with_matching_hash(
    capture: tuple[X11Capture, Recorder], xdo: Callable[[str], None], cat_xterm: subprocess.Popen[bytes]
) -> None:
    _, rec = capture
    xdo("mousemove 50 60 click 1 type abc")
    xdo("key ctrl+a")
    xdo("click 5")
    rec.wait_for(lambda evs: sum(1 for e in evs if isinstance(e, ScrollEvent)) == 1)
    items = list(rec.items)
    framed, bare = [], []
    for i, (event, _) in enumerate(items):
        if is_action(event):
            frame, data = items[i - 1]
            if not isinstance(frame, FrameEvent):
                bare.append(event)
                continue
            framed.append(event)
            assert frame.action_t_ns == event.t_ns
            assert frame.t_ns < event.t_ns
            assert data is not None and hashlib.sha256(data).hexdigest() == frame.sha256
            assert data[:3] == b"\xff\xd8\xff"  # JPEG, as the fixture's settings ask
            assert (frame.width, frame.height) == (1280, 800)
        elif isinstance(event, FrameEvent):
            assert is_action(items[i + 1][0])
    # The click, the first key of the run, both keys of the chord and the scroll have frames; the run's later keys
    # (b, c) do not: the dataset reduces the run to one write whose frame is the one before its first key.
    assert [type(e).__name__ + ":" + getattr(e, "keysym", "") for e in framed] == [
        "ButtonEvent:", "KeyEvent:a", "KeyEvent:Control_L", "KeyEvent:a", "ScrollEvent:"
    ]  # fmt: skip
    assert [getattr(e, "keysym", "") for e in bare] == ["b", "c"]


def test_two_thousand_characters_typed_without_delay_are_all_recorded_and_reconstruct(
    capture: tuple[X11Capture, Recorder], vd: VirtualDisplay, cat_xterm: subprocess.Popen[bytes]
) -> None:
    _, rec = capture
    rng = random.Random()
    text = "".join(rng.choice(string.ascii_letters + string.digits + string.punctuation + " ") for _ in range(2000))
    subprocess.run(["xdotool", "type", "--delay", "0", text], env=vd.env, check=True, timeout=60)
    # Generous: on a loaded 2-core machine the frames before 2,000 echoed keys take a while to encode.
    events = rec.wait_for(lambda evs: sum(len(e.text) for e in _presses(evs)) >= 2000, timeout=120)
    assert "".join(e.text for e in _presses(events)) == text
    rec.wait_for(lambda evs: sum(1 for e in evs if isinstance(e, KeyEvent) and not e.press) == len(_presses(evs)))
    keys = [e for e in rec.events() if isinstance(e, KeyEvent)]
    down: dict[int, str] = {}
    for key in keys:
        if key.press:
            down[key.keycode] = key.keysym
        else:
            assert down.pop(key.keycode) == key.keysym  # a release carries its press's keysym
    assert down == {}


def test_stop_ends_delivery_and_joins_threads(vd: VirtualDisplay, xdo: Callable[[str], None]) -> None:
    from workprint.config import AgentSettings

    rec = Recorder()
    cap = X11Capture(vd.display, rec, AgentSettings())
    cap.start()
    xdo("mousemove 10 10 click 1")
    rec.wait_for(lambda evs: any(isinstance(e, ButtonEvent) and not e.press for e in evs))
    assert rec.threads <= {"workprint-x11-input", "workprint-x11-watch"}
    cap.stop()
    count = len(rec.items)
    xdo("click 1")
    names = {t.name for t in threading.enumerate()}
    assert not names & {"workprint-x11-input", "workprint-x11-watch"}
    assert len(rec.items) == count
    cap.stop()  # idempotent


def test_a_failing_sink_drops_that_event_and_capture_goes_on(vd: VirtualDisplay, xdo: Callable[[str], None]) -> None:
    from workprint.config import AgentSettings

    rec = Recorder()
    failed: list[Event] = []

    def sink(event: Event, data: bytes | None) -> None:
        if isinstance(event, ButtonEvent) and event.press and not failed:
            failed.append(event)
            raise RuntimeError("gate broke")
        rec(event, data)

    cap = X11Capture(vd.display, sink, AgentSettings())
    cap.start()
    try:
        xdo("mousemove 20 20 click 1 click 1")
        rec.wait_for(lambda evs: sum(1 for e in evs if isinstance(e, ButtonEvent) and not e.press) == 2)
        presses = [e for e in rec.events() if isinstance(e, ButtonEvent) and e.press]
        assert len(presses) == 1 and len(failed) == 1 and cap.stats["sink_errors"] == 1
    finally:
        cap.stop()


def test_losing_the_x_server_is_reported_and_stop_still_returns() -> None:
    from workprint.config import AgentSettings

    rec = Recorder()
    display = VirtualDisplay(320, 200, window_manager=False).start()
    cap = X11Capture(display.display, rec, AgentSettings())
    cap.start()
    assert cap.alive() and cap.error is None
    display.stop()
    deadline = time.monotonic() + 5
    while cap.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not cap.alive()
    assert cap.error is not None and cap.error.startswith("X11 capture ")
    cap.stop()


def test_characters_outside_the_layout_typed_through_remapped_keycodes_reconstruct(
    capture: tuple[X11Capture, Recorder], vd: VirtualDisplay, cat_xterm: subprocess.Popen[bytes]
) -> None:
    _, rec = capture
    text = "héllo wörld ñ € 日本 Größe ẞ"
    # xdotool remaps a spare keycode for each character outside the layout; at a short --delay on a loaded machine
    # its own remapping races the keys it sends (a CI run lost one character at 20 ms), so give each one more time.
    subprocess.run(["xdotool", "type", "--delay", "60", text], env=vd.env, check=True, timeout=30)
    events = rec.wait_for(lambda evs: sum(len(e.text) for e in _presses(evs)) >= len(text))
    assert "".join(e.text for e in _presses(events)) == text
    assert [e.keysym for e in _presses(events)][:2] == ["h", "eacute"]


def test_pointer_motion_is_coalesced_to_the_rate_cap_and_ends_at_the_last_position(
    capture: tuple[X11Capture, Recorder], xdo: Callable[[str], None]
) -> None:
    cap, rec = capture
    moves = " ".join(f"mousemove {100 + 3 * i} {200 + 2 * i} sleep 0.01" for i in range(60))
    xdo(moves + " click 1")
    events = rec.wait_for(lambda evs: any(isinstance(e, ButtonEvent) and not e.press for e in evs))
    press = next(i for i, e in enumerate(events) if isinstance(e, ButtonEvent))
    paths = [e for e in events[:press] if isinstance(e, MotionEvent)]
    points = [p for m in paths for p in m.path]
    assert points[-1][1:] == (100 + 3 * 59, 200 + 2 * 59)
    period = 1e9 / cap.settings.motion_hz
    for m in paths:
        samples = m.path[:-1]  # the last point is the exact end, kept even if closer than the period
        assert all(b[0] - a[0] >= period for a, b in itertools.pairwise(samples))
    assert len(points) < 60  # ~0.6+ s of motion at 20 Hz, not one point per event


def test_stop_called_from_inside_the_sink_ends_delivery_at_once(vd: VirtualDisplay, xdo: Callable[[str], None]) -> None:
    from workprint.config import AgentSettings

    rec = Recorder()
    holder: list[X11Capture] = []

    def sink(event: Event, data: bytes | None) -> None:
        rec(event, data)
        if isinstance(event, ButtonEvent) and event.press:
            holder[0].stop()  # e.g. the participant withdrew: the gate stops capture from within the callback

    cap = X11Capture(vd.display, sink, AgentSettings())
    holder.append(cap)
    cap.start()
    xdo("mousemove 30 30 click 1 click 1 key a")
    deadline = time.monotonic() + 5
    while cap.alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not cap.alive()
    assert isinstance(rec.events()[-1], ButtonEvent) and rec.events()[-1].press
    assert sum(1 for e in rec.events() if isinstance(e, ButtonEvent)) == 1
