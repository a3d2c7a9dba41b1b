"""A scripted work session driven with real X input (xdotool), shared by ``workprint demo`` and the tests.

It opens the demo form and an xterm on a display, then types, clicks, drags, scrolls, uses a hotkey and switches
windows. ``EXPECTED`` is the action list the dataset must reduce that session to.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from workprint.demo import form
from workprint.errors import CaptureError

XTERM_TITLE = "Terminal – Überblick"
STEP_PAUSE_S = 0.25


@dataclass(frozen=True, slots=True)
class Windows:
    """The session's windows: X ids and the form's client-area origin on screen."""

    form_id: str
    form_origin: tuple[int, int]
    xterm_id: str


def xdo(env: Mapping[str, str], *args: str) -> str:
    """Run one xdotool command on the display in ``env``; return its output."""
    out = subprocess.run(["xdotool", *args], env=dict(env), capture_output=True, text=True, timeout=20)
    if out.returncode != 0:
        raise CaptureError(f"xdotool {' '.join(args)}: {out.stderr.strip() or 'failed'}")
    return out.stdout.strip()


def _wait_window(env: Mapping[str, str], name: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--name", name], env=dict(env), capture_output=True, text=True
        )
        ids = out.stdout.split()
        if ids:
            return ids[0]
        time.sleep(0.05)
    raise CaptureError(f"window {name!r}: did not appear within {timeout:.0f} s")


def _origin(env: Mapping[str, str], wid: str) -> tuple[int, int]:
    # xwininfo's absolute corner is the client area's, whatever the window manager's frame adds.
    out = subprocess.run(["xwininfo", "-id", wid], env=dict(env), capture_output=True, text=True, timeout=10).stdout
    vals = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}
    return int(vals["Absolute upper-left X"]), int(vals["Absolute upper-left Y"])


def open_windows(env: Mapping[str, str]) -> tuple[Windows, list[subprocess.Popen[bytes]]]:
    """Start the form and an xterm; return their ids and the processes (the caller terminates them)."""
    procs = [
        subprocess.Popen([sys.executable, "-m", "workprint.demo.form"], env=dict(env)),
        subprocess.Popen(
            ["xterm", "-T", XTERM_TITLE, "-geometry", "80x20+660+40", "-e", "bash", "--norc", "--noprofile"],
            env={**env, "PS1": "$ "},
        ),
    ]
    form_id = _wait_window(env, "Expense report")
    xterm_id = _wait_window(env, "Terminal")
    time.sleep(0.5)  # let both windows draw before the first grab
    return Windows(form_id, _origin(env, form_id), xterm_id), procs


def run_script(env: Mapping[str, str], win: Windows) -> None:
    """Drive the scripted session: every step is real input through XTEST."""
    ox, oy = win.form_origin

    def at(point: tuple[int, int]) -> tuple[str, str]:
        return str(ox + point[0]), str(oy + point[1])

    def step(*args: str) -> None:
        xdo(env, *args)
        time.sleep(STEP_PAUSE_S)

    step("windowactivate", "--sync", win.form_id)
    step("mousemove", *at(form.NAME_ENTRY), "click", "1")
    step("type", "--delay", "40", "Ada Lovelace")
    step("key", "Tab")
    step("type", "--delay", "40", "42.50")
    step("mousemove", *at(form.NOTES_TEXT), "click", "1")
    step("click", "--repeat", "3", "--delay", "60", "5")
    step("click", "--repeat", "1", "4")
    step("mousemove", *at(form.SUBMIT_BUTTON), "click", "1")
    cx, cy = form.CANVAS
    step("mousemove", *at((cx - 75, cy)), "mousedown", "1")
    for dx in (20, 40, 60, 80, 100):
        step("mousemove", *at((cx - 75 + dx, cy)))
    step("mouseup", "1")
    step("mousemove", *at(form.NAME_ENTRY), "click", "1")
    step("key", "ctrl+a")
    step("windowactivate", "--sync", win.xterm_id)
    step("type", "--delay", "40", "echo done")
    step("key", "Return")


def expected_actions(win: Windows, screen: tuple[int, int]) -> list[tuple[str, str]]:
    """The (action, argument) pairs the scripted session must reduce to, coordinates as screen pixels."""
    ox, oy = win.form_origin

    def px(point: tuple[int, int]) -> str:
        return f"{ox + point[0]},{oy + point[1]}"

    cx, cy = form.CANVAS
    return [
        ("click", px(form.NAME_ENTRY)),
        ("write", "<NAME>"),  # the redactor replaces the typed name on the device
        ("press", "tab"),
        ("write", "42.50"),
        ("click", px(form.NOTES_TEXT)),
        ("scroll", "-3"),
        ("scroll", "1"),
        ("click", px(form.SUBMIT_BUTTON)),
        ("dragTo", px((cx + 25, cy))),
        ("click", px(form.NAME_ENTRY)),
        ("hotkey", "ctrl+a"),
        ("write", "echo done"),
        ("press", "enter"),
    ]
