"""Which actions need a pre-action frame: only those that begin an action of the training data.

A run of typing becomes one ``write`` and a run of wheel notches one ``scroll``; each takes the frame before its
first input. A frame before any later input of such a run would never be used, yet would cost an encode, an OCR
pass and upload bytes (a scroll notch changes the whole screen), so it is not taken. The rules are the dataset
reduction's, made stricter where the capture knows less (modifier presses and button presses always take one): a
frame skipped here is one the reduction never uses, and any doubt takes the frame. ``tests/capture/test_runs.py``
checks that against the reduction itself over arbitrary input.
"""

from __future__ import annotations

from workprint.keysyms import LOCK_OF_KEYSYM, MODIFIER_OF_KEYSYM
from workprint.models import ButtonEvent, KeyEvent, ScrollEvent

__all__ = ["RunTracker"]

NEAR_PX = 5  # the reduction's click radius: presses and notches this close continue a run
SCROLL_GAP_NS = 1_000_000_000  # notches further apart start a new scroll
TYPING_GAP_NS = 1_000_000_000  # typing after a longer gap takes a frame again (a pause may have split the run)
_HOT = frozenset({"ctrl", "alt", "super"})
_BREAKS_TEXT = frozenset({"Return", "KP_Enter", "Tab", "ISO_Left_Tab", "KP_Tab", "BackSpace"})


class RunTracker:
    """Fed every key press, button press and wheel notch in order (``needs_frame``); ``reset`` when the window
    changes (a run never continues into another window)."""

    def __init__(self) -> None:
        self._chars: int | None = None  # characters in the open run of typing (None: no run open)
        self._last_key_ns = 0
        self._scroll: ScrollEvent | None = None

    def reset(self) -> None:
        """Forget every run: the next action takes a frame."""
        self._chars, self._scroll = None, None

    def needs_frame(self, event: KeyEvent | ButtonEvent | ScrollEvent) -> bool:
        """Whether the action beginning with ``event`` starts a new action of the data (so it needs a frame)."""
        if isinstance(event, ScrollEvent):
            continues = self._continues_scroll(event)
            self._chars, self._scroll = None, event
            return not continues
        self._scroll = None
        if isinstance(event, ButtonEvent):
            # Every press takes one: the second press of a double click becomes a drag if the button moves before
            # it is released, and that drag needs the frame before its own press.
            self._chars = None
            return True
        return self._key(event)

    def _key(self, e: KeyEvent) -> bool:
        if e.keysym in MODIFIER_OF_KEYSYM or e.keysym in LOCK_OF_KEYSYM:
            return True  # a chord or a capital may begin here, with this frame; typing goes on after it
        if e.t_ns - self._last_key_ns > TYPING_GAP_NS:
            self._chars = None
        self._last_key_ns = e.t_ns
        chars = self._chars
        if not _HOT & set(e.modifiers):
            if e.keysym == "BackSpace" and chars:  # removes a character typed in this run: the run goes on
                self._chars = chars - 1
                return False
            if e.text and e.text.isprintable() and e.keysym not in _BREAKS_TEXT:
                self._chars = (chars or 0) + 1
                return chars is None  # only the first character of a run begins the ``write``
        self._chars = None  # any other key is an action of its own and ends the run
        return True

    def _continues_scroll(self, e: ScrollEvent) -> bool:
        run = self._scroll
        return (
            run is not None
            and (e.dy > 0) == (run.dy > 0) and (e.dx > 0) == (run.dx > 0)
            and bool(e.dy) == bool(run.dy) and bool(e.dx) == bool(run.dx)
            and abs(e.x - run.x) <= NEAR_PX and abs(e.y - run.y) <= NEAR_PX
            and 0 <= e.t_ns - run.t_ns <= SCROLL_GAP_NS
        )  # fmt: skip
