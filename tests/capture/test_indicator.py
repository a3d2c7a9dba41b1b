"""The recording indicator on a real Xvfb + openbox: mapped, kept on top, shows the state, click toggles pause."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mss
import pytest

from workprint.capture.indicator import COLORS, DEFAULT_HOTKEY, Indicator, parse_hotkey
from workprint.capture.xvfb import VirtualDisplay
from workprint.errors import CaptureError, ConfigError
from workprint.privacy.state import load_state, record_consent, toggle_pause
from workprint.privacy.watcher import StateWatcher, recording_status

W, H = 800, 600


@pytest.fixture(scope="module")
def screen() -> Iterator[VirtualDisplay]:
    with VirtualDisplay(W, H) as display:
        yield display


def xprop(vd: VirtualDisplay, *args: str) -> str:
    return subprocess.run(["xprop", *args], env=vd.env, capture_output=True, text=True, timeout=10).stdout


def wait_until(pred: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def pixel(vd: VirtualDisplay, x: int, y: int) -> tuple[int, int, int]:
    with mss.MSS(display=vd.display) as m:
        px = m.grab({"left": x, "top": y, "width": 1, "height": 1}).pixel(0, 0)
    return (int(px[0]), int(px[1]), int(px[2]))


def near(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return all(abs(x - y) <= 8 for x, y in zip(a, b, strict=True))


def label(vd: VirtualDisplay, wid: int) -> str:
    out = xprop(vd, "-id", hex(wid), "_NET_WM_NAME")
    return out.split("=", 1)[1].strip().strip('"') if "=" in out else ""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    record_consent(tmp_path, "grant", ("keys", "mouse"), time.time_ns())
    return tmp_path


@pytest.fixture
def running(screen: VirtualDisplay, home: Path) -> Iterator[Indicator]:
    watcher = StateWatcher(home, interval=0.02).start()
    ind = Indicator(
        screen.display,
        status=lambda: recording_status(watcher.snapshot, False),
        on_click=lambda: toggle_pause(home, time.time_ns()),
        hotkey=DEFAULT_HOTKEY,
    ).start()
    yield ind
    ind.stop()
    watcher.stop()


@pytest.fixture
def xterm(screen: VirtualDisplay) -> Iterator[int]:
    # A full-screen window mapped after the indicator: it gets focus and would cover the indicator if it could.
    proc = subprocess.Popen(["xterm", "-bg", "white", "-geometry", "200x80+0+0"], env=screen.env)
    wid = 0

    def active() -> bool:
        nonlocal wid
        out = xprop(screen, "-root", "_NET_ACTIVE_WINDOW")
        wid = int(out.rsplit("#", 1)[1].split(",")[0], 16) if "#" in out else 0
        return wid not in (0,) and "XTerm" in xprop(screen, "-id", hex(wid), "WM_CLASS")

    assert wait_until(active, 10.0), "xterm never got focus"
    yield wid
    proc.terminate()
    proc.wait(timeout=5)


def mark_xy(ind: Indicator) -> tuple[int, int]:
    w, h = ind.size
    return W - ind.margin - w + 4 + (h - 8) // 2, ind.margin + h // 2


def test_indicator_is_mapped_and_stays_above_a_later_fullscreen_window(
    screen: VirtualDisplay, running: Indicator, xterm: int
) -> None:
    assert running.alive
    assert (
        "IsViewable"
        in subprocess.run(
            ["xwininfo", "-id", hex(running.window_id)], env=screen.env, capture_output=True, text=True
        ).stdout
    )
    stacking = xprop(screen, "-root", "_NET_CLIENT_LIST_STACKING")
    ids = [int(x, 16) for x in stacking.split("#", 1)[1].replace(" ", "").split(",")]
    assert ids.index(running.window_id) > ids.index(xterm)  # bottom-to-top order
    assert near(pixel(screen, *mark_xy(running)), COLORS["recording"])
    assert label(screen, running.window_id) == "● REC"


def test_click_toggles_pause_in_the_state_file_without_taking_focus(
    screen: VirtualDisplay, running: Indicator, xterm: int, home: Path
) -> None:
    x, y = mark_xy(running)
    subprocess.run(["xdotool", "mousemove", str(x + 40), str(y), "click", "1"], env=screen.env, check=True)
    assert wait_until(lambda: load_state(home).pause.active(time.time_ns()))
    assert wait_until(lambda: label(screen, running.window_id) == "❚❚ PAUSED")
    assert wait_until(lambda: near(pixel(screen, W - running.margin - running.size[0] + 6, y), COLORS["paused"]))
    assert f"0x{xterm:x}" in xprop(screen, "-root", "_NET_ACTIVE_WINDOW")
    subprocess.run(["xdotool", "click", "1"], env=screen.env, check=True)
    assert wait_until(lambda: not load_state(home).pause.paused)
    assert wait_until(lambda: label(screen, running.window_id) == "● REC")


def test_indicator_follows_state_changes_made_elsewhere(screen: VirtualDisplay, running: Indicator, home: Path) -> None:
    record_consent(home, "withdraw", ("keys", "mouse"), time.time_ns())
    assert wait_until(lambda: label(screen, running.window_id) == "NOT CONSENTED")
    assert "NOT CONSENTED" in xprop(screen, "-id", hex(running.window_id), "WM_NAME")


def test_excluded_state_is_shown(screen: VirtualDisplay) -> None:
    ind = Indicator(screen.display, status=lambda: "excluded", on_click=lambda: None).start()
    try:
        assert wait_until(lambda: label(screen, ind.window_id) == "EXCLUDED")
    finally:
        ind.stop()


def test_start_fails_with_capture_error_when_the_display_is_unreachable() -> None:
    ind = Indicator(":4095", status=lambda: "recording", on_click=lambda: None)
    with pytest.raises(CaptureError, match="indicator"):
        ind.start(timeout=3)
    assert not ind.alive


def test_global_hotkey_toggles_pause(screen: VirtualDisplay, running: Indicator, xterm: int, home: Path) -> None:
    subprocess.run(["xdotool", "key", "ctrl+alt+Pause"], env=screen.env, check=True)
    assert wait_until(lambda: load_state(home).pause.active(time.time_ns()))
    assert wait_until(lambda: label(screen, running.window_id) == "❚❚ PAUSED")
    subprocess.run(["xdotool", "key", "ctrl+alt+Pause"], env=screen.env, check=True)
    assert wait_until(lambda: not load_state(home).pause.paused)


def test_hotkey_taken_by_another_program_fails_start(screen: VirtualDisplay, running: Indicator) -> None:
    second = Indicator(screen.display, status=lambda: "recording", on_click=lambda: None, hotkey=DEFAULT_HOTKEY)
    with pytest.raises(CaptureError, match="hotkey"):
        second.start()


@pytest.mark.parametrize("bad", ["ctrl+hyper+p", "ctrl+alt+NoSuchKey", "", "ctrl++p"])
def test_bad_hotkey_names_the_value(bad: str) -> None:
    with pytest.raises(ConfigError, match="hotkey"):
        parse_hotkey(bad)
    assert parse_hotkey("ctrl+alt+Pause")[0] != 0
