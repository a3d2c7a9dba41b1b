"""Reduce raw input events to AgentNet's PyAutoGUI actions (pure: events in, actions out).

Rules, following OpenCUA's action reduction:

- Buttons pair press with release. Press and release within ``click_radius_px`` make a click (button 1 ``click``,
  2 ``middleClick``, 3 ``rightClick``); left clicks at the same spot, each pressed within ``multi_click_ns`` of the
  previous one's press (as desktops and AgentNetTool time a double click), merge into ``doubleClick`` then
  ``tripleClick``. Moving further while held makes a
  ``dragTo`` (destination: the release point; start kept in ``from_x``/``from_y``). Buttons 8/9 (back/forward)
  have no PyAutoGUI call and are left out, as are presses never released.
- Pointer motion is folded into the next action (a click carries its own point); motion left at the end that ends
  away from the last pointer action becomes a ``moveTo``.
- Wheel notches in the same direction, each within ``click_radius_px`` of the previous one (the pointer drifts
  while the wheel turns) and less than ``scroll_gap_ns`` after it, merge into one ``scroll`` (vertical, > 0 up) or
  ``hscroll`` (> 0 right) with their summed clicks, at the first notch's point.
- Key presses that produce printable text with no modifier but Shift or AltGr build one ``write``; redaction
  placeholders (keysym ``Redacted``) append their text. BackSpace inside a run deletes the last typed character;
  right after a placeholder, or outside a run, it is ``press('backspace')`` (a placeholder stands for text we no
  longer have). A run ends at any other key, a click, a scroll, a focus change (other app, process or window
  geometry: title changes alone do not end it, editors retitle while you type) and at control markers.
- Modifier keys held through a click, drag or scroll (Ctrl+click, Ctrl+wheel) are kept in ``Action.modifiers``
  and rendered as ``keyDown``/``keyUp`` around it; clicks and notches merge only under the same modifiers.
- A key with Ctrl, Alt or Super held is a ``hotkey`` (modifiers first, as ctrl, alt, shift, win); Shift with a key
  that types nothing (Shift+Tab) is a ``hotkey`` too; other non-text keys are ``press``. Super or Alt tapped alone is
  ``press('win')`` / ``press('alt')``.
- ``wait`` is emitted only when ``ReduceOptions.wait_gap_ns`` is set (default off): AgentNet's trajectories are
  cut to purposeful steps, and idle gaps split episodes instead (see ``agentnet.split_episodes``).
- Every action takes the frame whose ``action_t_ns`` equals the time of its first input event (for a chord or a
  capital letter, the first modifier press), and the window context of the latest window event before it.
- Pause, resume, exclusion, session and marker control events end every run and drop half-done presses; the next
  action carries ``break_before``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from workprint.dataset.actions import Action, ActionKind
from workprint.dataset.keynames import (
    HOTKEY_MODIFIERS,
    LONE_TAP_MODIFIERS,
    MODIFIER_KEYSYMS,
    TEXT_BREAKING_KEYSYMS,
    hotkey_modifiers,
    key_name,
)
from workprint.models import (
    ButtonEvent,
    ControlEvent,
    Event,
    FrameEvent,
    KeyEvent,
    MotionEvent,
    ScrollEvent,
    WindowEvent,
)

DEFAULT_SCREEN = (1280, 800)
BREAKING_CONTROLS = frozenset(
    {"pause", "resume", "exclusion_enter", "exclusion_leave", "session_start", "session_stop", "marker"}
)
_CLICK_KIND: dict[int, ActionKind] = {1: "click", 2: "middleClick", 3: "rightClick"}
_BUTTON_NAME = {1: "left", 2: "middle", 3: "right"}
_NEXT_CLICK: dict[str, ActionKind] = {"click": "doubleClick", "doubleClick": "tripleClick"}


@dataclass(frozen=True, slots=True)
class ReduceOptions:
    """Thresholds of the reduction (pixels and nanoseconds)."""

    click_radius_px: int = 5
    multi_click_ns: int = 500_000_000
    scroll_gap_ns: int = 1_000_000_000
    wait_gap_ns: int | None = None
    default_screen: tuple[int, int] = DEFAULT_SCREEN


@dataclass(frozen=True, slots=True)
class _Start:
    """Where an action began: its first input event's time and frame, and the window then."""

    t_ns: int
    frame_id: str | None
    app: str
    title: str


@dataclass(frozen=True, slots=True)
class _Press:
    start: _Start
    x: int
    y: int
    modifiers: tuple[str, ...]


