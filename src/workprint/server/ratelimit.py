"""Token-bucket rate limits per caller (device, account, login name), kept in this process's memory.

A bucket holds ``burst`` tokens and refills at ``rate`` per second; a request takes one. An empty bucket refuses
with ``RateLimited`` (429) carrying ``Retry-After``: the seconds until a token is back. Buckets idle long enough to
be full again are dropped, so memory follows the active callers only.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from workprint.errors import TooManyRequests

__all__ = ["RateLimited", "RateLimiter", "RateLimits"]


class RateLimited(TooManyRequests):
    """429 with the number of seconds to wait."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests per second and burst, per device, per account, and login attempts per username."""

    device_rate: float = 50.0
    device_burst: int = 200
    account_rate: float = 20.0
    account_burst: int = 100
    login_rate: float = 0.2
    login_burst: int = 10


class RateLimiter:
    """Buckets by key; ``take(key, rate, burst)`` spends one token or raises ``RateLimited``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def take(self, key: str, rate: float, burst: int) -> None:
        """Spend one token of ``key``'s bucket."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / rate))
                raise RateLimited(f"rate limit: too many requests for {key.split(':', 1)[0]}; retry in {wait} s", wait)
            self._buckets[key] = (tokens - 1.0, now)
            if now - self._last_sweep > 60:
                self._sweep(now, rate, burst)

    def _sweep(self, now: float, rate: float, burst: int) -> None:
        full_after = burst / rate if rate > 0 else math.inf
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
        self._last_sweep = now
