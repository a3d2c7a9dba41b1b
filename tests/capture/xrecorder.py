"""A recording sink for capture tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from workprint.models import Event, FrameEvent, MotionEvent, WindowEvent


class Recorder:
    """A sink that keeps every (event, bytes) it is given and lets a test wait for a condition."""

    def __init__(self) -> None:
        self.items: list[tuple[Event, bytes | None]] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def __call__(self, event: Event, data: bytes | None) -> None:
        with self._cond:
            self.items.append((event, data))
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def events(self) -> list[Event]:
        with self._cond:
            return [e for e, _ in self.items]

    def inputs(self) -> list[Event]:
        """Key, button and scroll events only (no frames, window or motion)."""
        return [e for e in self.events() if not isinstance(e, FrameEvent | WindowEvent | MotionEvent)]

    def wait_for(self, pred: Callable[[list[Event]], bool], timeout: float = 10.0) -> list[Event]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                evs = [e for e, _ in self.items]
                if pred(evs):
                    return evs
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; last events: {evs[-8:]}")
                self._cond.wait(left)

    def clear(self) -> None:
        with self._cond:
            self.items.clear()
