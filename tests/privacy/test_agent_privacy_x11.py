"""The agent's own privacy wiring on a real Xvfb: automatic pause (screen saver, lock screen, idle), clicks on the
indicator kept out of the recording, SPOOL FULL on the indicator, and the privacy timeline for late events."""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workprint.agent import Agent
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.device import DeviceRecord
from workprint.models import ButtonEvent, ControlEvent, Event, KeyEvent
from workprint.privacy.state import load_state, record_consent
from workprint.privacy.timeline import MAX_MARKS, PrivacyTimeline
from workprint.segment import generate_keypair, open_sealed

SCOPES = ("keys", "mouse", "window_titles", "app_names")


def wait(pred: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Rig:
    def __init__(self, vd: VirtualDisplay, home: Path, idle_min: float, spool_max_bytes: int = 1 << 30) -> None:
        self.vd, self.home = vd, home
        self.private, public = generate_keypair()
        # An unreachable server: these tests are about the device; uploads simply wait.
        self.device = DeviceRecord("http://127.0.0.1:9", "p1", "d1", "wpd_x", base64.b64encode(public).decode())
        record_consent(home, "grant", SCOPES, time.time_ns())
        settings = AgentSettings(
            home=home, frame_format="jpeg", idle_pause_min=idle_min, upload_interval_s=30,
            spool_max_bytes=spool_max_bytes, segment_max_bytes=min(spool_max_bytes // 2, 32 << 20),
        )  # fmt: skip
        self.agent = Agent(settings, self.device, display=vd.display)

    def xdo(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.vd.env, check=True)

    def events(self) -> list[Event]:
        """Everything the agent recorded (stop it first): its sealed segments, decrypted."""
        out: list[Event] = []
        for path in sorted((self.home / "spool" / "sealed").glob("*.wps")):
            out.extend(open_sealed(path.read_bytes(), self.private).events)
        return out


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[VirtualDisplay, subprocess.Popen[bytes]]]:
    with VirtualDisplay(1024, 700) as vd:
        term = subprocess.Popen(["xterm", "-T", "work", "-geometry", "60x10+10+80", "-e", "cat"], env=vd.env)
        subprocess.run(["xdotool", "search", "--sync", "--name", "^work$"], env=vd.env, check=True, capture_output=True)
        try:
            yield vd, term
        finally:
            term.kill()
            term.wait()


def _markers(events: list[Event], kind: str) -> list[dict[str, str]]:
    return [dict(e.detail) for e in events if isinstance(e, ControlEvent) and e.kind == kind]


def test_the_screen_saver_pauses_recording_and_its_end_resumes_it(
    desk: tuple[VirtualDisplay, object], tmp_path: Path
) -> None:
    rig = Rig(desk[0], tmp_path / "home", idle_min=0)
    rig.agent.start()
    try:
        wait(lambda: rig.agent.status() == "recording", "recording")
        subprocess.run(["xset", "s", "activate"], env=rig.vd.env, check=True)
        wait(lambda: rig.agent.auto_pause == "screen locked", "the automatic pause")
        assert rig.agent.status() == "paused"
        subprocess.run(["xset", "s", "reset"], env=rig.vd.env, check=True)
        wait(lambda: rig.agent.auto_pause is None, "the automatic resume")
        assert rig.agent.status() == "recording"
    finally:
        rig.agent.stop(upload=False)
    events = rig.events()
    assert {"reason": "screen locked"} in _markers(events, "pause")
    assert {"reason": "no longer screen locked"} in _markers(events, "resume")


def test_a_focused_lock_screen_pauses_recording(desk: tuple[VirtualDisplay, object], tmp_path: Path) -> None:
    rig = Rig(desk[0], tmp_path / "home", idle_min=0)
    rig.agent.start()
    locker = subprocess.Popen(["xterm", "-class", "i3lock", "-T", "locked", "-e", "cat"], env=rig.vd.env)
    try:
        out = subprocess.run(["xdotool", "search", "--sync", "--name", "^locked$"], env=rig.vd.env,
                             capture_output=True, text=True, check=True)  # fmt: skip
        rig.xdo("windowactivate", "--sync", out.stdout.split()[0])
        wait(lambda: rig.agent.auto_pause == "screen locked", "the lock screen to pause recording")
    finally:
        locker.kill()
        locker.wait()
        rig.agent.stop(upload=False)


def test_idle_minutes_pause_recording_until_input_returns(desk: tuple[VirtualDisplay, object], tmp_path: Path) -> None:
    rig = Rig(desk[0], tmp_path / "home", idle_min=0.02)  # 1.2 s
    rig.agent.start()
    try:
        rig.xdo("search", "--name", "^work$", "windowactivate", "--sync")
        rig.xdo("mousemove", "50", "120")
        wait(lambda: rig.agent.auto_pause == "idle", "the idle pause", timeout=5)
        assert rig.agent.status() == "paused"
        rig.xdo("type", "--delay", "20", "back")
        rig.xdo("key", "Return")
        wait(lambda: rig.agent.auto_pause is None, "activity to end the idle pause")
    finally:
        rig.agent.stop(upload=False)
    assert {"reason": "idle"} in _markers(rig.events(), "pause")


def test_clicks_on_the_indicator_toggle_pause_and_are_not_recorded(
    desk: tuple[VirtualDisplay, object], tmp_path: Path
) -> None:
    rig = Rig(desk[0], tmp_path / "home", idle_min=0)
    rig.agent.start()
    try:
        assert rig.agent.indicator is not None
        rect = rig.agent.indicator.rect
        assert rect is not None
        x, y, w, h = rect
        rig.xdo("mousemove", "200", "150", "click", "1")  # a click elsewhere is recorded
        rig.xdo("mousemove", str(x + w // 2), str(y + h // 2), "click", "1")
        wait(lambda: load_state(rig.home).pause.paused, "the indicator click to pause")
        rig.xdo("click", "1")
        wait(lambda: not load_state(rig.home).pause.paused, "the second click to resume")
        # The agent follows the state file within its poll interval; a click before it sees the resume is dropped.
        wait(lambda: not rig.agent.watcher.paused(), "the agent to see the resume")
        rig.xdo("mousemove", "210", "160", "click", "1")
        time.sleep(0.5)
    finally:
        rig.agent.stop(upload=False)
    clicks = [(e.x, e.y) for e in rig.events() if isinstance(e, ButtonEvent) and e.press]
    assert (200, 150) in clicks and (210, 160) in clicks
    assert not [c for c in clicks if x <= c[0] < x + w and y <= c[1] < y + h], clicks


def test_the_indicator_says_spool_full_when_the_spool_is_full(
    desk: tuple[VirtualDisplay, object], tmp_path: Path
) -> None:
    rig = Rig(desk[0], tmp_path / "home", idle_min=0, spool_max_bytes=6000)
    rig.agent.start()
    try:
        indicator = rig.agent.indicator
        assert indicator is not None
        wait(lambda: indicator.shown == "recording", "REC")
        rig.xdo("search", "--name", "^work$", "windowactivate", "--sync")
        for _ in range(40):  # until full: on a loaded machine some frames are dropped (OCR deadline), not kept
            rig.xdo("type", "--delay", "5", "fill the spool")
            rig.xdo("key", "Return")
            if rig.agent.spool.full:
                break
        wait(lambda: indicator.shown == "spool_full", "SPOOL FULL")
        title = subprocess.run(["xdotool", "getwindowname", str(indicator.window_id)], env=rig.vd.env,
                               capture_output=True, text=True, check=True)  # fmt: skip
        assert title.stdout.strip() == "SPOOL FULL"  # _NET_WM_NAME carries the label
        assert rig.agent.stats.spool_full_dropped > 0
    finally:
        rig.agent.stop(upload=False)


def test_keys_typed_during_a_pause_but_processed_after_it_are_dropped() -> None:
    t = PrivacyTimeline(100, False, frozenset({"keys"}))
    t.mark(200, True, frozenset({"keys"}))  # paused at 200
    t.mark(300, False, frozenset({"keys"}))  # resumed at 300
    t.mark(400, False, frozenset())  # withdrawn at 400
    assert [t.allows(at, {"keys"}) for at in (50, 150, 200, 250, 300, 350, 400, 500)] == [
        True, True, False, False, True, True, False, False,
    ]  # fmt: skip
    assert t.allows(450, set())  # a record without scope passes when not paused
    t.mark(10, True, frozenset())  # a mark cannot go back in time: it takes effect at the latest time
    assert t.allows(350, {"keys"}) and not t.allows(400, set())


def test_the_timeline_keeps_a_bounded_number_of_marks() -> None:
    t = PrivacyTimeline(0, False, frozenset())
    for i in range(1, MAX_MARKS + 50):
        t.mark(i, i % 2 == 1, frozenset())
    assert t.allows(MAX_MARKS + 48, set()) and not t.allows(MAX_MARKS + 49, set())


def test_keys_reach_the_spool_when_recording(desk: tuple[VirtualDisplay, object], tmp_path: Path) -> None:
    # The positive control of this file: the same rig records typing when nothing pauses it.
    rig = Rig(desk[0], tmp_path / "home", idle_min=0)
    rig.agent.start()
    try:
        rig.xdo("search", "--name", "^work$", "windowactivate", "--sync")
        time.sleep(0.2)
        rig.xdo("type", "--delay", "10", "hello there")
        rig.xdo("key", "Return")
        wait(lambda: rig.agent.stats.admitted > 20, "typing to be recorded")
        time.sleep(0.3)
    finally:
        rig.agent.stop(upload=False)
    typed = "".join(e.text for e in rig.events() if isinstance(e, KeyEvent) and e.press)
    assert "hello there" in typed
