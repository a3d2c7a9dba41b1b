"""Map the X server's 32-bit millisecond timestamps onto the agent's monotonic nanosecond clock."""

from __future__ import annotations

import time

_WRAP_MS = 1 << 32


class ServerClock:
    """Convert X server times (ms, wrapping every ~49.7 days) to ``time.monotonic_ns`` values.

    ``offset_ns`` is measured once at start (``monotonic_ns - server_ms * 1e6`` from a round trip); wraps are
    unrolled by tracking the last time seen. Results never exceed "now", so an event is never dated in the future.
    """

    def __init__(self, offset_ns: int, first_server_ms: int) -> None:
        self.offset_ns = offset_ns
        self._epoch = 0
        self._last = first_server_ms

    @classmethod
    def from_round_trip(cls, before_ns: int, server_ms: int, after_ns: int) -> ServerClock:
        """Build a clock from a request sent at ``before_ns`` whose reply carried ``server_ms`` at ``after_ns``."""
        mid = (before_ns + after_ns) // 2
        return cls(mid - server_ms * 1_000_000, server_ms)

    def to_ns(self, server_ms: int) -> int:
        """The monotonic ns time of a server timestamp."""
        half = _WRAP_MS // 2
        if server_ms < self._last - half:
            self._epoch += _WRAP_MS
            self._last = server_ms
        elif server_ms > self._last + half and self._epoch:
            # A late event from before the last wrap.
            return self._clamp((server_ms + self._epoch - _WRAP_MS) * 1_000_000 + self.offset_ns)
        else:
            self._last = max(self._last, server_ms)
        return self._clamp((server_ms + self._epoch) * 1_000_000 + self.offset_ns)

    @staticmethod
    def _clamp(t_ns: int) -> int:
        return min(t_ns, time.monotonic_ns())


__all__ = ["ServerClock"]
