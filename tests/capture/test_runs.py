"""The frames capture skips inside a run are frames the dataset reduction never uses: over arbitrary input, the
actions (frames included) reduced from every pre-action frame equal those reduced from the frames ``RunTracker``
keeps; and in the common runs (typing with typos, a scroll burst) only the run's first input takes one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from workprint.capture.runs import RunTracker
from workprint.dataset.reduce import reduce_events
from workprint.models import ButtonEvent, Event, FrameEvent, KeyEvent, ScrollEvent, WindowEvent

TYPED = [("a", "a", ()), ("b", "b", ()), ("A", "A", ("shift",)), ("BackSpace", "", ()), ("space", " ", ())]
OTHER = [("l", "l", ("ctrl",)), ("Return", "\n", ()), ("Left", "", ()), ("Shift_L", "", ()), ("Tab", "\t", ())]


@st.composite
def inputs(draw: st.DrawFn) -> list[Event]:
    """Key taps, clicks, drags and wheel notches at close or far points, seconds or milliseconds apart."""
    out: list[Event] = []
    t = 1_000_000_000
    x, y = 500, 400
    for _ in range(draw(st.integers(1, 30))):
        t += draw(st.sampled_from([5_000_000, 80_000_000, 300_000_000, 600_000_000, 1_200_000_000]))
        x += draw(st.sampled_from([0, 0, 3, -4, 6, 40]))
        y += draw(st.sampled_from([0, 0, 2, -5, 7]))
        kind = draw(st.sampled_from(["typed", "other", "click", "drag", "scroll", "window"]))
        if kind in ("typed", "other"):
            keysym, text, mods = draw(st.sampled_from(TYPED if kind == "typed" else OTHER))
            code = 30 + len(out)
            press = KeyEvent(t, t, True, code, keysym, text, mods)
            out += [press, KeyEvent(t + 1000, t, False, code, keysym, "", mods)]
        elif kind in ("click", "drag"):
            b = draw(st.sampled_from([1, 1, 1, 3]))
            dx = 30 if kind == "drag" else 0
            out += [ButtonEvent(t, t, True, x, y, b), ButtonEvent(t + 1000, t, False, x + dx, y, b)]
        elif kind == "scroll":
            dx, dy = draw(st.sampled_from([(0, 1), (0, -1), (1, 0)]))
            out.append(ScrollEvent(t, t, x, y, dx, dy))
        else:
            out.append(WindowEvent(t, t, "xterm", f"w{len(out) % 2}", 1, 0, 0, 800, 600, 1280, 800))
    return out


def _with_frames(seq: list[Event], tracker: RunTracker | None) -> list[Event]:
    """Insert a frame before every action-starting input (all of them, or those ``tracker`` says need one)."""
    out: list[Event] = []
    for e in seq:
        if isinstance(e, WindowEvent) and tracker is not None:
            tracker.reset()
        starts = isinstance(e, ScrollEvent) or (isinstance(e, KeyEvent | ButtonEvent) and e.press)
        if starts and (tracker is None or tracker.needs_frame(e)):  # type: ignore[arg-type]
            out.append(FrameEvent(e.t_ns, e.wall_ns, f"f{e.t_ns}", 8, 8, "jpeg", "", e.t_ns))
        out.append(e)
    return out


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_skipped_frames_are_never_the_frame_of_a_reduced_action(seq: list[Event]) -> None:
    assert reduce_events(_with_frames(seq, RunTracker())) == reduce_events(_with_frames(seq, None))


def _frames(seq: list[Event]) -> int:
    return sum(isinstance(e, FrameEvent) for e in _with_frames(seq, RunTracker()))


def test_a_run_of_typing_and_a_scroll_burst_take_one_frame_each() -> None:
    typing: list[Event] = []
    for i, ch in enumerate("hello, wrold"):
        typing += [KeyEvent(i * 10**8, 0, True, 40 + i, ch, ch), KeyEvent(i * 10**8 + 1, 0, False, 40 + i, ch, "")]
    assert _frames(typing) == 1
    burst: list[Event] = [ScrollEvent(10**9 + i * 5 * 10**7, 0, 300 + i, 300, 0, 1) for i in range(6)]
    assert _frames(burst) == 1
    reversed_: list[Event] = [*burst, ScrollEvent(2 * 10**9, 0, 305, 300, 0, -1)]
    assert _frames(reversed_) == 2  # a reversal starts a new scroll
    slow = [burst[0], ScrollEvent(burst[0].t_ns + 2 * 10**9, 0, 300, 300, 0, 1)]
    assert _frames(slow) == 2  # a notch 2 s later is a new scroll
