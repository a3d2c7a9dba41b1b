"""How long the user has been idle and whether the screen is locked, read from the X server (for automatic pause).

``ScreenProbe.read`` asks the MIT-SCREEN-SAVER extension for the server's idle time (milliseconds since the last
real input, which is what the idle rule needs) and whether the screen saver is on, and looks at the focused
window's WM_CLASS: a lock-screen program (``privacy.exclusions.LOCK_SCREENS``) in focus counts as locked. The
decision itself is pure (``privacy.pause.auto_pause_reason``). Use one probe from one thread.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from Xlib.display import Display
from Xlib.error import DisplayError, XError

from workprint.capture.window import WindowQuery
from workprint.errors import CaptureError
from workprint.privacy.exclusions import LOCK_SCREENS

_SCREENSAVER_ON = 1


@dataclass(frozen=True, slots=True)
class ScreenReading:
    """Idle seconds (server-side) and whether the screen is locked (screen saver on, or a locker focused)."""

    idle_s: float
    locked: bool
    why: str = ""  # "screen saver", "lock screen <class>" or ""


class ScreenProbe:
    """Reads idle time and lock state over its own X connection."""

    def __init__(self, display: str) -> None:
        try:
            self.d = Display(display)
        except (DisplayError, OSError, XError) as exc:
            raise CaptureError(f"display {display!r}: cannot open it for the lock probe ({exc})") from None
        self._has_ss = bool(self.d.has_extension("MIT-SCREEN-SAVER"))
        self._windows = WindowQuery(self.d)
        self._lockers = frozenset(LOCK_SCREENS)

    def read(self) -> ScreenReading:
        """One reading; without the screen-saver extension, idle is 0 and only a focused locker counts."""
        idle_s, saver = 0.0, False
        if self._has_ss:
            info = self.d.screen().root.screensaver_query_info()
            idle_s, saver = int(info.idle) / 1000.0, int(info.state) == _SCREENSAVER_ON
        if saver:
            return ScreenReading(idle_s, True, "screen saver")
        win = self._windows.active_window()
        info_w = self._windows.info(win) if win else None
        if info_w is not None and info_w.app.lower() in self._lockers:
            return ScreenReading(idle_s, True, f"lock screen {info_w.app}")
        return ScreenReading(idle_s, False)

    def close(self) -> None:
        """Close the X connection."""
        with contextlib.suppress(Exception):
            self.d.close()


__all__ = ["ScreenProbe", "ScreenReading"]
