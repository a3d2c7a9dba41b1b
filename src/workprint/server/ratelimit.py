"""Token-bucket rate limits per caller (device, account, address, sign-in attempt), kept in this process's memory.

A bucket holds ``burst`` tokens and refills at ``rate`` per second; a request takes one. An empty bucket refuses
with ``RateLimited`` (429) carrying ``Retry-After``: the seconds until a token is back. Buckets idle long enough to
be full again are dropped, so memory follows the active callers only. ``give_back`` returns a token: sign-in takes
one before checking a password and returns it when the password was right, so that only failures count.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workprint.errors import TooManyRequests

__all__ = ["Bucket", "RateLimited", "RateLimiter", "RateLimits"]

Bucket = tuple[str, float, int]
"""(key, rate per second, burst); the key's part before the first ``:`` names the limit in messages."""


class RateLimited(TooManyRequests):
    """429 with the number of seconds to wait; ``first`` when the bucket had not refused since it last gave a token
    (so a caller can note the start of a burst of refusals once, not every refusal)."""

    def __init__(self, message: str, retry_after: int, *, key: str = "", first: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.key = key
        self.first = first


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests per second and burst per device and per account; failed sign-ins per (address, account) and per
    address; enrolment attempts per address."""

    device_rate: float = 50.0
    device_burst: int = 200
    account_rate: float = 20.0
    account_burst: int = 100
    login_rate: float = 0.2
    login_burst: int = 10
    login_address_rate: float = 0.5
    login_address_burst: int = 30
    enrol_rate: float = 0.1
    enrol_burst: int = 10


class RateLimiter:
    """Buckets by key; ``take(key, rate, burst)`` spends one token or raises ``RateLimited``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float, float]] = {}  # key -> (tokens, at, full again at)
        self._refusing: set[str] = set()
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def take(self, key: str, rate: float, burst: int) -> None:
        """Spend one token of ``key``'s bucket."""
        self.take_all([(key, rate, burst)])

    def take_all(self, buckets: Sequence[Bucket]) -> None:
        """Spend one token of every bucket, or of none when one is empty (refusing with the first empty one)."""
        now = self._clock()
        with self._lock:
            levels = [self._level(key, rate, burst, now) for key, rate, burst in buckets]
            for (key, rate, burst), tokens in zip(buckets, levels, strict=True):
                if tokens < 1.0:
                    self._set(key, tokens, now, rate, burst)
                    first = key not in self._refusing
                    self._refusing.add(key)
                    wait = max(1, math.ceil((1.0 - tokens) / rate))
                    what = key.split(":", 1)[0]
                    raise RateLimited(f"rate limit: too many requests for {what}; retry in {wait} s", wait,
                                      key=key, first=first)  # fmt: skip
            for (key, rate, burst), tokens in zip(buckets, levels, strict=True):
                self._set(key, tokens - 1.0, now, rate, burst)
                self._refusing.discard(key)
            if now - self._last_sweep > 60:
                self._sweep(now)

    def give_back(self, buckets: Sequence[Bucket]) -> None:
        """Return one token to every bucket (never beyond its burst)."""
        now = self._clock()
        with self._lock:
            for key, rate, burst in buckets:
                self._set(key, min(float(burst), self._level(key, rate, burst, now) + 1.0), now, rate, burst)

    def _level(self, key: str, rate: float, burst: int, now: float) -> float:
        tokens, at, _ = self._buckets.get(key, (float(burst), now, now))
        return min(float(burst), tokens + (now - at) * rate)

    def _set(self, key: str, tokens: float, now: float, rate: float, burst: int) -> None:
        full_at = now + (burst - tokens) / rate if rate > 0 else math.inf
        self._buckets[key] = (tokens, now, full_at)

    def _sweep(self, now: float) -> None:
        # Each bucket by its own refill time: a sweep run by a device's request must not forget a sign-in bucket.
        self._buckets = {k: v for k, v in self._buckets.items() if now < v[2]}
        self._refusing &= set(self._buckets)
        self._last_sweep = now
