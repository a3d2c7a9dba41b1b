"""Which top-level windows are on screen now: app, title and rectangle, for blanking excluded windows out of frames.

``VisibleWindows(display)`` is the ``visible_windows`` provider of ``privacy.exclusion_step.ExclusionStep``. Over its
own X connection it lists the window manager's clients (``_NET_CLIENT_LIST_STACKING``, else ``_NET_CLIENT_LIST``;
without an EWMH window manager, the root's children) and keeps those that are viewable (mapped, with their frame
mapped: not minimised, not on another desktop) and not ``_NET_WM_STATE_HIDDEN``. The step asks once per frame, so one
listing is reused for ``max_age`` seconds.

Failing to list (X connection lost) raises ``RedactionError``: the step then drops the frame rather than keep it
unblanked, and the next call reconnects. A window gone between the listing and its queries is simply left out.

Limitations: override-redirect windows (menus, tooltips) are not clients and are not listed; the list is as of when
the privacy worker handles the frame, which may be a little after the frame was taken.
"""

from __future__ import annotations

import contextlib
import threading
import time

from Xlib import X
from Xlib.display import Display
from Xlib.error import ConnectionClosedError, DisplayError, XError
from Xlib.xobject.drawable import Window

from workprint.capture.window import decode_text
from workprint.errors import RedactionError
from workprint.privacy.exclusion_step import VisibleWindow

DEFAULT_MAX_AGE_S = 0.1


def parse_wm_class(value: bytes) -> str:
    """The class part of a ``WM_CLASS`` value (``b"instance\\0Class\\0"`` → ``"Class"``); "" if there is none."""
    parts = value.split(b"\0")
    return parts[1].decode("utf-8", "replace") if len(parts) > 1 else ""


class VisibleWindows:
    """Callable provider of the visible top-level windows of ``display`` (bottom to top), cached ``max_age`` s."""

    def __init__(self, display: str | None, *, max_age: float = DEFAULT_MAX_AGE_S) -> None:
        self.display_name = display
        self.max_age = max_age
        self.listings = 0  # how many times the X server was asked (the rest came from the cache)
        self._d: Display | None = None
        self._atoms: dict[str, int] = {}
        self._cached: list[VisibleWindow] = []
        self._cached_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self) -> list[VisibleWindow]:
        """The visible windows as ``(app, title, (x, y, width, height))``; raises ``RedactionError`` if X fails."""
        with self._lock:
            now = time.monotonic()
            if self._cached_at is not None and now - self._cached_at < self.max_age:
                return list(self._cached)
            try:
                windows = self._list(self._connect())
            except (XError, ConnectionClosedError, DisplayError, OSError) as exc:
                self._close()
                raise RedactionError(f"visible windows: cannot list windows on {self.display_name!r} ({exc})") from None
            self.listings += 1
            self._cached, self._cached_at = windows, time.monotonic()
            return list(windows)

    def close(self) -> None:
        """Close the X connection (a later call opens a new one)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._d is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to release
                self._d.close()
        self._d, self._cached_at = None, None

    def _connect(self) -> Display:
        if self._d is None:
            d = Display(self.display_name)
            names = ("_NET_CLIENT_LIST_STACKING", "_NET_CLIENT_LIST", "_NET_WM_NAME", "WM_NAME", "WM_CLASS")
            self._atoms = {n: d.intern_atom(n) for n in (*names, "_NET_WM_STATE", "_NET_WM_STATE_HIDDEN")}
            self._d = d
        return self._d

    def _list(self, d: Display) -> list[VisibleWindow]:
        root = d.screen().root
        ids: list[int] = []
        for name in ("_NET_CLIENT_LIST_STACKING", "_NET_CLIENT_LIST"):
            prop = root.get_full_property(self._atoms[name], X.AnyPropertyType)
            if prop is not None and len(prop.value):
                ids = [int(w) for w in prop.value]
                break
        else:  # no EWMH window manager: the root's children are the top-level windows (bottom to top)
            ids = [int(w.id) for w in root.query_tree().children]
        out: list[VisibleWindow] = []
        for wid in ids:
            try:
                seen = self._visible(d, root, d.create_resource_object("window", wid))
            except XError:  # closed while we looked: it is not on screen any more
                continue
            if seen is not None:
                out.append(seen)
        return out

    def _visible(self, d: Display, root: Window, win: Window) -> VisibleWindow | None:
        if win.get_attributes().map_state != X.IsViewable:
            return None  # unmapped, minimised or on another desktop (its frame is unmapped)
        state = win.get_full_property(self._atoms["_NET_WM_STATE"], X.AnyPropertyType)
        if state is not None and self._atoms["_NET_WM_STATE_HIDDEN"] in [int(a) for a in state.value]:
            return None
        cls = win.get_full_property(self._atoms["WM_CLASS"], X.AnyPropertyType)
        app = parse_wm_class(bytes(cls.value)) if cls is not None and isinstance(cls.value, bytes) else ""
        title = self._text(d, win, "_NET_WM_NAME") or self._text(d, win, "WM_NAME")
        geom = win.get_geometry()
        pos = win.translate_coords(int(root.id), 0, 0)  # root origin in window coordinates: negate it
        return (app, title, (-int(pos.x), -int(pos.y), int(geom.width), int(geom.height)))

    def _text(self, d: Display, win: Window, name: str) -> str:
        prop = win.get_full_property(self._atoms[name], X.AnyPropertyType)
        if prop is None or not isinstance(prop.value, bytes | str):
            return ""
        value = prop.value if isinstance(prop.value, bytes) else prop.value.encode("latin-1")
        return decode_text(d.get_atom_name(prop.property_type), value)


__all__ = ["DEFAULT_MAX_AGE_S", "VisibleWindows", "parse_wm_class"]