@dataclass(slots=True)
class _WriteRun:
    # Mutable, unlike the rest: a run can grow to thousands of keys, and copying it on every key is quadratic.
    start: _Start
    t_end_ns: int
    chunks: list[tuple[str, bool]]  # (text, is_placeholder)


@dataclass(frozen=True, slots=True)
class _ScrollRun:
    start: _Start
    t_end_ns: int
    kind: ActionKind
    x: int
    y: int
    amount: int
    modifiers: tuple[str, ...]
    last: tuple[int, int]  # the latest notch's point: a run follows the pointer's drift


class _Reducer:
    """The state machine behind ``reduce_events``; feed events in recorded order, then ``finish``."""

    def __init__(self, options: ReduceOptions, screen: tuple[int, int]) -> None:
        self.o = options
        self.screen = screen
        self.app = ""
        self.title = ""
        self.focus: tuple[str, int, int, int, int, int] | None = None
        self.frames: dict[int, deque[str]] = {}
        self.actions: list[Action] = []
        self.buttons: dict[int, _Press] = {}
        self.held: dict[int, tuple[int, str | None, str]] = {}  # keycode -> (t_ns, frame, modifier)
        self.lone: int | None = None
        self.write: _WriteRun | None = None
        self.scroll: _ScrollRun | None = None
        self.motion: tuple[int, int, int] | None = None
        self.last_pointer: tuple[int, int] | None = None
        self.last_click_px: tuple[int, int] | None = None
        self.last_click_t = 0  # press time of the latest click: multi-clicks are timed press to press
        self.last_input_t: int | None = None
        self.brk = False

    # ----- helpers -------------------------------------------------------------------------------------------
    def _norm(self, x: int, y: int) -> tuple[float, float]:
        w, h = self.screen
        return min(1.0, max(0.0, x / w)), min(1.0, max(0.0, y / h))

    def _take_frame(self, t_ns: int) -> str | None:
        queue = self.frames.get(t_ns)
        if not queue:
            return None
        frame_id = queue.popleft()
        if not queue:
            del self.frames[t_ns]
        return frame_id

    def _held_modifiers(self) -> tuple[str, ...]:
        """PyAutoGUI names of the modifier keys held now (from the key stream: pointer events carry none)."""
        return hotkey_modifiers(tuple(m for _, _, m in self.held.values()))

    def _start(self, t_ns: int, frame_id: str | None) -> _Start:
        return _Start(t_ns, frame_id, self.app, self.title)

    def _emit(self, action: Action) -> None:
        if action.t_end_ns < action.t_ns:
            # Only out-of-order input can do this (capture is monotonic); keep the invariant t_ns <= t_end_ns.
            action = replace(action, t_end_ns=action.t_ns)
        if self.brk:
            action = replace(action, break_before=True)
            self.brk = False
        self.actions.append(action)

    def _near(self, ax: int, ay: int, bx: int, by: int) -> bool:
        r = self.o.click_radius_px
        return abs(ax - bx) <= r and abs(ay - by) <= r

    def _flush_write(self) -> None:
        run, self.write = self.write, None
        if run is None or not run.chunks:
            return
        s = run.start
        text = "".join(t for t, _ in run.chunks)
        self._emit(Action("write", s.t_ns, run.t_end_ns, text=text, frame_id=s.frame_id, app=s.app, title=s.title))

    def _flush_scroll(self) -> None:
        run, self.scroll = self.scroll, None
        if run is None or run.amount == 0:
            return
        s = run.start
        x, y = self._norm(run.x, run.y)
        self._emit(
            Action(run.kind, s.t_ns, run.t_end_ns, x=x, y=y, amount=run.amount, frame_id=s.frame_id, app=s.app,
                   title=s.title, modifiers=run.modifiers)
        )  # fmt: skip

    def _flush(self) -> None:
        self._flush_write()
        self._flush_scroll()

    def _before_input(self, t_ns: int) -> None:
        """An input action starts at ``t_ns``: motion so far is folded into it; a long gap may become a wait."""
        self.motion = None
        gap = self.o.wait_gap_ns
        last = self.last_input_t
        if gap is not None and last is not None and t_ns - last > gap and not self.buttons:
            self._flush()
            self._emit(Action("wait", last, t_ns, amount=(t_ns - last) / 1e9, app=self.app, title=self.title))
        self.last_input_t = t_ns

    # ----- events --------------------------------------------------------------------------------------------
    def feed(self, e: Event) -> None:
        """Consume one event."""
        if isinstance(e, FrameEvent):
            self.frames.setdefault(e.action_t_ns, deque()).append(e.frame_id)
        elif isinstance(e, KeyEvent):
            self._key_press(e) if e.press else self._key_release(e)
        elif isinstance(e, ButtonEvent):
            self._button_press(e) if e.press else self._button_release(e)
        elif isinstance(e, ScrollEvent):
            self._scroll(e)
        elif isinstance(e, MotionEvent):
            if e.path:
                self.motion = (e.path[-1][0], e.x, e.y)
        elif isinstance(e, WindowEvent):
            self._window(e)
        elif isinstance(e, ControlEvent) and e.kind in BREAKING_CONTROLS:
            self._flush()
            self.buttons.clear()
            self.held.clear()
            self.lone = None
            self.motion = None
            self.brk = True

    def _window(self, e: WindowEvent) -> None:
        if e.screen_width > 0 and e.screen_height > 0:
            self.screen = (e.screen_width, e.screen_height)
        focus = (e.app, e.pid, e.x, e.y, e.width, e.height)
        if self.focus is not None and focus != self.focus:
            self._flush()
        self.focus = focus
        self.app, self.title = e.app, e.title

    def _key_press(self, e: KeyEvent) -> None:
        frame_id = self._take_frame(e.t_ns)
        modifier = MODIFIER_KEYSYMS.get(e.keysym)
        if modifier is not None:
            self.held[e.keycode] = (e.t_ns, frame_id, modifier)
            self.lone = e.keycode if modifier in LONE_TAP_MODIFIERS and not e.modifiers else None
            return
        self.lone = None
        self._before_input(e.t_ns)
        # A chord or a capital letter begins at its first modifier press, whose frame shows the state before it.
        anchors = [(t, f) for t, f, m in self.held.values() if m in e.modifiers]
        if not anchors and frame_id is None:
            # A key typed while a modifier is held but not reported on it (a redaction placeholder standing for a
            # capitalised value) starts where that modifier was pressed, with its frame.
            anchors = [(t, f) for t, f, _ in self.held.values() if f is not None]
        t0, f0 = min(anchors, key=lambda a: a[0]) if anchors else (e.t_ns, frame_id)
        if e.keysym == "Redacted":
            self._append_text(e.text, True, e.t_ns, _Start(t0, f0, self.app, self.title))
            return
        hot = [m for m in e.modifiers if m in HOTKEY_MODIFIERS]
        if not hot:
            if e.keysym == "BackSpace" and self.write is not None and self.write.chunks:
                if not self.write.chunks[-1][1]:
                    self.write.chunks.pop()
                    self.write.t_end_ns = e.t_ns
                    return
            elif e.text and e.text.isprintable() and e.keysym not in TEXT_BREAKING_KEYSYMS:
                self._append_text(e.text, False, e.t_ns, _Start(t0, f0, self.app, self.title))
                return
        self._flush()
        name = key_name(e.keysym)
        if hot or ("shift" in e.modifiers and not (e.text and e.text.isprintable())):
            keys = (*hotkey_modifiers(e.modifiers), name)
            self._emit(Action("hotkey", t0, e.t_ns, keys=keys, frame_id=f0, app=self.app, title=self.title))
        else:
            self._emit(Action("press", e.t_ns, e.t_ns, keys=(name,), frame_id=frame_id, app=self.app, title=self.title))

    def _append_text(self, text: str, placeholder: bool, t_ns: int, start: _Start) -> None:
        self._flush_scroll()
        if not text:
            return
        run = self.write or _WriteRun(start, t_ns, [])
        # Typed text is kept per character so BackSpace can remove one; a placeholder stays whole.
        added = ((text, True),) if placeholder else tuple((c, False) for c in text)
        run.chunks.extend(added)
        run.t_end_ns = t_ns
        self.write = run

    def _key_release(self, e: KeyEvent) -> None:
        held = self.held.pop(e.keycode, None)
        if held is None or self.lone != e.keycode:
            return
        self.lone = None
        t_ns, frame_id, modifier = held
        self._flush()
        self._emit(
            Action("press", t_ns, e.t_ns, keys=(LONE_TAP_MODIFIERS[modifier],), frame_id=frame_id, app=self.app,
                   title=self.title)
        )  # fmt: skip

    def _button_press(self, e: ButtonEvent) -> None:
        frame_id = self._take_frame(e.t_ns)
        self.lone = None
        if e.button not in _CLICK_KIND:
            return
        self._flush()
        self._before_input(e.t_ns)
        self.buttons[e.button] = _Press(self._start(e.t_ns, frame_id), e.x, e.y, self._held_modifiers())

    def _button_release(self, e: ButtonEvent) -> None:
        press = self.buttons.pop(e.button, None)
        if press is None:
            return
        self.motion = None
        self.last_input_t = e.t_ns
        self.last_pointer = (e.x, e.y)
        s = press.start
        if not self._near(press.x, press.y, e.x, e.y):
            (fx, fy), (x, y) = self._norm(press.x, press.y), self._norm(e.x, e.y)
            self._emit(
                Action("dragTo", s.t_ns, e.t_ns, x=x, y=y, from_x=fx, from_y=fy, button=_BUTTON_NAME[e.button],
                       frame_id=s.frame_id, app=s.app, title=s.title, modifiers=press.modifiers)
            )  # fmt: skip
            self.last_click_px = None
            return
        prev = self.actions[-1] if self.actions else None
        if (
            e.button == 1
            and prev is not None
            and prev.kind in _NEXT_CLICK
            and prev.modifiers == press.modifiers
            and not self.brk
            and self.last_click_px is not None
            and self._near(press.x, press.y, *self.last_click_px)
            and s.t_ns - self.last_click_t <= self.o.multi_click_ns
        ):
            self.actions[-1] = replace(prev, kind=_NEXT_CLICK[prev.kind], t_end_ns=max(prev.t_ns, e.t_ns))
        else:
            x, y = self._norm(press.x, press.y)
            kind = _CLICK_KIND[e.button]
            self._emit(
                Action(kind, s.t_ns, e.t_ns, x=x, y=y, frame_id=s.frame_id, app=s.app, title=s.title,
                       modifiers=press.modifiers)
            )  # fmt: skip
        self.last_click_px = (press.x, press.y)
        self.last_click_t = s.t_ns

    def _scroll(self, e: ScrollEvent) -> None:
        frame_id = self._take_frame(e.t_ns)
        self.lone = None
        parts: list[tuple[ActionKind, int]] = [("scroll", e.dy)] if e.dy else []
        if e.dx:
            parts.append(("hscroll", e.dx))
        if not parts:
            return
        self._flush_write()
        self._before_input(e.t_ns)
        self.last_pointer = (e.x, e.y)
        mods = self._held_modifiers()
        for kind, amount in parts:
            run = self.scroll
            if (
                run is not None
                and run.kind == kind
                and run.modifiers == mods
                and (run.amount > 0) == (amount > 0)
                and self._near(*run.last, e.x, e.y)
                and e.t_ns - run.t_end_ns <= self.o.scroll_gap_ns
                and not self.brk
            ):
                self.scroll = replace(run, amount=run.amount + amount, t_end_ns=e.t_ns, last=(e.x, e.y))
            else:
                self._flush_scroll()
                start = self._start(e.t_ns, frame_id)
                self.scroll = _ScrollRun(start, e.t_ns, kind, e.x, e.y, amount, mods, (e.x, e.y))

    def finish(self) -> list[Action]:
        """End of the events: close open runs, turn trailing motion into ``moveTo``, order by start time."""
        self._flush()
        if self.motion is not None:
            t_ns, x, y = self.motion
            if self.last_pointer is None or not self._near(x, y, *self.last_pointer):
                nx, ny = self._norm(x, y)
                self._emit(Action("moveTo", t_ns, t_ns, x=nx, y=ny, app=self.app, title=self.title))
        return sorted(self.actions, key=lambda a: a.t_ns)


def initial_screen(events: Iterable[Event], default: tuple[int, int] = DEFAULT_SCREEN) -> tuple[int, int]:
    """The screen size of the first window event that has one, else ``default``."""
    for e in events:
        if isinstance(e, WindowEvent) and e.screen_width > 0 and e.screen_height > 0:
            return (e.screen_width, e.screen_height)
    return default


def reduce_events(events: Sequence[Event], options: ReduceOptions | None = None) -> list[Action]:
    """Reduce one session's events, in recorded order, to actions ordered by start time."""
    opts = options or ReduceOptions()
    w, h = opts.default_screen
    screen = initial_screen(events, (w, h) if w > 0 and h > 0 else DEFAULT_SCREEN)
    reducer = _Reducer(opts, screen)
    for e in events:
        reducer.feed(e)
    return reducer.finish()


__all__ = ["BREAKING_CONTROLS", "DEFAULT_SCREEN", "ReduceOptions", "initial_screen", "reduce_events"]
