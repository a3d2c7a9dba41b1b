"""``KeyRedactor``: the redaction step of the privacy gate.

Key strokes of the focused field are held until a boundary — Enter, Tab, a mouse button or scroll, a window or
control record, ``flush()``, or ``IDLE_NS`` without a key (noticed on the next record) — then the field's text is
rebuilt, values are detected, and the held records are released in order with every stroke of each value (typos and
the Backspaces that fixed them included) replaced by ONE placeholder press and release (keycode 0, keysym
``Redacted``, text ``<EMAIL>``...). Frames and pointer motion do not end a field (a frame is taken before every key,
so they would cut every value into single characters): they are held in order with the keys, frames redacted by the
image redactor when one is configured. Window titles pass through the same detectors.

A field typed while the accessibility bus reported a focused password field (``ControlEvent(SECRET_FIELD)``, see
``capture.a11y``) is a password whatever its text: every key of it, modifiers and deleted strokes included, becomes
one ``<PASSWORD>``. The reports come from another thread, stamped when they arrive there: after the focus moved,
possibly after the first keys of the field. So they are judged by time, when the field is released: a field is
secret when a secret interval (from an "enter" to its "leave", open while no "leave" came) began before the key or
click that ended the field and had not ended before its first key. The whole field goes, and keys stamped before a
late "leave" go too (fail closed); a report that is not a clear "leave" counts as "enter". An "enter" stamped after
the Tab or click that ended a field belongs to the next field (that key moved the focus). Reports do not end a field;
they are held in order with it.

Fail closed: a frame whose redaction fails or times out is dropped (``frames_dropped``); if anything else raises,
every held record is discarded and the exception propagates, so the gate drops the record too; nothing partially
redacted is ever returned.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import deque
from collections.abc import Callable, Sequence

from workprint.models import SECRET_FIELD, ButtonEvent, ControlEvent, FrameEvent, KeyEvent, MotionEvent, WindowEvent
from workprint.privacy.gate import Item
from workprint.privacy.redact.detectors import detect
from workprint.privacy.redact.engine import redact_text
from workprint.privacy.redact.keytext import (
    BACKSPACE,
    CHAR,
    DELETE,
    END,
    HOME,
    LEFT,
    RIGHT,
    WORD_BACKSPACE,
    WORD_DELETE,
    WORD_LEFT,
    WORD_RIGHT,
    TextBuilder,
    sources_of_values,
)
from workprint.privacy.redact.types import Context, placeholder

IDLE_NS = 2_000_000_000
_MOVES = {
    "Left": LEFT,
    "KP_Left": LEFT,
    "Right": RIGHT,
    "KP_Right": RIGHT,
    "Home": HOME,
    "KP_Home": HOME,
    "Up": HOME,
    "KP_Up": HOME,
    "End": END,
    "KP_End": END,
    "Down": END,
    "KP_Down": END,
}
_BOUNDARY_KEYS = {"Return": "Return", "KP_Enter": "Return", "Tab": "Tab", "ISO_Left_Tab": "Tab", "KP_Tab": "Tab"}
# (frame, image bytes, window title, values typed in the field being released) -> redacted image bytes
FrameRedactor = Callable[[FrameEvent, bytes, str, Sequence[str]], bytes]


def key_op(event: KeyEvent) -> tuple[str, str] | None:
    """The edit operation of a key press, or None for keys that do not edit text (modifiers, F-keys, hotkeys)."""
    ctrl = "ctrl" in event.modifiers
    if event.keysym == "BackSpace":
        return (WORD_BACKSPACE if ctrl else BACKSPACE), ""
    if event.keysym in ("Delete", "KP_Delete"):
        return (WORD_DELETE if ctrl else DELETE), ""
    if event.keysym in _MOVES:
        op = _MOVES[event.keysym]
        if ctrl and op in (LEFT, RIGHT):
            op = WORD_LEFT if op == LEFT else WORD_RIGHT
        return op, ""
    if ctrl and event.keysym in ("w", "W"):  # terminals and editors: delete the word before the cursor
        return WORD_BACKSPACE, ""
    if event.text and event.text not in "\n\t" and not ({"ctrl", "alt", "super"} & set(event.modifiers)):
        return CHAR, event.text
    return None


REMEMBERED_VALUES = 64  # redacted values searched for in every later frame
SECRET_INTERVALS = 16  # secret-field intervals kept for judging held fields


class KeyRedactor:
    """A ``privacy.gate.Step`` redacting typed values, window titles and (optionally) frames."""

    def __init__(self, frame_redactor: FrameRedactor | None = None, idle_ns: int = IDLE_NS) -> None:
        self._frames = frame_redactor
        self._idle_ns = idle_ns
        self._held: list[Item] = []
        self._builder = TextBuilder()
        self._app = ""
        self._title = ""
        self._prev_field = ""
        self._prev_boundary = ""
        self._last_key_ns: int | None = None
        self._suppressed: set[int] = set()  # keycodes whose press was replaced: their release goes too
        # (enter, leave) times of secret-field focus as the accessibility bus reported it; leave None while focused
        self._secret: deque[tuple[int, int | None]] = deque(maxlen=SECRET_INTERVALS)
        # Values redacted in earlier fields stay on screen after the field is left (a name stays in its box while the
        # amount is typed): every later frame is searched for them too.
        self._remembered: deque[str] = deque(maxlen=REMEMBERED_VALUES)
        self.redacted = 0
        self.frames_dropped = 0

    def feed(self, item: Item) -> list[Item]:
        """Take one record; return what may be stored now, in order."""
        try:
            return self._feed(item)
        except BaseException:
            self._reset()
            raise

    def flush(self) -> list[Item]:
        """Release everything held, redacted."""
        try:
            return self._release("", None)
        except BaseException:
            self._reset()
            raise

    def _reset(self) -> None:
        self._held = []
        self._builder = TextBuilder()

    def _feed(self, item: Item) -> list[Item]:
        event = item[0]
        out: list[Item] = []
        if self._last_key_ns is not None and event.t_ns - self._last_key_ns > self._idle_ns and self._held:
            out.extend(self._release("", event.t_ns))
        if isinstance(event, ControlEvent) and event.kind == SECRET_FIELD:
            return out + self._secret_field(item, event)
        if isinstance(event, KeyEvent):
            self._last_key_ns = event.t_ns
            self._held.append(item)
            if event.press and event.keysym in _BOUNDARY_KEYS:
                out.extend(self._release(_BOUNDARY_KEYS[event.keysym], event.t_ns))
            elif event.press:
                op = key_op(event)
                if op is not None:
                    self._builder.apply(len(self._held) - 1, *op)
            return out
        if isinstance(event, FrameEvent | MotionEvent):
            self._held.append(item)
            return out
        out.extend(self._release("", event.t_ns))
        if isinstance(event, WindowEvent):
            self._app, self._title = event.app, event.title
            self._prev_field = self._prev_boundary = ""
            red = redact_text(event.title, Context(app=event.app, title=event.title))
            out.append((dataclasses.replace(event, title=red.text), None))
            return out
        if isinstance(event, ButtonEvent) and event.press and self._prev_field:
            self._prev_boundary = "Click"  # clicking into the next field of the same window is like Tab
        elif isinstance(event, ControlEvent):
            self._prev_field = self._prev_boundary = ""
        out.append(item)
        return out

    def _secret_field(self, item: Item, event: ControlEvent) -> list[Item]:
        open_ = bool(self._secret) and self._secret[-1][1] is None
        if event.get("state") == "leave":
            if open_:
                self._secret[-1] = (self._secret[-1][0], event.t_ns)
        elif not open_:
            self._secret.append((event.t_ns, None))
        if self._held:
            self._held.append(item)  # in order with the field it concerns
            return []
        return [item]

    def _secret_between(self, first_ns: int, end_ns: int | None) -> bool:
        """Whether a secret interval overlaps a field whose first key was at ``first_ns``, ended at ``end_ns``."""
        return any((end_ns is None or a < end_ns) and (b is None or b >= first_ns) for a, b in self._secret)

    def _release(self, boundary: str, end_ns: int | None) -> list[Item]:
        """Release the held field, ended by ``boundary`` (a key name or "") at ``end_ns`` (None: not known)."""
        if not self._held:
            return []
        held, builder = self._held, self._builder
        rebuilt = builder.result()
        ctx = Context(self._app, self._title, self._prev_field, self._prev_boundary)
        values = sources_of_values(rebuilt, lambda t: detect(t, ctx, ended_by=boundary))
        last = len(held) - 1 if boundary in _BOUNDARY_KEYS.values() else len(held)
        presses = [i for i, (e, _) in enumerate(held[:last]) if isinstance(e, KeyEvent) and e.press]
        if presses and self._secret_between(held[presses[0]][0].t_ns, end_ns):
            values.insert(0, ("PASSWORD", frozenset(presses)))  # every stroke: typos, deletions, modifiers
        # Each value becomes one placeholder at its first stroke; overlapping values merge into the first.
        owner: dict[int, int] = {}
        kinds: dict[int, str] = {}
        for kind, strokes in sorted(values, key=lambda v: min(v[1], default=0)):
            if not strokes:
                continue
            first = min(strokes)
            target = next((owner[i] for i in strokes if i in owner), first)
            kinds.setdefault(target, kind)
            for i in strokes:
                owner[i] = target
        known = _typed_values(held, values)
        # and each value as it finally reads, for frames that show the corrected text half typed
        cells = list(zip(rebuilt.text, rebuilt.sources, strict=True))
        known += ["".join(c for c, cell in cells if strokes.intersection(cell)) for _, strokes in values]
        self._remembered.extend(v for v in known if len(v) >= 3 and v not in self._remembered)
        known = list(self._remembered)
        out: list[Item] = []
        for i, (event, data) in enumerate(held):
            if isinstance(event, KeyEvent) and not event.press and event.keycode in self._suppressed:
                self._suppressed.discard(event.keycode)
                continue
            if i in owner:
                assert isinstance(event, KeyEvent)
                self._suppressed.add(event.keycode)
                if owner[i] == i:
                    out.extend(_placeholder_pair(event, kinds[i]))
                    self.redacted += 1
                continue
            if isinstance(event, FrameEvent) and self._frames is not None and data is not None:
                try:
                    red = self._frames(event, data, self._title, known)
                except Exception:  # fail closed for this frame only: the keys around it are redacted already
                    self.frames_dropped += 1
                    continue
                out.append((dataclasses.replace(event, sha256=hashlib.sha256(red).hexdigest()), red))
                continue
            out.append((event, data))
        if rebuilt.text.strip():
            self._prev_field, self._prev_boundary = rebuilt.text, boundary
        self._held, self._builder = [], TextBuilder()
        if end_ns is not None:  # later fields start after this one: intervals closed before it cannot reach them
            while len(self._secret) > 1 and (b := self._secret[0][1]) is not None and b < end_ns:
                self._secret.popleft()
        return out


def _typed_values(held: list[Item], values: list[tuple[str, frozenset[int]]]) -> list[str]:
    """The text each value's strokes typed (typos included), for finding half-typed values in held frames."""
    out: list[str] = []
    for _, strokes in values:
        chars = [held[i][0] for i in sorted(strokes)]
        text = "".join(e.text for e in chars if isinstance(e, KeyEvent) and e.press and key_op(e) == (CHAR, e.text))
        if text:
            out.append(text)
    return out


def _placeholder_pair(first: KeyEvent, kind: str) -> list[Item]:
    text = placeholder(kind)
    press = KeyEvent(first.t_ns, first.wall_ns, True, 0, "Redacted", text)
    release = KeyEvent(first.t_ns, first.wall_ns, False, 0, "Redacted", text)
    return [(press, None), (release, None)]
