"""The privacy gate: the only path from capture to the spool.

Capture hands every event to ``PrivacyGate.admit`` inside its callback (frames with their encoded bytes); only what
the gate returns may be written. Consent and pause apply first, so input during a pause never leaves the callback;
then the stream steps (exclusions, redaction), which may hold events back until a boundary (the key redactor
needs a whole value before it can decide) and release them later, in order. The gate fails closed: an exception
in any step drops what it was processing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from workprint.models import ALL_SCOPES, Event, Scope
from workprint.privacy.scopes import scopes_of_event

Item = tuple[Event, bytes | None]


class Step(Protocol):
    """A streaming privacy step: takes one item, returns the items it releases (possibly none, possibly held ones)."""

    def feed(self, item: Item) -> list[Item]: ...

    def flush(self) -> list[Item]:
        """Release everything held (at a boundary, a pause or shutdown), redacted."""
        ...


@dataclass
class PrivacyGate:
    """Admit events whose scopes are consented and recording is not paused, through the steps, in order."""

    consented: Callable[[], frozenset[Scope]] = lambda: frozenset(ALL_SCOPES)
    paused: Callable[[], bool] = lambda: False
    steps: list[Step] = field(default_factory=list)
    dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def admit(self, event: Event, data: bytes | None = None) -> list[Item]:
        """Return the items that may be stored now (the event, redacted, and any released held items)."""
        with self._lock:
            try:
                if self.paused() or not scopes_of_event(event) <= self.consented():
                    self.dropped += 1
                    return []
                return self._run([(event, data)], flush=False)
            except Exception:  # fail closed: a broken privacy step never lets data through
                self.dropped += 1
                return []

    def flush(self) -> list[Item]:
        """Release what the steps hold (call at pause, scope withdrawal and shutdown)."""
        with self._lock:
            try:
                return self._run([], flush=True)
            except Exception:
                self.dropped += 1
                return []

    def _run(self, items: list[Item], *, flush: bool) -> list[Item]:
        for step in self.steps:
            out: list[Item] = []
            for item in items:
                out.extend(step.feed(item))
            if flush:
                out.extend(step.flush())
            items = out
        return items
