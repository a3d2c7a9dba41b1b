"""Window context: which top-level window has focus, its app, title, pid and geometry.

``decode_text`` is pure (title bytes by property type); the rest queries an X connection owned by one thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from Xlib import X
from Xlib.display import Display
from Xlib.error import XError
from Xlib.xobject.drawable import Window

_ESC = 0x1B
# ISO 2022 designations used by COMPOUND_TEXT (xterm's WM_NAME): final byte -> Python codec.
_RIGHT_96 = {ord("A"): "iso8859-1", ord("B"): "iso8859-2", ord("C"): "iso8859-3", ord("D"): "iso8859-4"}
_RIGHT_96 |= {ord("F"): "iso8859-7", ord("G"): "iso8859-6", ord("H"): "iso8859-8", ord("L"): "iso8859-5"}
_RIGHT_96 |= {ord("M"): "iso8859-9"}
_MULTI_94 = {ord("A"): "gb2312", ord("B"): "euc_jp", ord("C"): "euc_kr"}


@dataclass(frozen=True, slots=True)
class WindowInfo:
    """What WindowEvent reports about a top-level window."""

    app: str
    title: str
    pid: int
    x: int
    y: int
    width: int
    height: int


def decode_text(type_name: str, data: bytes) -> str:
    """Decode a text property by its type: UTF8_STRING, STRING (Latin-1, often UTF-8 in practice), COMPOUND_TEXT."""
    if type_name == "COMPOUND_TEXT":
        return decode_compound_text(data)
    if type_name == "STRING":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    return data.decode("utf-8", errors="replace")


def decode_compound_text(data: bytes) -> str:
    """Decode X11 COMPOUND_TEXT: ASCII/Latin-1 by default, ISO 2022 switches, and UTF-8 extended segments."""
    out: list[str] = []
    gl, gr = "ascii", "iso8859-1"
    multi = False  # whether GL/GR hold a 94^n multibyte set, decoded through EUC (GL bytes shifted to GR)
    i, n = 0, len(data)
    while i < n:
        if data[i] == _ESC:
            if data[i + 1 : i + 3] == b"%G":  # UTF-8 until ESC % @
                end = data.find(b"\x1b%@", i + 3)
                end = n if end < 0 else end
                out.append(data[i + 3 : end].decode("utf-8", errors="replace"))
                i = end + 3
                continue
            if data[i + 1 : i + 2] == b"-" and i + 2 < n:
                gr, multi, i = _RIGHT_96.get(data[i + 2], "iso8859-1"), False, i + 3
                continue
            if data[i + 1 : i + 2] == b"(" and i + 2 < n:
                gl, multi, i = "ascii", False, i + 3
                continue
            if data[i + 1 : i + 2] == b"$" and i + 3 < n and data[i + 2] in b"()":
                codec = _MULTI_94.get(data[i + 3], "euc_jp")
                gl = gr = codec
                multi, i = True, i + 4
                continue
            i += 1
            continue
        j = i
        while j < n and data[j] != _ESC:
            j += 1
        chunk = data[i:j]
        if multi:
            out.append(bytes(b | 0x80 if b > 0x20 else b for b in chunk).decode(gl, errors="replace"))
        else:
            out.append("".join(chr(b) if b < 0x80 else bytes([b]).decode(gr, errors="replace") for b in chunk))
        i = j
    return "".join(out)


class WindowQuery:
    """Queries about windows over one X connection (use it from one thread only)."""

    def __init__(self, display: Display) -> None:
        self.d = display
        self.root = display.screen().root
        atom = display.intern_atom
        self.NET_ACTIVE_WINDOW = atom("_NET_ACTIVE_WINDOW")
        self.NET_WM_NAME = atom("_NET_WM_NAME")
        self.WM_NAME = atom("WM_NAME")
        self.WM_CLASS = atom("WM_CLASS")
        self.NET_WM_PID = atom("_NET_WM_PID")
        self.WM_STATE = atom("WM_STATE")
        self._has_res = display.has_extension("X-Resource")

    def screen_size(self) -> tuple[int, int]:
        """Width and height of the default screen in pixels."""
        s = self.d.screen()
        return int(s.width_in_pixels), int(s.height_in_pixels)

    def active_window(self) -> int:
        """The focused top-level client window id (0 if none): _NET_ACTIVE_WINDOW, else walk up from the focus."""
        try:
            prop = self.root.get_full_property(self.NET_ACTIVE_WINDOW, X.AnyPropertyType)
            if prop is not None:
                # An EWMH WM says which client is active; None (0) means the desktop, not its own helper window.
                return int(prop.value[0]) if len(prop.value) else 0
            focus = self.d.get_input_focus().focus
            if isinstance(focus, int) or focus is None:
                return 0
            return self._client_of(focus)
        except XError:
            return 0

    def has_ewmh(self) -> bool:
        """Whether a window manager publishes _NET_ACTIVE_WINDOW (then focus changes arrive as PropertyNotify)."""
        try:
            return self.root.get_full_property(self.NET_ACTIVE_WINDOW, X.AnyPropertyType) is not None
        except XError:
            return False

    def _client_of(self, win: Window) -> int:
        # Under a reparenting WM the focus may be a frame or a child: the client is the one with WM_STATE.
        # Walk up to the top-level window (child of the root), then look down from it if nothing matched.
        cur, top = win, win
        while cur.id != self.root.id:
            if cur.get_full_property(self.WM_STATE, X.AnyPropertyType) is not None:
                return int(cur.id)
            parent = cur.query_tree().parent
            if isinstance(parent, int) or parent is None:
                break
            top, cur = cur, parent
        if top.id == self.root.id:
            return 0
        queue, seen = [top], 0
        while queue and seen < 64:
            node = queue.pop(0)
            seen += 1
            if node.get_full_property(self.WM_STATE, X.AnyPropertyType) is not None:
                return int(node.id)
            queue.extend(node.query_tree().children)
        return int(top.id)  # no WM at all: the top-level window is the client

    def info(self, wid: int) -> WindowInfo | None:
        """App (WM_CLASS class), title, pid and root geometry of a window; None if it is gone.

        Window 0 (no focused client, e.g. the desktop) gives an empty WindowInfo."""
        if not wid:
            return WindowInfo("", "", 0, 0, 0, 0, 0)
        win = self.d.create_resource_object("window", wid)
        try:
            title = self._text(win, self.NET_WM_NAME) or self._text(win, self.WM_NAME)
            cls = win.get_full_property(self.WM_CLASS, X.AnyPropertyType)
            parts = bytes(cls.value).split(b"\0") if cls is not None and isinstance(cls.value, bytes) else []
            app = parts[1].decode("utf-8", "replace") if len(parts) > 1 else ""
            geom = win.get_geometry()
            pos = win.translate_coords(self.root, 0, 0)
            return WindowInfo(app, title, self._pid(win), -int(pos.x), -int(pos.y), int(geom.width), int(geom.height))
        except XError:
            return None

    def _text(self, win: Window, atom: int) -> str:
        prop = win.get_full_property(atom, X.AnyPropertyType)
        if prop is None or not isinstance(prop.value, bytes | str):
            return ""
        value = prop.value if isinstance(prop.value, bytes) else prop.value.encode("latin-1")
        return decode_text(self.d.get_atom_name(prop.property_type), value)

    def _pid(self, win: Window) -> int:
        prop = win.get_full_property(self.NET_WM_PID, X.AnyPropertyType)
        if prop is not None and len(prop.value):
            return int(prop.value[0])
        if not self._has_res:
            return 0
        from Xlib.ext import res

        reply = self.d.res_query_client_ids([{"client": win.id, "mask": res.LocalClientPIDMask}])
        for cid in reply.ids:
            if cid.spec.mask & res.LocalClientPIDMask and cid.value:
                return int(cid.value[0])
        return 0


__all__ = ["WindowInfo", "WindowQuery", "decode_compound_text", "decode_text"]
