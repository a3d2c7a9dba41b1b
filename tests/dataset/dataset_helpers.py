"""A tape recorder for hand-built event lists: it keeps the clock, pairs keycodes, and adds a pre-action frame
before every action event exactly as capture does (frame id ``f<t_ns>``, ``action_t_ns`` = the action's time)."""

from __future__ import annotations

import io

from PIL import Image

from workprint.models import (
    ALL_SCOPES,
    ButtonEvent,
    ControlEvent,
    Event,
    FrameEvent,
    KeyEvent,
    MotionEvent,
    ScrollEvent,
    WindowEvent,
)
from workprint.segment import Segment, SegmentHeader, count_kinds, generate_keypair, open_sealed, seal

MS = 1_000_000
SCREEN = (1000, 500)
_MOD_OF = {"Shift_L": "shift", "Control_L": "ctrl", "Alt_L": "alt", "Super_L": "super"}


def fid(t_ns: int) -> str:
    """The frame id the tape gives the frame taken for an action at ``t_ns``."""
    return f"f{t_ns}"


class Tape:
    """Builds an event list; every method advances the clock by ``step_ms`` after each event."""

    def __init__(self, app: str = "xterm", title: str = "~", screen: tuple[int, int] | None = SCREEN) -> None:
        self.t = 1_000 * MS
        self.step = 20 * MS
        self.events: list[Event] = []
        self.frames = True
        self.mods: list[str] = []
        self._codes: dict[str, int] = {}
        if screen is not None:
            self.window(app, title, screen=screen)

    def tick(self, ms: int | None = None) -> int:
        """Advance the clock (by ``ms`` or one step); return the time before advancing."""
        t = self.t
        self.t += self.step if ms is None else ms * MS
        return t

    def _action(self, event: Event) -> Event:
        if self.frames:
            self.events.append(FrameEvent(event.t_ns - MS, 0, fid(event.t_ns), 8, 8, "webp", "0" * 64, event.t_ns))
        self.events.append(event)
        return event

    def code(self, keysym: str) -> int:
        """A stable keycode per keysym (releases must carry their press's keycode)."""
        return self._codes.setdefault(keysym.lower(), 10 + len(self._codes))

    def key_down(self, keysym: str, text: str = "") -> int:
        """Press a key with the modifiers held now; modifier keys become held. Returns the press time."""
        t = self.tick()
        mods = tuple(m for m in ("ctrl", "alt", "shift", "super") if m in self.mods)
        self._action(KeyEvent(t, 0, True, self.code(keysym), keysym, text, mods))
        if keysym in _MOD_OF:
            self.mods.append(_MOD_OF[keysym])
        return t

    def key_up(self, keysym: str) -> int:
        """Release a key."""
        if keysym in _MOD_OF and _MOD_OF[keysym] in self.mods:
            self.mods.remove(_MOD_OF[keysym])
        t = self.tick()
        mods = tuple(m for m in ("ctrl", "alt", "shift", "super") if m in self.mods)
        self.events.append(KeyEvent(t, 0, False, self.code(keysym), keysym, "", mods))
        return t

    def key(self, keysym: str, text: str = "") -> int:
        """Press and release; returns the press time."""
        t = self.key_down(keysym, text)
        self.key_up(keysym)
        return t

    def type(self, text: str) -> int:
        """Type text as xdotool would: Shift around capitals. Returns the first input event's time."""
        first = self.t
        for ch in text:
            sym = "space" if ch == " " else ch
            if ch.isupper():
                self.key_down("Shift_L")
                self.key(sym, ch)
                self.key_up("Shift_L")
            else:
                self.key(sym, ch)
        return first

    def redacted(self, placeholder: str) -> int:
        """The redaction step's placeholder press."""
        t = self.tick()
        self._action(KeyEvent(t, 0, True, 0, "Redacted", placeholder, ()))
        return t

    def button(self, press: bool, x: int, y: int, button: int = 1) -> int:
        """One button press or release."""
        t = self.tick()
        event = ButtonEvent(t, 0, press, x, y, button)
        if press:
            self._action(event)
        else:
            self.events.append(event)
        return t

    def click(self, x: int, y: int, button: int = 1) -> tuple[int, int]:
        """Press and release at one spot; returns (press time, release time)."""
        return self.button(True, x, y, button), self.button(False, x, y, button)

    def scroll(self, x: int, y: int, dx: int = 0, dy: int = 0) -> int:
        """One wheel notch."""
        t = self.tick()
        self._action(ScrollEvent(t, 0, x, y, dx, dy))
        return t

    def move(self, *points: tuple[int, int]) -> int:
        """A coalesced motion along ``points``."""
        t = self.tick()
        path = tuple((t + i * MS, x, y) for i, (x, y) in enumerate(points))
        self.events.append(MotionEvent(t, 0, path))
        return t

    def window(
        self, app: str, title: str, pid: int = 100, geometry: tuple[int, int, int, int] = (0, 0, 800, 400),
        screen: tuple[int, int] = SCREEN,
    ) -> int:  # fmt: skip
        """Focus (or retitle) a window."""
        t = self.tick()
        self.events.append(WindowEvent(t, 0, app, title, pid, *geometry, *screen))
        return t

    def control(self, kind: str) -> int:
        """A control marker."""
        t = self.tick()
        self.events.append(ControlEvent(t, 0, kind))
        return t


def png_bytes(color: tuple[int, int, int], fmt: str = "WEBP") -> bytes:
    """A small real image."""
    out = io.BytesIO()
    Image.new("RGB", (16, 10), color).save(out, format=fmt)
    return out.getvalue()


def sealed_and_opened(
    participant: str, session: str, seq: int, events: list[Event], frames: dict[str, bytes]
) -> Segment:
    """A segment sealed to a fresh key and opened again, as the server would hand it to the dataset builder."""
    sk, pk = generate_keypair()
    times = [e.t_ns for e in events]
    header = SegmentHeader(
        participant=participant,
        device="dev-1",
        session=session,
        seq=seq,
        t_start_ns=min(times),
        t_end_ns=max(times),
        wall_start_ns=0,
        wall_end_ns=0,
        scopes=ALL_SCOPES,
        notice_version="1",
        redactor_version="test",
        counts=count_kinds(events),
    )
    return open_sealed(seal(header, events, frames, pk), sk)
