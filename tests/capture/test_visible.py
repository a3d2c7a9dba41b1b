"""Visible windows on a real Xvfb + openbox, and blanking an excluded window that never had focus out of frames."""

from __future__ import annotations

import io
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from workprint.capture.visible import VisibleWindows, parse_wm_class
from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.errors import RedactionError
from workprint.models import ALL_SCOPES, ButtonEvent, Event, FrameEvent, WindowEvent
from workprint.privacy.exclusion_step import ExclusionStep
from workprint.privacy.gate import Item, PrivacyGate
from workprint.privacy.state import record_consent
from workprint.privacy.watcher import StateWatcher

VAULT = "Vault qzcanaryVIS - KeePassXC"  # excluded by the default password-manager title rule
NOTES = "notes"
SPARE = "spare"
GEOMETRY = {VAULT: (560, 100), NOTES: (40, 100), SPARE: (300, 450)}  # client area, roughly (-geometry is the frame)


def xdo(vd: VirtualDisplay, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env=vd.env, check=True, timeout=15, capture_output=True, text=True).stdout


def wait_until(pred: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def root_rect(vd: VirtualDisplay, wid: int) -> tuple[int, int, int, int]:
    out = subprocess.run(["xwininfo", "-id", hex(wid)], env=vd.env, capture_output=True, text=True).stdout
    val = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
    border = int(val["Border width"])  # xwininfo gives the outer corner; the window's own pixels start inside it
    x, y = int(val["Absolute upper-left X"]) + border, int(val["Absolute upper-left Y"]) + border
    return (x, y, int(val["Width"]), int(val["Height"]))


def active(vd: VirtualDisplay) -> int:
    return int(xdo(vd, "getactivewindow").strip() or 0)


@pytest.fixture(scope="module")
def desk() -> Iterator[tuple[VirtualDisplay, dict[str, int]]]:
    # The vault opens first and the notes window after it: the notes window takes focus before any session starts,
    # so the vault is visible but never focused while recording.
    with VirtualDisplay(1024, 768) as vd:
        procs, ids = [], {}
        for title, (x, y) in GEOMETRY.items():
            geometry = f"60x16+{x}+{y - 30}"
            procs.append(
                subprocess.Popen(["xterm", "-bg", "white", "-T", title, "-geometry", geometry, "-e", "cat"], env=vd.env)
            )
            ids[title] = int(xdo(vd, "search", "--sync", "--name", f"^{title}$").split()[0])
        xdo(vd, "windowactivate", "--sync", str(ids[NOTES]))
        yield vd, ids
        for p in procs:
            p.terminate()
            p.wait(timeout=5)


def test_lists_viewable_clients_with_class_title_and_root_geometry(desk: tuple[VirtualDisplay, dict[str, int]]) -> None:
    vd, ids = desk
    provider = VisibleWindows(vd.display)
    try:
        listed = {title: (app, rect) for app, title, rect in provider()}
    finally:
        provider.close()
    assert {VAULT, NOTES, SPARE} <= set(listed)
    for title, wid in ids.items():
        assert listed[title] == ("XTerm", root_rect(vd, wid))


def test_minimised_window_is_left_out_until_restored(desk: tuple[VirtualDisplay, dict[str, int]]) -> None:
    vd, ids = desk
    provider = VisibleWindows(vd.display, max_age=0)
    try:
        xdo(vd, "windowminimize", "--sync", str(ids[SPARE]))
        wait_until(lambda: SPARE not in [t for _, t, _ in provider()], "the minimised window to go")
        assert VAULT in [t for _, t, _ in provider()]
        xdo(vd, "windowactivate", "--sync", str(ids[SPARE]))
        wait_until(lambda: SPARE in [t for _, t, _ in provider()], "the restored window")
    finally:
        xdo(vd, "windowactivate", "--sync", str(ids[NOTES]))
        provider.close()


def test_one_listing_serves_calls_within_max_age(desk: tuple[VirtualDisplay, dict[str, int]]) -> None:
    vd, _ = desk
    provider = VisibleWindows(vd.display, max_age=0.3)
    try:
        first = provider()
        assert provider() == first
        assert provider.listings == 1
        time.sleep(0.35)
        provider()
        assert provider.listings == 2
    finally:
        provider.close()


def test_falls_back_to_the_client_list_without_the_stacking_list(desk: tuple[VirtualDisplay, dict[str, int]]) -> None:
    vd, ids = desk
    provider = VisibleWindows(vd.display, max_age=0)
    try:
        subprocess.run(["xprop", "-root", "-remove", "_NET_CLIENT_LIST_STACKING"], env=vd.env, check=True)
        props = subprocess.run(["xprop", "-root"], env=vd.env, capture_output=True, text=True).stdout
        assert "_NET_CLIENT_LIST_STACKING(WINDOW)" not in props
        assert {VAULT, NOTES} <= {t for _, t, _ in provider()}
    finally:
        xdo(vd, "windowactivate", "--sync", str(ids[NOTES]))  # a stacking change makes openbox publish it again
        provider.close()


def test_unreachable_display_raises_redaction_error_naming_it() -> None:
    with pytest.raises(RedactionError, match="':4095'"):
        VisibleWindows(":4095")()


def test_wm_class_class_part() -> None:
    assert parse_wm_class(b"xterm\0XTerm\0") == "XTerm"
    assert parse_wm_class(b"only") == ""


def _dark(img: Image.Image, box: tuple[int, int, int, int]) -> float:
    return max(ImageStat.Stat(img.crop(box)).extrema[c][1] for c in range(3))


def test_frame_blanks_a_visible_excluded_window_that_never_had_focus(
    desk: tuple[VirtualDisplay, dict[str, int]], tmp_path: Path
) -> None:
    vd, ids = desk
    assert active(vd) == ids[NOTES]
    record_consent(tmp_path, "grant", ALL_SCOPES, time.time_ns())
    watcher = StateWatcher(tmp_path, interval=0.02).start()
    provider = VisibleWindows(vd.display)
    step = ExclusionStep(watcher.rules, visible_windows=provider)
    gate = PrivacyGate(consented=watcher.consented, paused=watcher.paused, steps=[step])
    raw: list[Item] = []
    out: list[Item] = []
    lock = threading.Lock()

    def sink(event: Event, data: bytes | None) -> None:
        with lock:
            raw.append((event, data))
            out.extend(gate.admit(event, data))

    def clicked() -> bool:
        with lock:
            return any(isinstance(e, ButtonEvent) for e, _ in out)

    cap = X11Capture(vd.display, sink, AgentSettings(home=tmp_path, frame_format="jpeg"))
    cap.start()
    try:
        time.sleep(0.3)  # let a screen grab land in the frame ring
        nx, ny, nw, nh = root_rect(vd, ids[NOTES])
        xdo(vd, "mousemove", str(nx + nw // 2), str(ny + nh // 2), "click", "1")
        wait_until(clicked, "the click")
    finally:
        cap.stop()
        watcher.stop()
        provider.close()
    assert not any(isinstance(e, WindowEvent) and e.title == VAULT for e, _ in raw)  # never focused
    assert not step.excluded
    raw_frame = next(d for e, d in raw if isinstance(e, FrameEvent) and d is not None)
    kept = next(d for e, d in out if isinstance(e, FrameEvent) and d is not None)
    before = Image.open(io.BytesIO(raw_frame)).convert("RGB")
    after = Image.open(io.BytesIO(kept)).convert("RGB")
    vx, vy, vw, vh = root_rect(vd, ids[VAULT])
    vault = (vx, vy - 20, vx + vw, vy + vh)  # its client area and title bar, which shows its title
    assert _dark(before, vault) > 200  # the white xterm is really on screen
    assert _dark(after, vault) < 24  # ...and blanked, title bar included
    notes = (nx, ny, nx + nw, ny + nh)
    diff = ImageStat.Stat(ImageChops.difference(before.crop(notes), after.crop(notes))).mean
    assert max(diff) < 4  # the focused window is kept (only re-encoding noise)
    assert _dark(after, notes) > 200
    # Without the provider the step knows only windows it saw focused, so this frame would keep the vault.
    blind = ExclusionStep(watcher.rules)
    focus = next(e for e, _ in raw if isinstance(e, WindowEvent))
    frame = next(e for e, d in raw if isinstance(e, FrameEvent) and d is not None)
    blind.feed((focus, None))
    (_, unblanked) = blind.feed((frame, raw_frame))[0]
    assert unblanked is not None and _dark(Image.open(io.BytesIO(unblanked)).convert("RGB"), vault) > 200


def test_without_a_window_manager_the_roots_children_are_listed() -> None:
    with VirtualDisplay(640, 480, window_manager=False) as vd:
        proc = subprocess.Popen(["xterm", "-T", VAULT, "-geometry", "40x10+20+30", "-e", "cat"], env=vd.env)
        try:
            wid = int(xdo(vd, "search", "--sync", "--name", f"^{VAULT}$").split()[0])
            provider = VisibleWindows(vd.display)
            try:
                assert ("XTerm", VAULT, root_rect(vd, wid)) in provider()
            finally:
                provider.close()
        finally:
            proc.terminate()
            proc.wait(timeout=5)
