"""Pointer motion coalescing (pure): keep at most ``hz`` points per second, always keep the latest position."""

from __future__ import annotations

from workprint.models import MotionEvent


class MotionCoalescer:
    """Collects motion points into one ``MotionEvent`` path.

    A point closer than 1/hz to the previous kept point replaces it, so the path's end is always the exact last
    position. ``flush()`` is called before any button/key/scroll (so order is preserved) and by a timer.
    """

    def __init__(self, hz: float, max_points: int = 64) -> None:
        self._period_ns = int(1_000_000_000 / hz)
        self._max_points = max_points
        self._samples: list[tuple[int, int, int]] = []
        self._tail: tuple[int, int, int] | None = None  # the latest point, when too close to the last sample
        self._wall_ns = 0

    @property
    def pending(self) -> bool:
        """Whether unflushed motion exists."""
        return bool(self._samples)

    def add(self, t_ns: int, wall_ns: int, x: int, y: int) -> MotionEvent | None:
        """Add a point; returns a full path to emit when it reached ``max_points``."""
        if not self._samples:
            self._wall_ns = wall_ns
            self._samples.append((t_ns, x, y))
        elif t_ns - self._samples[-1][0] >= self._period_ns:
            self._samples.append((t_ns, x, y))
            self._tail = None
        else:
            self._tail = (t_ns, x, y)
        if len(self._samples) >= self._max_points:
            return self.flush()
        return None

    def flush(self) -> MotionEvent | None:
        """Return the pending path as one event (dated at its first point) and start a new one."""
        if not self._samples:
            return None
        path = self._samples + ([self._tail] if self._tail is not None else [])
        event = MotionEvent(t_ns=path[0][0], wall_ns=self._wall_ns, path=tuple(path))
        self._samples, self._tail = [], None
        return event


__all__ = ["MotionCoalescer"]
