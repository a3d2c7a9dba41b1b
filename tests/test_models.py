"""The event model round-trips through records and msgpack, and rejects malformed records by name."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workprint.errors import SchemaError
from workprint.models import (
    ButtonEvent,
    ControlEvent,
    Event,
    FrameEvent,
    KeyEvent,
    MotionEvent,
    ScrollEvent,
    WindowEvent,
    from_record,
    is_action,
    to_record,
)

ints = st.integers(min_value=0, max_value=2**62)
coords = st.integers(min_value=-10_000, max_value=10_000)
text = st.text(max_size=40)

events: st.SearchStrategy[Event] = st.one_of(
    st.builds(KeyEvent, ints, ints, st.booleans(), st.integers(0, 255), text, text, st.tuples(text)),
    st.builds(ButtonEvent, ints, ints, st.booleans(), coords, coords, st.integers(1, 9)),
    st.builds(ScrollEvent, ints, ints, coords, coords, st.integers(-50, 50), st.integers(-50, 50)),
    st.builds(MotionEvent, ints, ints, st.lists(st.tuples(ints, coords, coords), min_size=1, max_size=5).map(tuple)),
    st.builds(WindowEvent, ints, ints, text, text, ints, coords, coords, ints, ints, ints, ints),
    st.builds(FrameEvent, ints, ints, text, ints, ints, text, text, ints),
    st.builds(ControlEvent, ints, ints, text, st.lists(st.tuples(text, text), max_size=3).map(tuple)),
)


@given(events)
def test_every_event_round_trips_through_msgpack(event: Event) -> None:
    wire = msgpack.packb(to_record(event), use_bin_type=True)
    assert from_record(msgpack.unpackb(wire, raw=False)) == event


def test_unknown_kind_is_named() -> None:
    with pytest.raises(SchemaError, match=r"k: unknown event kind 'teleport'"):
        from_record({"k": "teleport"})


def test_missing_field_is_named() -> None:
    rec = to_record(ButtonEvent(1, 2, True, 3, 4, 1))
    del rec["x"]
    with pytest.raises(SchemaError, match=r"button\.x: missing"):
        from_record(rec)


def test_wrong_type_is_named_with_its_value() -> None:
    rec = to_record(ScrollEvent(1, 2, 3, 4, 0, 1))
    rec["dy"] = "up"
    with pytest.raises(SchemaError, match=r"scroll\.dy: expected an integer, got 'up'"):
        from_record(rec)


def test_actions_are_presses_and_scrolls_not_releases() -> None:
    assert is_action(KeyEvent(1, 1, True, 38, "a", "a"))
    assert not is_action(KeyEvent(1, 1, False, 38, "a", "a"))
    assert is_action(ButtonEvent(1, 1, True, 0, 0, 1))
    assert is_action(ScrollEvent(1, 1, 0, 0, 0, -1))
    assert not is_action(MotionEvent(1, 1, ((1, 2, 3),)))
