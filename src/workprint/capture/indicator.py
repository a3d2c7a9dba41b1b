"""The recording indicator: a small always-on-top X11 window that shows whether recording is on.

It shows one of ``● REC`` (red), ``❚❚ PAUSED`` (amber), ``EXCLUDED`` (grey), ``NOT CONSENTED`` (grey ring) and
``SPOOL FULL`` (red) and toggles pause when clicked. ``rect`` is where it is on screen, so the agent can keep clicks
on it out of the recording. It is a dock-type window (``_NET_WM_WINDOW_TYPE_DOCK``) with ``_NET_WM_STATE_ABOVE``
and ``STICKY`` so EWMH window managers keep it above normal windows on every desktop; it also re-raises itself
whenever it is covered (``VisibilityNotify``), which covers window managers that ignore the hints. It never takes
the keyboard focus (``WM_HINTS.input`` false), so it does not disturb what is being recorded.

An optional global hotkey (``hotkey="ctrl+alt+Pause"``, grabbed on the root window with and without NumLock and
CapsLock) does the same as a click. X RECORD still sees the hotkey's key presses, like any other keys.

It runs in its own thread over its own X connection. ``start`` returns only once the window is mapped and raises
``CaptureError`` if it cannot be (no display, window never mapped): the agent must not record without it. ``alive``
turns false if the connection is lost later; the agent should then pause.

Where a system tray exists (a tray manager owns ``_NET_SYSTEM_TRAY_S<screen>``, now or later), a small icon in it
shows the same state and toggles pause on a click (``capture.tray``); without a tray nothing else is shown. A tray
that fails never stops the indicator window. ``hits(x, y)`` covers both, so the agent can keep clicks on either out
of the recording.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from Xlib import X, Xatom, Xutil
from Xlib.display import Display
from Xlib.error import BadAccess, CatchError, DisplayError, XError
from Xlib.xobject.drawable import Window
from Xlib.xobject.fontable import GC, Font

from workprint.capture.tray import TrayIcon
from workprint.errors import CaptureError, ConfigError

log = logging.getLogger(__name__)

LABELS = {
    "recording": "● REC", "paused": "❚❚ PAUSED", "excluded": "EXCLUDED", "not_consented": "NOT CONSENTED",
    "spool_full": "SPOOL FULL",
}  # fmt: skip
_ASCII = {
    "recording": "REC", "paused": "PAUSED", "excluded": "EXCLUDED", "not_consented": "NOT CONSENTED",
    "spool_full": "SPOOL FULL",
}  # fmt: skip
COLORS = {  # RGB of the mark drawn left of the text
    "recording": (0xE0, 0x1B, 0x24),
    "spool_full": (0xE0, 0x1B, 0x24),
    "paused": (0xF5, 0xA6, 0x23),
    "excluded": (0x9A, 0x9A, 0x9A),
    "not_consented": (0x9A, 0x9A, 0x9A),
}
BACKGROUND = (0x20, 0x20, 0x20)
WM_CLASS = ("workprint-indicator", "Workprint")
DEFAULT_HOTKEY = "ctrl+alt+Pause"
_MODIFIERS = {
    "ctrl": X.ControlMask, "control": X.ControlMask, "shift": X.ShiftMask, "alt": X.Mod1Mask, "mod1": X.Mod1Mask,
    "super": X.Mod4Mask, "mod4": X.Mod4Mask, "win": X.Mod4Mask,
}  # fmt: skip
_LOCKS = (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask)  # CapsLock and NumLock must not defeat the hotkey


def parse_hotkey(text: str) -> tuple[int, int]:
    """``"ctrl+alt+Pause"`` → (modifier mask, keysym); an unknown part raises ``ConfigError`` naming it."""
    from Xlib import XK

    parts = [p.strip() for p in text.split("+")]
    if not text.strip() or any(not p for p in parts):
        raise ConfigError(f"hotkey: expected e.g. 'ctrl+alt+Pause', got {text!r}")
    mask = 0
    for mod in parts[:-1]:
        if mod.lower() not in _MODIFIERS:
            raise ConfigError(f"hotkey: unknown modifier {mod!r} in {text!r}")
        mask |= _MODIFIERS[mod.lower()]
    key = parts[-1]
    keysym = XK.string_to_keysym(key) or XK.string_to_keysym(key.lower()) if len(key) == 1 else XK.string_to_keysym(key)
    if not keysym:
        raise ConfigError(f"hotkey: unknown key {key!r} in {text!r}")
    return mask, int(keysym)


class Indicator:
    """Show ``status()`` (one of ``LABELS``) in a corner of ``display``; call ``on_click()`` on a left click."""

    def __init__(
        self,
        display: str | None,
        status: Callable[[], str],
        on_click: Callable[[], object],
        *,
        size: tuple[int, int] = (124, 22),
        margin: int = 8,
        interval: float = 0.1,
        hotkey: str | None = None,
        tray: bool = True,
    ) -> None:
        self.display_name = display
        self.status = status
        self.on_click = on_click
        self.size = size
        self.margin = margin
        self.interval = interval
        self.hotkey = parse_hotkey(hotkey) if hotkey else None  # bad text fails here, before any window
        self._hotkey_code = 0
        self.use_tray = tray
        self.tray: TrayIcon | None = None  # set on the indicator's thread once the window is up
        self.window_id = 0
        self.rect: tuple[int, int, int, int] | None = None  # x, y, width, height on the root window, once mapped
        self.shown = ""  # the state currently drawn
        self.clicks = 0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: str = ""
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """True while the window is up and the thread runs."""
        return self._thread is not None and self._thread.is_alive() and self._ready.is_set() and not self._error

    @property
    def tray_rect(self) -> tuple[int, int, int, int] | None:
        """Where the tray icon is on the root window, while it is embedded in a tray."""
        tray = self.tray
        return tray.rect if tray is not None else None

    def hits(self, x: int, y: int) -> bool:
        """Whether root point (x, y) is on the indicator window or its tray icon (a click there is for workprint)."""
        return any(
            r is not None and r[0] <= x < r[0] + r[2] and r[1] <= y < r[1] + r[3] for r in (self.rect, self.tray_rect)
        )

    def start(self, timeout: float = 5.0) -> Indicator:
        """Map the window; raise ``CaptureError`` if it is not shown within ``timeout`` seconds."""
        self._thread = threading.Thread(target=self._run, name="workprint-indicator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error:
            self.stop()
            raise CaptureError(
                f"indicator: cannot show the recording indicator ({self._error or 'not mapped in time'})"
            )
        return self

    def stop(self) -> None:
        """Close the window and its connection."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=3)

    def _run(self) -> None:
        try:
            d = Display(self.display_name)
        except (DisplayError, OSError, XError) as exc:
            self._error = f"display {self.display_name!r}: {exc}"
            self._ready.set()
            return
        try:
            win, gc, font_ascent = self._create(d)
            self._wait_mapped(d, win)
            self._locate(d, win)
            self._grab_hotkey(d)
            self._start_tray(d, gc)
            self._ready.set()
            self._loop(d, win, gc, font_ascent)
        except Exception as exc:  # any X failure ends the indicator; ``alive`` tells the agent
            self._error = str(exc) or type(exc).__name__
            self._ready.set()
        finally:
            with contextlib.suppress(Exception):
                d.close()

    def _create(self, d: Display) -> tuple[Window, GC, int]:
        screen = d.screen()
        root = screen.root
        w, h = self.size
        x = int(screen.width_in_pixels) - w - self.margin
        win = root.create_window(
            x, self.margin, w, h, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
            background_pixel=self._pixel(d, BACKGROUND),
            event_mask=X.ExposureMask | X.ButtonPressMask | X.StructureNotifyMask | X.VisibilityChangeMask,
        )  # fmt: skip
        atom = d.intern_atom
        win.set_wm_class(*WM_CLASS)
        win.set_wm_hints(flags=Xutil.InputHint | Xutil.StateHint, input=0, initial_state=Xutil.NormalState)
        win.set_wm_normal_hints(
            flags=Xutil.USPosition | Xutil.PPosition | Xutil.PMinSize | Xutil.PMaxSize,
            x=x, y=self.margin, min_width=w, min_height=h, max_width=w, max_height=h,
        )  # fmt: skip
        win.change_property(atom("_NET_WM_WINDOW_TYPE"), Xatom.ATOM, 32, [atom("_NET_WM_WINDOW_TYPE_DOCK")])
        states = [
            "_NET_WM_STATE_ABOVE",
            "_NET_WM_STATE_STICKY",
            "_NET_WM_STATE_SKIP_TASKBAR",
            "_NET_WM_STATE_SKIP_PAGER",
        ]
        win.change_property(atom("_NET_WM_STATE"), Xatom.ATOM, 32, [atom(s) for s in states])
        self._set_title(d, win, "not_consented")
        font = d.open_font("fixed")
        if not isinstance(font, Font):
            raise CaptureError("indicator: the X server has no 'fixed' font")
        gc = win.create_gc(font=font, foreground=screen.white_pixel, background=self._pixel(d, BACKGROUND))
        ascent = int(font.query().font_ascent)
        win.map()
        d.flush()
        self.window_id = int(win.id)
        return win, gc, ascent

    def _start_tray(self, d: Display, gc: Any) -> None:
        if not self.use_tray:
            return
        try:
            tray = TrayIcon(d, self._painter(d, gc), background=self._pixel(d, BACKGROUND), wm_class=WM_CLASS)
            tray.dock()
        except XError as exc:  # the tray is a courtesy; the window is what must be on screen
            log.warning("indicator: no tray icon (%s)", exc)
            return
        self.tray = tray

    def _tray_do(self, op: Callable[[TrayIcon], object]) -> bool:
        # The tray is a courtesy: an X error there drops the icon, never the indicator window.
        tray = self.tray
        if tray is None:
            return False
        try:
            return bool(op(tray))
        except XError as exc:
            log.warning("indicator: tray icon dropped (%s)", exc)
            self.tray = None
            return False

    def _painter(self, d: Display, gc: Any) -> Callable[[Window, int, int, str], None]:
        def paint(win: Window, w: int, h: int, state: str) -> None:
            side = min(w, h)
            self._mark(d, win, gc, state, (w - side) // 2 + 3, (h - side) // 2 + 3, max(2, side - 6))

        return paint

    def _locate(self, d: Display, win: Window) -> None:
        # Where the window really is on the root (the window manager may have moved or reparented it).
        pos = win.translate_coords(d.screen().root, 0, 0)
        geo = win.get_geometry()
        self.rect = (-int(pos.x), -int(pos.y), int(geo.width), int(geo.height))

    def _wait_mapped(self, d: Display, win: Window) -> None:
        # The window manager may reparent first; MapNotify on our window is the proof it is on screen.
        # A window manager that is still starting may drop the map request (openbox right after it announced
        # itself, seen on Xvfb): ask again every half second until the window is viewable.
        asked = time.monotonic()
        while not self._stop.is_set():
            if not d.pending_events():
                r, _, _ = select.select([d.fileno()], [], [], 0.05)
                if not r:
                    if win.get_attributes().map_state == X.IsViewable:
                        return
                    if time.monotonic() - asked > 0.5:
                        win.map()
                        d.flush()
                        asked = time.monotonic()
                    continue
            ev = d.next_event()
            if ev.type == X.MapNotify and ev.window.id == win.id:
                return
        raise CaptureError("indicator: stopped before it was mapped")

    def _loop(self, d: Display, win: Window, gc: GC, ascent: int) -> None:
        self.shown = ""
        while not self._stop.is_set():
            state = self.status()
            if state != self.shown:
                self._set_title(d, win, state)
                self._draw(d, win, gc, ascent, state)
            self._tray_do(functools.partial(TrayIcon.refresh, state=state))
            while d.pending_events():
                ev = d.next_event()
                tray = self.tray
                if tray is not None and tray.owns(ev):
                    if self._tray_do(lambda t: t.handle(ev)):  # noqa: B023 (called at once)
                        self.clicks += 1
                        self.on_click()
                elif ev.type == X.Expose and ev.count == 0:
                    self._draw(d, win, gc, ascent, self.shown)
                elif self._is_toggle(ev):
                    self.clicks += 1
                    self.on_click()
                elif ev.type == X.VisibilityNotify and ev.state != X.VisibilityUnobscured:
                    win.configure(stack_mode=X.Above)  # something covered us: come back on top
                    d.flush()
                elif ev.type == X.ConfigureNotify and ev.window.id == win.id:
                    self._locate(d, win)
                elif ev.type == X.DestroyNotify and ev.window.id == win.id:
                    raise CaptureError("indicator: window destroyed")
            select.select([d.fileno()], [], [], self.interval)
        if self.tray is not None:
            self.tray.destroy()
        win.destroy()
        d.flush()

    def _is_toggle(self, ev: Any) -> bool:
        if ev.type == X.ButtonPress:
            return bool(ev.detail == 1)
        return bool(ev.type == X.KeyPress and self._hotkey_code and ev.detail == self._hotkey_code)

    def _grab_hotkey(self, d: Display) -> None:
        if self.hotkey is None:
            return
        mask, keysym = self.hotkey
        code = d.keysym_to_keycode(keysym)
        if not code:
            raise CaptureError(f"indicator: hotkey key {keysym:#x} is not on this keyboard")
        root = d.screen().root
        caught = CatchError(BadAccess)
        for lock in _LOCKS:
            root.grab_key(code, mask | lock, False, X.GrabModeAsync, X.GrabModeAsync, onerror=caught)
        d.sync()  # a grab already held by another client shows up as BadAccess here, before start() returns
        if caught.get_error() is not None:
            raise CaptureError(f"indicator: the pause hotkey is already taken by another program ({keysym:#x})")
        self._hotkey_code = code

    def _set_title(self, d: Display, win: Window, state: str) -> None:
        label = LABELS.get(state, state)
        win.set_wm_name(f"workprint: {_ASCII.get(state, state)}")
        win.change_property(d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING"), 8, label.encode("utf-8"))
        d.flush()

    def _draw(self, d: Display, win: Window, gc: Any, ascent: int, state: str) -> None:
        # ``gc: Any``: the python-xlib stubs type drawing calls' GC argument as an int id.
        w, h = self.size
        win.clear_area(0, 0, w, h)
        self._mark(d, win, gc, state, 4, 4, h - 8)
        gc.change(foreground=d.screen().white_pixel)
        win.draw_text(gc, 22, (h + ascent) // 2 - 1, _ASCII.get(state, state))  # type: ignore[arg-type]
        d.flush()
        self.shown = state

    def _mark(self, d: Display, win: Window, gc: Any, state: str, x: int, y: int, r: int) -> None:
        # The state's mark in an r-by-r square at (x, y): a dot, two pause bars, or a ring (not consented).
        gc.change(foreground=self._pixel(d, COLORS.get(state, COLORS["not_consented"])))
        if state == "paused":
            bar = max(1, r // 3)
            win.fill_rectangle(gc, x + 1, y, bar, r)
            win.fill_rectangle(gc, x + r - bar - 1, y, bar, r)
        elif state == "not_consented":
            win.arc(gc, x, y, r, r, 0, 360 * 64)
        else:
            win.fill_arc(gc, x, y, r, r, 0, 360 * 64)

    @staticmethod
    def _pixel(d: Display, rgb: tuple[int, int, int]) -> int:
        cmap = d.screen().default_colormap
        return int(cmap.alloc_color(rgb[0] * 257, rgb[1] * 257, rgb[2] * 257).pixel)


__all__ = [
    "COLORS",
    "DEFAULT_HOTKEY",
    "LABELS",
    "Indicator",
    "parse_hotkey",
]
