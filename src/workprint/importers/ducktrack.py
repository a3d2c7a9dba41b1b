"""DuckTrack / AgentNetTool recordings -> workprint events (pure parsing; frames via ``video``).

Both tools write ``events.jsonl`` (AgentNetTool descends from DuckTrack), one pynput event a line with
``time_stamp`` (``time.perf_counter()`` seconds) and ``action``: ``move`` (x, y), ``click`` (x, y, button,
pressed), ``scroll`` (x, y, dx, dy), ``press`` / ``release`` (``name``: the character, or pynput's key name such as
``shift``, ``ctrl_l``, ``cmd``, ``enter``), ``pause`` / ``resume``. ``metadata.json`` gives ``screen_width`` /
``screen_height``, ``start_time`` (local wall clock) and OBS's ``obs_record_state_timings`` (the perf-counter time
the screen video started, which aligns frames to events). AgentNetTool adds ``top_window.jsonl``
(``top_window_name`` per focus change), which becomes window events (app only: no title is recorded).

How workprint's events differ, and why: pynput reports no keycodes and no modifier state, so modifiers are tracked
from the press/release stream and each key name gets a stable synthetic keycode; a character that pynput reports as
a control character (``'\\x03'`` for Ctrl+C) is mapped back to its letter; coordinates are rounded to whole pixels
(macOS reports fractional points); consecutive moves are coalesced into one motion path as workprint's capture does.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workprint.errors import SchemaError
from workprint.models import ButtonEvent, ControlEvent, Event, KeyEvent, MotionEvent, ScrollEvent, WindowEvent

_BUTTONS = {"left": 1, "middle": 2, "right": 3, "x1": 8, "x2": 9}
_MODIFIERS = {
    "shift": ("Shift_L", "shift"), "shift_l": ("Shift_L", "shift"), "shift_r": ("Shift_R", "shift"),
    "ctrl": ("Control_L", "ctrl"), "ctrl_l": ("Control_L", "ctrl"), "ctrl_r": ("Control_R", "ctrl"),
    "alt": ("Alt_L", "alt"), "alt_l": ("Alt_L", "alt"), "alt_r": ("Alt_R", "alt"),
    "alt_gr": ("ISO_Level3_Shift", "altgr"),
    "cmd": ("Super_L", "super"), "cmd_l": ("Super_L", "super"), "cmd_r": ("Super_R", "super"),
}  # fmt: skip
_KEYS = {
    "enter": "Return", "space": "space", "backspace": "BackSpace", "tab": "Tab", "esc": "Escape",
    "delete": "Delete", "up": "Up", "down": "Down", "left": "Left", "right": "Right", "home": "Home", "end": "End",
    "page_up": "Prior", "page_down": "Next", "caps_lock": "Caps_Lock", "insert": "Insert", "menu": "Menu",
    **{f"f{i}": f"F{i}" for i in range(1, 25)},
}  # fmt: skip
MAX_PATH = 64  # points per coalesced motion event


@dataclass(frozen=True, slots=True)
class Recording:
    """A parsed recording: workprint events in order, the screen size, and how to align the screen video."""

    events: tuple[Event, ...]
    screen: tuple[int, int]
    video: Path | None
    video_start_s: float  # perf-counter seconds at the video's first frame
    t0_s: float  # perf-counter seconds mapped to t_ns = 0
    wall0_ns: int  # wall clock (ns since the epoch) at t_ns = 0


def _num(rec: dict[str, Any], name: str, line: int) -> float:
    v = rec.get(name)
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise SchemaError(f"events.jsonl:{line}: {name}: expected a number, got {v!r}")
    return float(v)


def _metadata(root: Path) -> dict[str, Any]:
    path = root / "metadata.json"
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"metadata.json: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise SchemaError("metadata.json: expected an object")
    return meta


def _video_start(meta: dict[str, Any]) -> float | None:
    timings = meta.get("obs_record_state_timings")
    if isinstance(timings, dict):
        started = timings.get("OBS_WEBSOCKET_OUTPUT_STARTED")
        if isinstance(started, list) and started and isinstance(started[0], int | float):
            return float(started[0])
    return None


def _wall0(meta: dict[str, Any]) -> int:
    start = meta.get("start_time")
    if isinstance(start, str):
        try:
            return int(dt.datetime.strptime(start, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC).timestamp() * 1e9)
        except ValueError:
            raise SchemaError(f"metadata.json: start_time: expected 'YYYY-MM-DD HH:MM:SS', got {start!r}") from None
    return 0


class _Keys:
    """Tracks held modifiers and gives key names stable keycodes."""

    def __init__(self) -> None:
        self.held: dict[str, str] = {}  # pynput name -> workprint modifier
        self.codes: dict[str, int] = {}

    def code(self, name: str) -> int:
        return self.codes.setdefault(name.lower(), 10 + len(self.codes))

    def event(self, t: int, wall: int, press: bool, name: str) -> KeyEvent:
        mods_before = tuple(m for m in ("ctrl", "alt", "shift", "super") if m in self.held.values())
        if name in _MODIFIERS:
            keysym, mod = _MODIFIERS[name]
            if press:
                self.held[name] = mod
            else:
                self.held.pop(name, None)
            return KeyEvent(t, wall, press, self.code(name), keysym, "", mods_before)
        if len(name) == 1:
            ch = name
            if ord(ch) < 32 and ch not in "\t\r\n":
                ch = chr(ord(ch) + 96)  # pynput gives Ctrl+C as '\x03'
            hot = any(m in mods_before for m in ("ctrl", "alt", "super"))
            text = "" if hot or not press else ch
            keysym = "space" if ch == " " else ch
            return KeyEvent(t, wall, press, self.code(ch.lower()), keysym, text, mods_before)
        keysym = _KEYS.get(name, name.title())
        text = " " if keysym == "space" and press and not mods_before else ""
        return KeyEvent(t, wall, press, self.code(name), keysym, text, mods_before)


def read_recording(root: Path) -> Recording:
    """Parse a DuckTrack or AgentNetTool recording directory; bad lines raise ``SchemaError`` naming line and field."""
    events_path = root / "events.jsonl"
    if not events_path.exists():
        raise SchemaError(f"recording: {str(events_path)!r} not found")
    meta = _metadata(root)
    screen = (int(meta.get("screen_width") or 0), int(meta.get("screen_height") or 0))
    raw: list[tuple[float, int, dict[str, Any]]] = []
    for n, line in enumerate(events_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise SchemaError(f"events.jsonl:{n}: not valid JSON") from None
        if not isinstance(rec, dict):
            raise SchemaError(f"events.jsonl:{n}: expected an object")
        raw.append((_num(rec, "time_stamp", n), n, rec))
    windows = root / "top_window.jsonl"
    if windows.exists():
        for n, line in enumerate(windows.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                rec = json.loads(line)
                raw.append((_num(rec, "time_stamp", n), 0, {"action": "_window", **rec}))
    raw.sort(key=lambda r: (r[0], r[1]))
    if not raw:
        raise SchemaError("events.jsonl: no events")
    video_start = _video_start(meta)
    t0 = min(raw[0][0], video_start if video_start is not None else raw[0][0])
    wall0 = _wall0(meta)
    videos = sorted(p for p in root.iterdir() if p.suffix.lower() in (".mp4", ".mkv", ".mov"))
    return Recording(
        tuple(_convert(raw, t0, wall0, screen)), screen, videos[0] if videos else None,
        video_start if video_start is not None else t0, t0, wall0,
    )  # fmt: skip


def _convert(
    raw: list[tuple[float, int, dict[str, Any]]], t0: float, wall0: int, screen: tuple[int, int]
) -> list[Event]:
    keys = _Keys()
    out: list[Event] = []
    if screen[0] > 0 and screen[1] > 0:
        # The screen size, before anything else: DuckTrack writes no window records, and without one the reducer
        # would normalise coordinates against its default screen. No app or title, so it needs no consent scope.
        out.append(WindowEvent(0, wall0, "", "", 0, 0, 0, screen[0], screen[1], screen[0], screen[1]))
    path: list[tuple[int, int, int]] = []

    def flush_motion() -> None:
        if path:
            out.append(MotionEvent(path[0][0], wall0 + path[0][0], tuple(path)))
            path.clear()

    for ts, n, rec in raw:
        t = round((ts - t0) * 1e9)
        wall = wall0 + t
        action = rec.get("action")
        if action == "move":
            path.append((t, round(_num(rec, "x", n)), round(_num(rec, "y", n))))
            if len(path) >= MAX_PATH:
                flush_motion()
            continue
        flush_motion()
        if action == "click":
            button = _BUTTONS.get(str(rec.get("button")))
            if button is None:
                raise SchemaError(f"events.jsonl:{n}: button: unknown {rec.get('button')!r}")
            x, y = round(_num(rec, "x", n)), round(_num(rec, "y", n))
            out.append(ButtonEvent(t, wall, bool(rec.get("pressed")), x, y, button))
        elif action == "scroll":
            x, y = round(_num(rec, "x", n)), round(_num(rec, "y", n))
            out.append(ScrollEvent(t, wall, x, y, int(_num(rec, "dx", n)), int(_num(rec, "dy", n))))
        elif action in ("press", "release"):
            name = rec.get("name")
            if not isinstance(name, str) or not name:
                raise SchemaError(f"events.jsonl:{n}: name: expected a key name, got {name!r}")
            out.append(keys.event(t, wall, action == "press", name))
        elif action in ("pause", "resume"):
            out.append(ControlEvent(t, wall, str(action)))
        elif action == "_window":
            app = str(rec.get("top_window_name", ""))
            out.append(WindowEvent(t, wall, app, "", 0, 0, 0, screen[0], screen[1], screen[0], screen[1]))
        else:
            raise SchemaError(f"events.jsonl:{n}: action: unknown {action!r}")
    flush_motion()
    return out


__all__ = ["Recording", "read_recording"]
