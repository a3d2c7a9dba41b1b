"""The event model: the contract between capture, privacy, spool, server and dataset.

Every record is a frozen, slotted dataclass carrying a monotonic timestamp ``t_ns`` (nanoseconds, the agent's
clock, mapped from the X server's millisecond clock where there is one) and a UTC wall time ``wall_ns``
(nanoseconds since the Unix epoch). Records serialise to plain dicts (``to_record``) tagged with a short kind
``"k"`` so that msgpack can carry them; ``from_record`` validates and rebuilds them. ``SCHEMA_VERSION`` is bumped
whenever a field changes meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

from workprint.errors import SchemaError

SCHEMA_VERSION = 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what the metadata store can hold; larger integers are refused

Scope = Literal["keys", "mouse", "screenshots", "window_titles", "app_names"]
ALL_SCOPES: tuple[Scope, ...] = ("keys", "mouse", "screenshots", "window_titles", "app_names")

CONTROL_KINDS = frozenset(
    {
        "session_start",
        "session_stop",
        "pause",
        "resume",
        "consent",
        "exclusion_enter",
        "exclusion_leave",
        "redaction",
        "marker",
        "secret_field",
    }
)
# Focus entered (detail state=enter) or left (state=leave) a secret field, as the accessibility bus reports it.
SECRET_FIELD = "secret_field"


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A key press or release. ``text`` is what the key produced (empty for modifiers and function keys)."""

    KIND: ClassVar[str] = "key"
    t_ns: int
    wall_ns: int
    press: bool
    keycode: int
    keysym: str
    text: str = ""
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ButtonEvent:
    """A mouse button press or release at screen coordinates (buttons 1-3, 8, 9; wheel buttons become scrolls)."""

    KIND: ClassVar[str] = "button"
    t_ns: int
    wall_ns: int
    press: bool
    x: int
    y: int
    button: int


@dataclass(frozen=True, slots=True)
class ScrollEvent:
    """One wheel notch (or a merged run): ``dy`` > 0 scrolls up, ``dx`` > 0 scrolls right, as PyAutoGUI counts."""

    KIND: ClassVar[str] = "scroll"
    t_ns: int
    wall_ns: int
    x: int
    y: int
    dx: int
    dy: int


@dataclass(frozen=True, slots=True)
class MotionEvent:
    """Pointer motion, coalesced: ``path`` holds (t_ns, x, y) points at a capped rate; the last one is the end."""

    KIND: ClassVar[str] = "motion"
    t_ns: int
    wall_ns: int
    path: tuple[tuple[int, int, int], ...]

    @property
    def x(self) -> int:
        return self.path[-1][1]

    @property
    def y(self) -> int:
        return self.path[-1][2]


@dataclass(frozen=True, slots=True)
class WindowEvent:
    """The focused window changed (or its title did)."""

    KIND: ClassVar[str] = "window"
    t_ns: int
    wall_ns: int
    app: str
    title: str
    pid: int
    x: int
    y: int
    width: int
    height: int
    screen_width: int
    screen_height: int


@dataclass(frozen=True, slots=True)
class FrameEvent:
    """A screenshot taken before an action. The image bytes travel beside the events, keyed by ``frame_id``."""

    KIND: ClassVar[str] = "frame"
    t_ns: int
    wall_ns: int
    frame_id: str
    width: int
    height: int
    format: str
    sha256: str
    action_t_ns: int


@dataclass(frozen=True, slots=True)
class ControlEvent:
    """Session, pause, consent, exclusion and redaction markers. ``detail`` is a small flat mapping."""

    KIND: ClassVar[str] = "control"
    t_ns: int
    wall_ns: int
    kind: str
    detail: tuple[tuple[str, str], ...] = field(default=())

    def get(self, key: str, default: str = "") -> str:
        """Return a detail value by key."""
        for k, v in self.detail:
            if k == key:
                return v
        return default


def _scope_list() -> str:
    one = "|".join(ALL_SCOPES)
    return f"((?:{one})(?:,(?:{one}))*)?"


# Every control record's kind and, per kind, the detail keys it may carry with the shape of their values: enumerated
# words, scope lists and digits only, never free text. A segment holding anything else is quarantined when opened.
CONTROL_DETAIL: dict[str, dict[str, re.Pattern[str]]] = {
    "session_start": {},
    "session_stop": {},
    "pause": {"reason": re.compile(r"participant|screen locked|idle")},
    "resume": {"reason": re.compile(r"participant|no longer (?:screen locked|idle)")},
    "consent": {"consented": re.compile(_scope_list()), "withdrawn": re.compile(_scope_list())},
    "exclusion_enter": {},
    "marker": {},  # an explicit episode boundary
    "exclusion_leave": {"duration_ms": re.compile(r"\d{1,12}")},
    SECRET_FIELD: {"state": re.compile(r"enter|leave")},
}


