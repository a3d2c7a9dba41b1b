"""The privacy gate: the only path from capture to the spool.

Capture hands every event (and every candidate frame) to ``PrivacyGate.admit``; only what it returns may be
written. The gate is where consent, pause, exclusions and redaction apply, in that order; it fails closed: an
exception inside it drops the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from workprint.models import ALL_SCOPES, Event, Scope
from workprint.privacy.scopes import scopes_of_event

Transform = Callable[[Event], Event | None]


@dataclass
class PrivacyGate:
    """Admit events whose scopes are consented, transformed by the redaction steps; drop everything else."""

    consented: Callable[[], frozenset[Scope]] = lambda: frozenset(ALL_SCOPES)
    paused: Callable[[], bool] = lambda: False
    transforms: list[Transform] = field(default_factory=list)
    dropped: int = 0

    def admit(self, event: Event) -> Event | None:
        """Return the event as it may be stored, or None when it must not be."""
        try:
            if self.paused():
                self.dropped += 1
                return None
            if not scopes_of_event(event) <= self.consented():
                self.dropped += 1
                return None
            out: Event | None = event
            for step in self.transforms:
                if out is None:
                    break
                out = step(out)
            if out is None:
                self.dropped += 1
            return out
        except Exception:  # fail closed: a broken privacy step never lets data through
            self.dropped += 1
            return None
