"""Properties of the reducer over arbitrary event sequences."""

from __future__ import annotations

import ast
import itertools
import string
from dataclasses import replace

from dataset_helpers import Tape
from hypothesis import given, settings
from hypothesis import strategies as st

from workprint.dataset.actions import ACTION_KINDS
from workprint.dataset.reduce import reduce_events
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

t = st.integers(min_value=0, max_value=10**12)
coord = st.integers(min_value=-5000, max_value=10000)
small = st.integers(min_value=-3, max_value=3)
keysyms = st.sampled_from(
    ["a", "A", "space", "Return", "BackSpace", "Tab", "Shift_L", "Control_L", "Alt_L", "Super_L", "Escape", "F5"]
    + ["Redacted", "ISO_Left_Tab", "Caps_Lock", "NoSymbol", "0xfe03", "U20AC", "KP_5"]
)
mods = st.lists(st.sampled_from(["ctrl", "alt", "shift", "super", "altgr"]), max_size=3, unique=True).map(tuple)
events: st.SearchStrategy[Event] = st.one_of(
    st.builds(KeyEvent, t, st.just(0), st.booleans(), st.integers(0, 300), keysyms, st.text(max_size=3), mods),
    st.builds(ButtonEvent, t, st.just(0), st.booleans(), coord, coord, st.sampled_from([1, 2, 3, 8, 9])),
    st.builds(ScrollEvent, t, st.just(0), coord, coord, small, small),
    st.builds(MotionEvent, t, st.just(0), st.lists(st.tuples(t, coord, coord), max_size=3).map(tuple)),
    st.builds(
        WindowEvent,
        t,
        st.just(0),
        st.sampled_from(["", "xterm", "firefox"]),
        st.text(max_size=5),
        st.integers(0, 3),
        coord,
        coord,
        coord,
        coord,
        st.integers(-1, 3000),
        st.integers(-1, 3000),
    ),
    st.builds(
        FrameEvent, t, st.just(0), st.sampled_from(["a", "b"]), st.just(8), st.just(8), st.just("webp"), st.just(""), t
    ),
    st.builds(ControlEvent, t, st.just(0), st.sampled_from(["pause", "resume", "marker", "consent", "redaction"])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=40))
def test_reduce_never_crashes_and_keeps_coordinates_in_0_1(seq: list[Event]) -> None:
    actions = reduce_events(seq)
    for a in actions:
        assert a.kind in ACTION_KINDS
        for v in (a.x, a.y, a.from_x, a.from_y):
            assert v is None or 0.0 <= v <= 1.0
        assert a.t_ns <= a.t_end_ns
        ast.parse(a.to_pyautogui())
    assert [a.t_ns for a in actions] == sorted(a.t_ns for a in actions)


def _at(e: Event, t_ns: int) -> Event:
    if isinstance(e, MotionEvent):
        return replace(e, t_ns=t_ns, path=tuple((t_ns, x, y) for _, x, y in e.path))
    return replace(e, t_ns=t_ns)


@settings(max_examples=200, deadline=None)
@given(st.lists(events, max_size=40))
def test_on_time_ordered_input_actions_cover_their_input_and_never_overlap_runs(seq: list[Event]) -> None:
    ordered = [_at(e, i * 1_000_000) for i, e in enumerate(seq)]
    actions = reduce_events(ordered)
    for a in actions:
        assert 0 <= a.t_ns <= a.t_end_ns <= len(seq) * 1_000_000
    writes = [a for a in actions if a.kind in ("write", "scroll", "hscroll")]
    for a, b in itertools.pairwise(writes):
        assert a.t_end_ns <= b.t_ns


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + " .,;-_/", min_size=1, max_size=30))
def test_typed_text_comes_back_as_one_write(text: str) -> None:
    tape = Tape()
    tape.type(text)
    actions = reduce_events(tape.events)
    assert [(a.kind, a.text) for a in actions] == [("write", text)]
