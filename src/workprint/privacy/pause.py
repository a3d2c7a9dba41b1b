"""Pause state and the automatic-pause decision (pure).

A pause set by the participant lasts until ``resume`` or until its end time; it is stored in the device state file.
Automatic pauses (screen locked, idle for N minutes) are not stored: the agent asks ``auto_pause_reason`` with its
input-activity figures and ORs the answer into the gate's ``paused`` callable, so a manual pause is never ended by
activity and an automatic one never outlives its cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workprint.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PauseState:
    """``paused`` with an optional end (``until_ns``, wall clock); ``since_ns`` is when the pause began."""

    paused: bool = False
    until_ns: int | None = None
    since_ns: int | None = None

    def active(self, now_wall_ns: int) -> bool:
        """True while paused (indefinitely, or before ``until_ns``)."""
        return self.paused and (self.until_ns is None or now_wall_ns < self.until_ns)

    def to_dict(self) -> dict[str, Any]:
        return {"paused": self.paused, "until_ns": self.until_ns, "since_ns": self.since_ns}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PauseState:
        paused, until, since = d.get("paused", False), d.get("until_ns"), d.get("since_ns")
        if not isinstance(paused, bool):
            raise ConfigError(f"pause.paused: expected true or false, got {paused!r}")
        for name, v in (("until_ns", until), ("since_ns", since)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise ConfigError(f"pause.{name}: expected a wall time in ns, got {v!r}")
        return cls(paused, until, since)


def pause_for(now_wall_ns: int, seconds: int | None) -> PauseState:
    """A pause starting now, for ``seconds`` (None: until resumed)."""
    until = None if seconds is None else now_wall_ns + seconds * 1_000_000_000
    return PauseState(True, until, now_wall_ns)


def auto_pause_reason(idle_s: float, screen_locked: bool, idle_limit_s: float | None) -> str | None:
    """Why recording should pause automatically now (``"screen locked"``, ``"idle"``), or None.

    ``idle_limit_s`` None or <= 0 disables the idle rule; a locked screen always pauses.
    """
    if screen_locked:
        return "screen locked"
    if idle_limit_s is not None and idle_limit_s > 0 and idle_s >= idle_limit_s:
        return "idle"
    return None


__all__ = [
    "PauseState",
    "auto_pause_reason",
    "pause_for",
]
