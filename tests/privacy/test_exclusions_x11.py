"""Exclusions with real windows and real input on Xvfb: an excluded app, an excluded title, a private window.

Canaries typed into excluded windows (and carried in their titles) must not get through the gate; only the
exclusion markers do, and frames taken afterwards have the excluded windows blanked, title bars included.
"""

from __future__ import annotations

import io
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest
from PIL import Image

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.models import ALL_SCOPES, ControlEvent, Event, FrameEvent, KeyEvent, WindowEvent, to_record
from workprint.privacy.exclusion_step import ExclusionStep
from workprint.privacy.gate import Item, PrivacyGate
from workprint.privacy.state import record_consent, update_state
from workprint.privacy.watcher import StateWatcher

# name, xterm arguments, client-area position
WINDOWS = {
    "notes": (["-T", "notes"], (10, 40)),
    "vault": (["-class", "KeePassXC", "-T", "Vault qzcanaryTITLE1 - KeePassXC"], (560, 40)),
    "private": (["-T", "Shop qzcanaryTITLE2 — Mozilla Firefox Private Browsing"], (10, 400)),
    "diary": (["-T", "Diary qzcanaryTITLE3"], (560, 400)),
}


class Pipeline:
    def __init__(self, home: Path) -> None:
        self.watcher = StateWatcher(home, interval=0.02).start()
        self.step = ExclusionStep(self.watcher.rules)
        self.gate = PrivacyGate(consented=self.watcher.consented, paused=self.watcher.paused, steps=[self.step])
        self.out: list[Item] = []
        self.cond = threading.Condition()

    def sink(self, event: Event, data: bytes | None) -> None:
        items = self.gate.admit(event, data)
        with self.cond:
            self.out.extend(items)
            self.cond.notify_all()

    def events(self) -> list[Event]:
        with self.cond:
            return [e for e, _ in self.out]

    def typed(self) -> str:
        return "".join(e.text for e in self.events() if isinstance(e, KeyEvent) and e.press)

    def leaked(self, canary: str) -> bool:
        with self.cond:
            blob = b"".join(msgpack.packb(to_record(e)) + (d or b"") for e, d in self.out)
        return canary in self.typed() or canary.encode() in blob

    def wait(self, pred: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; typed {self.typed()[-40:]!r}"
            time.sleep(0.01)


@pytest.fixture(scope="module")
def desk() -> Iterator[tuple[VirtualDisplay, dict[str, str]]]:
    with VirtualDisplay(1024, 768) as vd:
        procs, ids = [], {}
        for name, (args, (x, y)) in WINDOWS.items():
            geometry = f"60x16+{x}+{y - 30}"
            procs.append(subprocess.Popen(["xterm", *args, "-geometry", geometry, "-e", "cat"], env=vd.env))
            title = args[args.index("-T") + 1]
            out = subprocess.run(
                ["xdotool", "search", "--sync", "--name", f"^{title}$"],
                env=vd.env, capture_output=True, text=True, check=True, timeout=15,
            )  # fmt: skip
            ids[name] = out.stdout.split()[0]
        yield vd, ids
        for p in procs:
            p.terminate()
            p.wait(timeout=5)


@pytest.fixture
def pipe(desk: tuple[VirtualDisplay, dict[str, str]], tmp_path: Path) -> Iterator[Pipeline]:
    vd, _ = desk
    record_consent(tmp_path, "grant", ALL_SCOPES, time.time_ns())
    update_state(tmp_path, lambda s: s.with_exclusion({"kind": "title", "value": r"^diary\b"}))
    p = Pipeline(tmp_path)
    assert p.watcher.consented() == frozenset(ALL_SCOPES)
    cap = X11Capture(vd.display, p.sink, AgentSettings(home=tmp_path, frame_format="jpeg"))
    cap.start()
    yield p
    cap.stop()
    p.watcher.stop()


def xdo(vd: VirtualDisplay, *args: str) -> None:
    subprocess.run(["xdotool", *args], env=vd.env, check=True, timeout=30)


@pytest.mark.parametrize("window", ["vault", "private", "diary"])
def test_nothing_of_an_excluded_window_passes(
    desk: tuple[VirtualDisplay, dict[str, str]], pipe: Pipeline, window: str
) -> None:
    vd, ids = desk
    xdo(vd, "windowactivate", "--sync", ids["notes"])
    pipe.wait(lambda: any(isinstance(e, WindowEvent) and e.title == "notes" for e in pipe.events()), "notes focus")
    pipe.wait(lambda: not pipe.step.excluded, "notes focus")
    start = len(pipe.events())  # the desktop may have started on an excluded window: look only from here
    xdo(vd, "windowactivate", "--sync", ids[window])
    pipe.wait(lambda: pipe.step.excluded, "exclusion")
    (x, y) = WINDOWS[window][1]
    xdo(vd, "mousemove", str(x + 50), str(y + 50), "click", "1")
    xdo(vd, "type", "--delay", "2", f"qzcanary{window}")
    xdo(vd, "windowactivate", "--sync", ids["notes"])
    xdo(vd, "type", "--delay", "2", f"okmark{window}")
    pipe.wait(lambda: f"okmark{window}" in pipe.typed(), "the marker")
    assert not pipe.leaked("qzcanary")
    kinds = [e.kind for e in pipe.events()[start:] if isinstance(e, ControlEvent)]
    assert kinds == ["exclusion_enter", "exclusion_leave"]
    leave = next(e for e in pipe.events()[start:] if isinstance(e, ControlEvent) and e.kind == "exclusion_leave")
    assert int(leave.get("duration_ms")) > 0


def _is_black(img: Image.Image, x: int, y: int) -> bool:
    px = img.getpixel((x, y))
    assert isinstance(px, tuple)
    return max(int(c) for c in px[:3]) < 24


def test_frames_blank_excluded_windows_that_are_visible_but_not_focused(
    desk: tuple[VirtualDisplay, dict[str, str]], pipe: Pipeline
) -> None:
    vd, ids = desk
    xdo(vd, "windowactivate", "--sync", ids["vault"])
    pipe.wait(lambda: pipe.step.excluded, "exclusion")
    xdo(vd, "windowactivate", "--sync", ids["notes"])
    pipe.wait(lambda: not pipe.step.excluded, "leaving the exclusion")
    xdo(vd, "type", "--delay", "30", "framesplease")
    pipe.wait(lambda: "framesplease" in pipe.typed(), "typing")
    pipe.wait(lambda: any(isinstance(e, FrameEvent) for e in pipe.events()), "a frame")
    with pipe.cond:
        frames = [(e, d) for e, d in pipe.out if isinstance(e, FrameEvent) and d is not None]
    img = Image.open(io.BytesIO(frames[-1][1])).convert("RGB")
    vx, vy = WINDOWS["vault"][1]
    nx, ny = WINDOWS["notes"][1]
    assert _is_black(img, vx + 100, vy + 60)  # the vault's client area
    assert _is_black(img, vx + 100, vy - 10)  # its title bar, which shows its title
    assert not _is_black(img, nx + 100, ny + 60)  # the focused notes window is kept


def test_status_command_reports_an_excluded_focused_window(
    desk: tuple[VirtualDisplay, dict[str, str]], tmp_path: Path
) -> None:
    import os
    import sys

    vd, ids = desk
    record_consent(tmp_path, "grant", ALL_SCOPES, time.time_ns())
    workprint = str(Path(sys.executable).parent / "workprint")
    env = dict(os.environ, WORKPRINT_HOME=str(tmp_path), DISPLAY=vd.display)
    xdo(vd, "windowactivate", "--sync", ids["vault"])
    out = subprocess.run([workprint, "status"], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "excluded"
    assert "keys           excluded" in out
    xdo(vd, "windowactivate", "--sync", ids["notes"])
    out = subprocess.run([workprint, "status"], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "recording"
