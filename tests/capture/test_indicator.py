"""The recording indicator on a real Xvfb + openbox: mapped, kept on top, shows the state, click toggles pause."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mss
import pytest
from Xlib.display import Display

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


# ----- the tray icon, with a real tray manager (trayer: freedesktop system tray over XEmbed) -------------------------
TRAYER = ["trayer", "--edge", "bottom", "--align", "left", "--widthtype", "request", "--height", "24"]


def start_tray(vd: VirtualDisplay) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(TRAYER, env=vd.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = Display(vd.display)
    try:
        atom = d.intern_atom("_NET_SYSTEM_TRAY_S0")
        assert wait_until(lambda: bool(d.get_selection_owner(atom)), 10.0), "the tray never took the selection"
    finally:
        d.close()
    return proc


def stop_tray(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=5)


def parent_of(vd: VirtualDisplay, wid: int) -> int:
    out = subprocess.run(["xwininfo", "-children", "-id", hex(wid)], env=vd.env, capture_output=True, text=True).stdout
    return int(out.split("Parent window id:", 1)[1].split()[0], 16)


def root_of(vd: VirtualDisplay) -> int:
    out = subprocess.run(["xwininfo", "-root"], env=vd.env, capture_output=True, text=True).stdout
    return int(out.split("Window id:", 1)[1].split()[0], 16)


def viewable_workprint_windows(vd: VirtualDisplay) -> int:
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env=vd.env, capture_output=True, text=True).stdout
    ids = [line.split()[0] for line in tree.splitlines() if '"Workprint")' in line]
    states = [subprocess.run(["xwininfo", "-id", i], env=vd.env, capture_output=True, text=True).stdout for i in ids]
    return sum("IsViewable" in s for s in states)


def tray_center(ind: Indicator) -> tuple[int, int]:
    rect = ind.tray_rect
    assert rect is not None
    x, y, w, h = rect
    return x + w // 2, y + h // 2


@pytest.fixture
def trayed(home: Path) -> Iterator[tuple[VirtualDisplay, Indicator]]:
    with VirtualDisplay(W, H) as vd:
        tray = start_tray(vd)
        watcher = StateWatcher(home, interval=0.02).start()
        ind = Indicator(
            vd.display,
            status=lambda: recording_status(watcher.snapshot, False),
            on_click=lambda: toggle_pause(home, time.time_ns()),
        ).start()
        yield vd, ind
        ind.stop()
        watcher.stop()
        stop_tray(tray)


def test_tray_icon_is_embedded_shows_the_state_and_a_click_toggles_pause(
    trayed: tuple[VirtualDisplay, Indicator], home: Path
) -> None:
    vd, ind = trayed
    assert wait_until(lambda: ind.tray_rect is not None)
    assert ind.tray is not None and ind.tray.window is not None
    icon = int(ind.tray.window.id)
    assert parent_of(vd, icon) != root_of(vd)  # the tray reparented it into its panel
    x, y = tray_center(ind)
    assert ind.hits(x, y) and ind.rect is not None and not ind.hits(ind.rect[0] - 1, y)
    assert wait_until(lambda: near(pixel(vd, x, y), COLORS["recording"]))
    subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], env=vd.env, check=True)
    assert wait_until(lambda: load_state(home).pause.active(time.time_ns()))
    rx, _, rw, rh = ind.tray_rect or (0, 0, 0, 0)
    bar_x = rx + (rw - min(rw, rh)) // 2 + 3 + 1 + 1  # inside the left pause bar
    assert wait_until(lambda: near(pixel(vd, bar_x, y), COLORS["paused"]))
    assert wait_until(lambda: label(vd, ind.window_id) == "❚❚ PAUSED")  # the window follows the same state
    subprocess.run(["xdotool", "click", "1"], env=vd.env, check=True)
    assert wait_until(lambda: not load_state(home).pause.paused)
    assert wait_until(lambda: near(pixel(vd, x, y), COLORS["recording"]))
    assert ind.clicks == 2


def test_without_a_tray_nothing_but_the_window_is_shown(screen: VirtualDisplay, running: Indicator) -> None:
    assert running.tray is not None and running.tray.window is None and running.tray.docks == 0
    assert running.tray_rect is None
    assert viewable_workprint_windows(screen) == 1


def test_a_tray_started_later_gets_the_icon_and_one_that_exits_leaves_no_stray_window(home: Path) -> None:
    with VirtualDisplay(W, H) as vd:
        ind = Indicator(vd.display, status=lambda: "recording", on_click=lambda: None).start()
        try:
            assert ind.tray_rect is None and viewable_workprint_windows(vd) == 1
            tray = start_tray(vd)
            assert wait_until(lambda: ind.tray_rect is not None)
            assert viewable_workprint_windows(vd) == 2
            assert ind.tray is not None and ind.tray.window is not None
            icon = hex(ind.tray.window.id)
            stop_tray(tray)
            assert wait_until(lambda: ind.tray_rect is None)
            gone = lambda: subprocess.run(["xwininfo", "-id", icon], env=vd.env, capture_output=True).returncode != 0  # noqa: E731
            assert wait_until(gone)  # not left on the root by the tray's save-set, where a window manager may map it
            assert viewable_workprint_windows(vd) == 1
            assert ind.alive
            tray = start_tray(vd)  # the tray comes back: so does the icon
            assert wait_until(lambda: ind.tray_rect is not None)
            assert ind.tray is not None and ind.tray.docks == 2
            assert wait_until(lambda: near(pixel(vd, *tray_center(ind)), COLORS["recording"]))
            stop_tray(tray)
        finally:
            ind.stop()
