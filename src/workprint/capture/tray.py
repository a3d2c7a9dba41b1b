"""A system tray icon for the recording indicator, where a tray exists (freedesktop System Tray Protocol, XEmbed).

A tray manager owns the selection ``_NET_SYSTEM_TRAY_S<screen>``. ``TrayIcon.dock`` creates a small window with
``_XEMBED_INFO`` (mapped flag set, so the tray maps it) and asks the owner to embed it with a
``_NET_SYSTEM_TRAY_OPCODE`` / ``SYSTEM_TRAY_REQUEST_DOCK`` client message; the tray then reparents it into its panel.
Without an owner nothing is created. A tray that starts later announces itself with a ``MANAGER`` client message on
the root window, and the icon docks then. When the tray goes away the icon is either destroyed with it or put back on
the root by the X save-set; it is then destroyed so no stray window is left, and a new one docks at the next
``MANAGER``.

``TrayIcon`` makes no thread or connection of its own: the indicator's thread feeds it every event (``owns`` then
``handle``) and draws the state through the ``paint`` callback it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from Xlib import X, Xatom, Xutil
from Xlib.display import Display
from Xlib.error import XError
from Xlib.protocol import event
from Xlib.xobject.drawable import Window

SYSTEM_TRAY_REQUEST_DOCK = 0
XEMBED_VERSION = 0
XEMBED_MAPPED = 1 << 0
ICON_SIZE = 22
Paint = Callable[[Window, int, int, str], None]  # window, width, height, state: draw the state on the window


class TrayIcon:
    """The indicator's icon in the system tray of ``d``'s default screen (if a tray manager runs there)."""

    def __init__(self, d: Display, paint: Paint, *, background: int, wm_class: tuple[str, str]) -> None:
        self.d = d
        self.paint = paint
        self.background = background
        self.wm_class = wm_class
        self.root = d.screen().root
        self.window: Window | None = None
        self.tray = 0  # the tray manager window asked to embed the icon
        self.embedded = False  # reparented into the tray (not on the root)
        self.size = (ICON_SIZE, ICON_SIZE)
        self.rect: tuple[int, int, int, int] | None = None  # on the root, while embedded and mapped
        self.state = ""
        self.docks = 0  # how many dock requests were sent (a tray restarting asks for another)
        atom = d.intern_atom
        self._selection = atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
        self._opcode = atom("_NET_SYSTEM_TRAY_OPCODE")
        self._manager = atom("MANAGER")
        self._xembed_info = atom("_XEMBED_INFO")
        self._mapped = False
        # A tray started later announces itself to root StructureNotify listeners.
        self.root.change_attributes(event_mask=X.StructureNotifyMask)

    def dock(self) -> bool:
        """Ask the current tray manager to embed the icon; False (and nothing created) when there is no tray."""
        owner: Any = self.d.get_selection_owner(self._selection)  # a Window, or X.NONE; the stubs say int
        owner_id = int(getattr(owner, "id", owner) or 0)
        if not owner_id:
            return False
        if self.window is None:
            self.window = self._create()
        tray = self.d.create_resource_object("window", owner_id)
        data = [X.CurrentTime, SYSTEM_TRAY_REQUEST_DOCK, int(self.window.id), 0, 0]
        tray.send_event(event.ClientMessage(window=tray, client_type=self._opcode, data=(32, data)), X.NoEventMask)
        self.d.flush()
        self.tray = owner_id
        self.docks += 1
        return True

    def _create(self) -> Window:
        screen = self.d.screen()
        w, h = self.size
        win: Window = self.root.create_window(
            0, 0, w, h, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
            background_pixel=self.background,
            event_mask=X.ExposureMask | X.ButtonPressMask | X.StructureNotifyMask,
        )  # fmt: skip
        win.set_wm_class(*self.wm_class)
        win.set_wm_name("workprint")
        # The tray sizes its socket from these (a GtkSocket without them gives the icon 1 pixel of width).
        win.set_wm_normal_hints(
            flags=Xutil.PMinSize | Xutil.PBaseSize, min_width=w, min_height=h, base_width=w, base_height=h
        )
        win.change_property(self._xembed_info, self._xembed_info, 32, [XEMBED_VERSION, XEMBED_MAPPED])
        win.change_property(self.d.intern_atom("_NET_WM_NAME"), Xatom.STRING, 8, b"workprint")
        return win

    def owns(self, ev: Any) -> bool:
        """Whether ``ev`` is for the icon (or is a tray manager announcing itself)."""
        if ev.type == X.ClientMessage and ev.window.id == self.root.id:
            return bool(ev.client_type == self._manager)
        window = getattr(ev, "window", None)
        return self.window is not None and window is not None and int(window.id) == int(self.window.id)

    def handle(self, ev: Any) -> bool:
        """React to one of the icon's events; True when it was a left click (toggle pause)."""
        if ev.type == X.ClientMessage:
            if ev.window.id == self.root.id and int(ev.data[1][1]) == self._selection:
                self.dock()
            return False
        if ev.type == X.ButtonPress:
            return bool(ev.detail == 1)
        if ev.type == X.Expose and ev.count == 0:
            self.draw()
        elif ev.type == X.ConfigureNotify:
            self.size = (int(ev.width), int(ev.height))
            self.locate()
            self.draw()
        elif ev.type == X.ReparentNotify:
            self.embedded = int(ev.parent.id) != int(self.root.id)
            if not self.embedded:  # the tray died and the X save-set put the icon on the root: no stray window
                self.destroy()
                self._mapped, self.rect = False, None
                return False
            self.locate()
        elif ev.type in (X.MapNotify, X.UnmapNotify):
            self._mapped = ev.type == X.MapNotify
            self.locate()
            self.draw()
        elif ev.type == X.DestroyNotify:  # destroyed with the tray's window
            self.window, self.embedded, self._mapped, self.rect = None, False, False, None
        return False

    def locate(self) -> None:
        """Refresh ``rect`` (the tray may move its panel without telling the icon)."""
        if self.window is None or not (self.embedded and self._mapped):
            self.rect = None
            return
        try:
            pos = self.window.translate_coords(int(self.root.id), 0, 0)
        except XError:
            self.rect = None
            return
        self.rect = (-int(pos.x), -int(pos.y), *self.size)

    def refresh(self, state: str) -> None:
        """Once per indicator tick: draw ``state`` if it changed and re-read ``rect`` (a tray may move its panel
        without telling the icon)."""
        self.show(state)
        self.locate()

    def show(self, state: str) -> None:
        """Draw ``state`` (when it changed)."""
        if state != self.state:
            self.state = state
            self.draw()

    def draw(self) -> None:
        """Paint the current state on the icon, if it is on screen."""
        if self.window is None or not self._mapped or not self.state:
            return
        w, h = self.size
        self.window.clear_area(0, 0, w, h)
        self.paint(self.window, w, h, self.state)
        self.d.flush()

    def destroy(self) -> None:
        """Remove the icon from the tray."""
        if self.window is not None:
            self.window.destroy()
            self.d.flush()
            self.window = None


__all__ = ["ICON_SIZE", "SYSTEM_TRAY_REQUEST_DOCK", "TrayIcon"]
