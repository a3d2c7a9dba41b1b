"""What was allowed *when*: the pause and consent state over (monotonic) time, for events processed late.

``PrivacyGate`` decides by the state at the moment it sees an event. When the capture thread lags behind the input
(a slow redaction step, a busy machine), a key typed during a pause could reach the gate after ``resume`` and pass.
The agent therefore also asks this timeline about the event's own time (``t_ns``, from the X server's timestamp):
an event passes only if recording was allowed both when it happened and when it is processed.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Set

from workprint.models import Scope

MAX_MARKS = 4096  # enough for hours of changes; older marks only matter for events that are hours late


class PrivacyTimeline:
    """Marks of (time, paused, consented scopes), in time order; ``allows`` reads the mark in force at a time."""

    def __init__(self, t_ns: int, paused: bool, consented: frozenset[Scope]) -> None:
        self._times = [t_ns]
        self._states: list[tuple[bool, frozenset[Scope]]] = [(paused, consented)]
        self._lock = threading.Lock()

    def mark(self, t_ns: int, paused: bool, consented: frozenset[Scope]) -> None:
        """Record a change at ``t_ns`` (not earlier than the last mark: a late mark is moved to the last time)."""
        with self._lock:
            t_ns = max(t_ns, self._times[-1])
            self._times.append(t_ns)
            self._states.append((paused, consented))
            if len(self._times) > MAX_MARKS:
                del self._times[0], self._states[0]

    def allows(self, t_ns: int, scopes: Set[str]) -> bool:
        """Whether an event needing ``scopes`` at ``t_ns`` fell in a time of recording with those scopes consented."""
        with self._lock:
            i = bisect.bisect_right(self._times, t_ns) - 1
            paused, consented = self._states[max(i, 0)]
        return not paused and scopes <= consented


__all__ = ["MAX_MARKS", "PrivacyTimeline"]