def control_problem(event: ControlEvent) -> str | None:
    """Why ``event`` does not fit ``CONTROL_DETAIL`` (an unknown kind, key or value shape), or None when it does."""
    allowed = CONTROL_DETAIL.get(event.kind)
    if allowed is None:
        return f"control kind {event.kind[:40]!r} is not one of the known kinds"
    for key, value in event.detail:
        shape = allowed.get(key)
        if shape is None:
            return f"control {event.kind} carries an unknown detail {key[:40]!r}"
        if not shape.fullmatch(value):
            return f"control {event.kind} detail {key} is not of its enumerated form"
    return None


Event = KeyEvent | ButtonEvent | ScrollEvent | MotionEvent | WindowEvent | FrameEvent | ControlEvent
EVENT_TYPES: tuple[type[Any], ...] = (
    KeyEvent,
    ButtonEvent,
    ScrollEvent,
    MotionEvent,
    WindowEvent,
    FrameEvent,
    ControlEvent,
)
_BY_KIND: dict[str, type[Any]] = {cls.KIND: cls for cls in EVENT_TYPES}

# The scope each kind of record belongs to; a record is kept only while its scope is consented.
SCOPE_OF_KIND: dict[str, Scope | None] = {
    "key": "keys",
    "button": "mouse",
    "scroll": "mouse",
    "motion": "mouse",
    "frame": "screenshots",
    "window": None,  # split: title -> window_titles, app -> app_names
    "control": None,
}


def to_record(event: Event) -> dict[str, Any]:
    """Turn an event into a msgpack-friendly dict tagged with its kind."""
    rec: dict[str, Any] = {"k": event.KIND}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        rec[f.name] = value
    return rec


def from_record(rec: Mapping[str, Any]) -> Event:
    """Rebuild an event from ``to_record`` output; raises ``SchemaError`` naming the bad field."""
    kind = rec.get("k")
    cls = _BY_KIND.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise SchemaError(f"k: unknown event kind {kind!r}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in rec:
            if f.name in ("text", "modifiers", "detail"):
                continue
            raise SchemaError(f"{kind}.{f.name}: missing")
        value = rec[f.name]
        if f.name in ("modifiers",):
            value = tuple(str(v) for v in value)
        elif f.name in ("path", "detail"):
            value = tuple(tuple(v) for v in value)
        kwargs[f.name] = value
    _check_types(cls, kwargs)
    event: Event = cls(**kwargs)
    return event


_INT_FIELDS = frozenset(
    {"t_ns", "wall_ns", "keycode", "x", "y", "button", "dx", "dy", "pid", "width", "height"}
    | {"screen_width", "screen_height", "action_t_ns"}
)
_STR_FIELDS = frozenset({"keysym", "text", "app", "title", "frame_id", "format", "sha256", "kind"})


def _check_types(cls: type[Any], kwargs: dict[str, Any]) -> None:
    for name, value in kwargs.items():
        if name in _INT_FIELDS and (not isinstance(value, int) or isinstance(value, bool)):
            raise SchemaError(f"{cls.KIND}.{name}: expected an integer, got {value!r}")
        if name in _STR_FIELDS and not isinstance(value, str):
            raise SchemaError(f"{cls.KIND}.{name}: expected a string, got {value!r}")
        if name == "press" and not isinstance(value, bool):
            raise SchemaError(f"{cls.KIND}.press: expected a boolean, got {value!r}")


def is_action(event: Event) -> bool:
    """True for the records that a pre-action frame is taken for (key and button presses, scrolls)."""
    if isinstance(event, KeyEvent | ButtonEvent):
        return event.press
    return isinstance(event, ScrollEvent)


__all__ = [
    "ALL_SCOPES",
    "CONTROL_KINDS",
    "EVENT_TYPES",
    "INT64_MAX",
    "INT64_MIN",
    "SCHEMA_VERSION",
    "SCOPE_OF_KIND",
    "SECRET_FIELD",
    "ButtonEvent",
    "ControlEvent",
    "Event",
    "FrameEvent",
    "KeyEvent",
    "MotionEvent",
    "Scope",
    "ScrollEvent",
    "WindowEvent",
    "from_record",
    "is_action",
    "to_record",
]
