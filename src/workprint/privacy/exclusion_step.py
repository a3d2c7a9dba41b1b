"""The exclusion step of the privacy gate, and blanking excluded windows out of frames.

While the focused window (the latest ``WindowEvent``) is excluded, nothing passes: no keys, buttons, scrolls,
motion, frames or window records (so not even its title) — only ``ControlEvent("exclusion_enter")`` when it gains
focus and ``ControlEvent("exclusion_leave", duration_ms=...)`` when focus moves to a recordable window. Control
records (session, pause) still pass: they carry nothing of the window.

Frames taken while a recordable window has focus get the rectangles of visible excluded windows blanked. Where those
rectangles come from: by default the step remembers the geometry of every excluded window it saw focused, keyed by
(app, pid, geometry), and forgets one when a recordable window with the same key is focused (a browser tab switched
away from a private page). Limitation: it cannot know that a remembered window was closed, moved, minimised or
covered, nor see excluded windows that never had focus; it therefore may blank too much (safe) and misses
never-focused excluded windows. An agent that can list visible windows (``_NET_CLIENT_LIST_STACKING`` + geometry)
passes ``visible_windows`` and the step uses that list instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Callable, Sequence

from PIL import ImageDraw

from workprint.errors import RedactionError
from workprint.imaging import open_frame
from workprint.models import ControlEvent, Event, FrameEvent, WindowEvent
from workprint.privacy.exclusions import ExclusionRules
from workprint.privacy.gate import Item

Rect = tuple[int, int, int, int]  # x, y, width, height in screen pixels
# WindowEvent geometry is the client area; the window manager's frame around it shows the title too, so blanking
# grows each rectangle by this much (left, top, right, bottom) to cover ordinary title bars and borders.
DECORATION_PAD = (8, 32, 8, 8)
MAX_REMEMBERED = 64
VisibleWindow = tuple[str, str, Rect]  # app (WM_CLASS class), title, rect


def blank_rects(image_bytes: bytes, rects: Sequence[Rect], *, scale: tuple[float, float] = (1.0, 1.0)) -> bytes:
    """Return the image (JPEG/WebP/PNG) with ``rects`` filled black, re-encoded in the same format.

    ``scale`` maps screen coordinates to image pixels when frames are downscaled. Undecodable input raises
    ``RedactionError`` so the caller drops the frame (fail closed).
    """
    try:
        src = open_frame(image_bytes)
        fmt = src.format or "PNG"
        img = src.convert("RGB")
    except Exception as exc:
        raise RedactionError(f"frame: cannot decode image for blanking ({exc})") from None
    draw = ImageDraw.Draw(img)
    sx, sy = scale
    for x, y, w, h in rects:
        if w <= 0 or h <= 0:
            continue
        x0, y0 = max(0, int(x * sx)), max(0, int(y * sy))
        x1, y1 = min(img.width, int((x + w) * sx)) - 1, min(img.height, int((y + h) * sy)) - 1
        if x1 >= x0 and y1 >= y0:
            draw.rectangle((x0, y0, x1, y1), fill=(0, 0, 0))
    out = io.BytesIO()
    if fmt in ("JPEG", "WEBP"):
        img.save(out, format=fmt, quality=80)
    else:
        img.save(out, format=fmt)
    return out.getvalue()


class ExclusionStep:
    """A ``privacy.gate.Step``: drops everything of an excluded focused window and blanks excluded rects in frames."""

    def __init__(
        self,
        rules: ExclusionRules | Callable[[], ExclusionRules],
        visible_windows: Callable[[], Sequence[VisibleWindow]] | None = None,
        *,
        pad: tuple[int, int, int, int] = DECORATION_PAD,
    ) -> None:
        # A callable lets the agent swap rule sets (personal rules edited) without rebuilding the gate.
        self._rules = rules if callable(rules) else (lambda: rules)
        self._visible = visible_windows
        self._pad = pad
        self._entered: WindowEvent | None = None  # the focus event that started the current exclusion
        self._remembered: dict[tuple[str, int, Rect], Rect] = {}
        self._screen: tuple[int, int] = (0, 0)
        self.dropped = 0

    @property
    def excluded(self) -> bool:
        """True while the focused window is excluded."""
        return self._entered is not None

    def feed(self, item: Item) -> list[Item]:
        event, data = item
        if isinstance(event, WindowEvent):
            return self._focus(event)
        if isinstance(event, ControlEvent):
            return [item]
        if self._entered is not None:
            self.dropped += 1
            return []
        if isinstance(event, FrameEvent):
            return [self._blank(event, data)]
        return [item]

    def flush(self) -> list[Item]:
        return []

    def _focus(self, event: WindowEvent) -> list[Item]:
        self._screen = (event.screen_width, event.screen_height)
        rect: Rect = (event.x, event.y, event.width, event.height)
        key = (event.app, event.pid, rect)
        if self._rules().excluded(event.app, event.title):
            self._remembered.pop(key, None)
            self._remembered[key] = rect
            while len(self._remembered) > MAX_REMEMBERED:  # bounded memory: forget the longest-unseen first
                del self._remembered[next(iter(self._remembered))]
            if self._entered is not None:
                return []
            self._entered = event
            return [(_control(event, "exclusion_enter"), None)]
        self._remembered.pop(key, None)
        out: list[Item] = []
        if self._entered is not None:
            ms = max(0, (event.t_ns - self._entered.t_ns) // 1_000_000)
            out.append((_control(event, "exclusion_leave", (("duration_ms", str(ms)),)), None))
            self._entered = None
        out.append((event, None))
        return out

    def excluded_rects(self) -> list[Rect]:
        """Rectangles of excluded windows believed visible (see the module docstring for the limitation)."""
        if self._visible is None:
            rects = list(self._remembered.values())
        else:
            rules = self._rules()
            rects = [rect for app, title, rect in self._visible() if rules.excluded(app, title)]
        left, top, right, bottom = self._pad
        return [(x - left, y - top, w + left + right, h + top + bottom) for x, y, w, h in rects]

    def _blank(self, frame: FrameEvent, data: bytes | None) -> Item:
        rects = self.excluded_rects()
        if not rects or data is None:
            return (frame, data)
        sw, sh = self._screen
        scale = (frame.width / sw, frame.height / sh) if sw and sh else (1.0, 1.0)
        blanked = blank_rects(data, rects, scale=scale)
        return (dataclasses.replace(frame, sha256=hashlib.sha256(blanked).hexdigest()), blanked)


def _control(event: Event, kind: str, detail: tuple[tuple[str, str], ...] = ()) -> ControlEvent:
    return ControlEvent(t_ns=event.t_ns, wall_ns=event.wall_ns, kind=kind, detail=detail)


__all__ = [
    "DECORATION_PAD",
    "ExclusionStep",
    "Rect",
    "VisibleWindow",
    "blank_rects",
]
