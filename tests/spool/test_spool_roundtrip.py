"""Whatever is appended comes back out of the sealed segment, in order, with a header that declares exactly it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spool_helpers import make_identity, sealed_paths

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
from workprint.privacy.scopes import scopes_of_event
from workprint.segment import declared_counts, generate_keypair, open_sealed
from workprint.spool import Spool

SK, PK = generate_keypair()
ints = st.integers(min_value=-(2**31), max_value=2**31)
t = st.integers(min_value=0, max_value=2**62)
text = st.text(max_size=20)

events = st.one_of(
    st.builds(KeyEvent, t, t, st.booleans(), st.integers(0, 255), text, text, st.tuples(text)),
    st.builds(ButtonEvent, t, t, st.booleans(), ints, ints, st.integers(1, 9)),
    st.builds(ScrollEvent, t, t, ints, ints, ints, ints),
    st.builds(MotionEvent, t, t, st.lists(st.tuples(t, ints, ints), min_size=1, max_size=4).map(tuple)),
    st.builds(WindowEvent, t, t, text, text, ints, ints, ints, ints, ints, ints, ints),
    # control records as the agent writes them (free text in one is quarantined when opened: tests/test_segment.py)
    st.builds(ControlEvent, t, t, st.just("pause"), st.sampled_from([(), (("reason", "participant"),)])),
    st.builds(ControlEvent, t, t, st.just("resume"), st.sampled_from([(), (("reason", "no longer idle"),)])),
    st.builds(ControlEvent, t, t, st.just("marker")),
    st.builds(FrameEvent, t, t, st.sampled_from(["f1", "f2", "f3"]), ints, ints, text, text, t),
)
items = st.lists(st.tuples(events, st.binary(max_size=64)), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items)
def test_any_appended_sequence_round_trips_through_seal(seq: list[tuple[Event, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        spool = Spool.open(Path(d), make_identity(PK))
        first_bytes: dict[str, bytes] = {}
        for event, blob in seq:
            data = blob if isinstance(event, FrameEvent) else None
            if isinstance(event, FrameEvent):
                first_bytes.setdefault(event.frame_id, blob)
            spool.append(event, data)
        path = spool.seal()
        assert path is not None and sealed_paths(Path(d)) == [path]
        seg = open_sealed(path.read_bytes(), SK)
        spool.close()
    got = list(seg.events)
    want = [e for e, _ in seq]
    assert got == want
    # a frame's bytes are stored once per segment: the first bytes given for its id
    assert dict(seg.frames) == first_bytes
    h = seg.header
    assert (h.t_start_ns, h.t_end_ns) == (min(e.t_ns for e in want), max(e.t_ns for e in want))
    assert (h.wall_start_ns, h.wall_end_ns) == (min(e.wall_ns for e in want), max(e.wall_ns for e in want))
    assert set(h.scopes) == set().union(*(scopes_of_event(e) for e in want))
    # Only a power-of-two bound on the events leaves the device in clear; the per-kind counts stay sealed.
    assert dict(h.counts) == declared_counts(want) and len(want) <= h.counts["events_at_most"] < 2 * len(want)
    assert (h.participant, h.device, h.session, h.notice_version, h.redactor_version) == (
        "p1",
        "d1",
        "s1",
        "3",
        "redact-test",
    )
