"""X11Capture reports the focused window's app, title (any encoding), pid and geometry on every switch."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from xrecorder import Recorder

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.models import Event, WindowEvent

pytestmark = pytest.mark.x11

TITLES = ("plain ascii shell", "Überblick – naïve 日本")


@pytest.fixture(scope="module")
def xterms(vd: VirtualDisplay) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    out = []
    for i, title in enumerate(TITLES):
        proc = subprocess.Popen(
            ["xterm", "-T", title, "-geometry", f"60x10+{50 + 400 * i}+{40 + 100 * i}", "-e", "cat"],
            env=vd.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        found = subprocess.run(
            ["xdotool", "search", "--sync", "--pid", str(proc.pid)],
            env=vd.env,
            capture_output=True,
            text=True,
            timeout=10,
        )
        out.append((proc, found.stdout.split()[0]))
    yield out
    for proc, _ in out:
        proc.terminate()
        proc.wait()


def _windows(evs: list[Event]) -> list[WindowEvent]:
    return [e for e in evs if isinstance(e, WindowEvent)]


def _geometry(vd: VirtualDisplay, wid: str) -> tuple[int, int, int, int]:
    out = subprocess.run(["xwininfo", "-id", wid], env=vd.env, capture_output=True, text=True, check=True).stdout
    kv = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
    return int(kv["Absolute upper-left X"]), int(kv["Absolute upper-left Y"]), int(kv["Width"]), int(kv["Height"])


def test_switching_windows_reports_app_title_pid_and_geometry_including_non_ascii_titles(
    capture: tuple[X11Capture, Recorder], vd: VirtualDisplay, xterms: list[tuple[subprocess.Popen[bytes], str]]
) -> None:
    _, rec = capture
    for round_ in range(2):
        for (proc, wid), title in zip(xterms, TITLES, strict=True):
            subprocess.run(["xdotool", "windowactivate", "--sync", wid], env=vd.env, check=True, timeout=10)
            ev = rec.wait_for(lambda evs, t=title: bool(_windows(evs)) and _windows(evs)[-1].title == t)
            last = _windows(ev)[-1]
            assert (last.app, last.pid) == ("XTerm", proc.pid), round_
            assert (last.x, last.y, last.width, last.height) == _geometry(vd, wid)
            assert (last.screen_width, last.screen_height) == (1280, 800)
    titles = [w.title for w in _windows(rec.events())]
    # Every switch is recorded, in order (a leading event for the window focused at start is allowed).
    assert titles[-4:] == [*TITLES, *TITLES], titles


def test_renaming_the_focused_window_reports_the_new_title(
    capture: tuple[X11Capture, Recorder], vd: VirtualDisplay, xterms: list[tuple[subprocess.Popen[bytes], str]]
) -> None:
    _, rec = capture
    _, wid = xterms[0]
    subprocess.run(["xdotool", "windowactivate", "--sync", wid], env=vd.env, check=True, timeout=10)
    rec.wait_for(lambda evs: bool(_windows(evs)) and _windows(evs)[-1].title == TITLES[0])
    subprocess.run(["xdotool", "set_window", "--name", "Größe ✓ renamed", wid], env=vd.env, check=True)
    rec.wait_for(lambda evs: _windows(evs)[-1].title == "Größe ✓ renamed")
    renamed = [w for w in _windows(rec.events()) if w.title == "Größe ✓ renamed"]
    assert len(renamed) == 1  # the WM_NAME and _NET_WM_NAME changes collapse into one event


def test_focus_on_the_desktop_reports_an_empty_window(
    capture: tuple[X11Capture, Recorder], vd: VirtualDisplay, xterms: list[tuple[subprocess.Popen[bytes], str]]
) -> None:
    _, rec = capture
    _, wid = xterms[1]
    subprocess.run(["xdotool", "windowactivate", "--sync", wid], env=vd.env, check=True, timeout=10)
    rec.wait_for(lambda evs: bool(_windows(evs)) and _windows(evs)[-1].title == TITLES[1])
    subprocess.run(["xdotool", "mousemove", "1200", "780", "click", "1"], env=vd.env, check=True)
    last = rec.wait_for(lambda evs: _windows(evs)[-1].title == "")
    assert (_windows(last)[-1].app, _windows(last)[-1].pid) == ("", 0)


def test_without_a_window_manager_the_input_focus_is_followed() -> None:
    from workprint.config import AgentSettings

    with VirtualDisplay(640, 480, window_manager=False) as bare:
        procs, wids = [], []
        for i, title in enumerate(TITLES):
            proc = subprocess.Popen(
                ["xterm", "-T", title, "-geometry", f"30x5+{10 + 300 * i}+10", "-e", "cat"],
                env=bare.env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            out = subprocess.run(
                ["xdotool", "search", "--sync", "--pid", str(proc.pid)], env=bare.env, capture_output=True, text=True
            )
            procs.append(proc)
            wids.append(out.stdout.split()[0])
        rec = Recorder()
        cap = X11Capture(bare.display, rec, AgentSettings())
        cap.start()
        try:
            for (proc, wid), title in zip(zip(procs, wids, strict=True), [*TITLES], strict=True):
                subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=bare.env, check=True, timeout=10)
                evs = rec.wait_for(lambda evs, t=title: bool(_windows(evs)) and _windows(evs)[-1].title == t)
                assert (_windows(evs)[-1].app, _windows(evs)[-1].pid) == ("XTerm", proc.pid)
        finally:
            cap.stop()
            for proc in procs:
                proc.terminate()
                proc.wait()
