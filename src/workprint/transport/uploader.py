"""The uploader: sends sealed segments in order, deletes each only after the server acknowledged it.

A refused segment is moved aside with its reason (never deleted silently) and the queue goes on; a transient
failure (unreachable, 429, 5xx) stops the round and backs off exponentially with full jitter, never sooner than the
server's ``Retry-After``. Every segment is named by its content hash, so a retry after a lost acknowledgement is a
duplicate on the server, not a second copy.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from workprint.errors import ConfigError, TransportError, WorkprintError
from workprint.faults import fault_point
from workprint.segment import segment_id
from workprint.transport.base import ReportsSpoolLag, Transport, UploadResult


class SegmentQueue(Protocol):
    """What the uploader needs from the spool."""

    def pending(self) -> list[Path]: ...

    def mark_uploaded(self, path: Path) -> None: ...

    def mark_rejected(self, path: Path, reason: str) -> Path: ...


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base * 2**n)]."""

    base_s: float = 0.5
    cap_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        """The next wait in seconds, at least the server's ``Retry-After``."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 62)))
        self.attempt += 1
        return max(self.rng.uniform(0, ceiling), retry_after_s or 0.0)

    def reset(self) -> None:
        """Back to the first delay after a success."""
        self.attempt = 0


@dataclass(slots=True)
class UploadStats:
    """Counters for status output."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    failures: int = 0
    last_error: str = ""


class Uploader:
    """Drains a spool's sealed segments through a ``Transport``. Thread-safe."""

    def __init__(
        self,
        spool: SegmentQueue,
        transport: Transport,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_bytes_per_s: float | None = None,
    ) -> None:
        if max_bytes_per_s is not None and max_bytes_per_s <= 0:
            raise ConfigError(f"upload_max_bytes_per_s: expected a positive rate, got {max_bytes_per_s!r}")
        self.max_bytes_per_s = max_bytes_per_s
        self._rate_next = 0.0  # the clock time before which the rate limit allows no further upload
        self.spool = spool
        self.transport = transport
        self.backoff = backoff or Backoff()
        self.stats = UploadStats()
        self._clock = clock
        self._not_before = 0.0
        self._lock = threading.Lock()

    def wait_s(self) -> float:
        """Seconds until the backoff allows the next attempt (0 when it may try now)."""
        return max(0.0, self._not_before - self._clock())

    def run_once(self) -> int:
        """Upload what is pending unless backing off; returns how many segments were acknowledged this round."""
        if self.wait_s() > 0:
            return 0
        acked, _ = self._round()
        return acked

    def flush(self) -> int:
        """Upload what is pending now, ignoring the backoff and the rate limit (CLI one-shot); raises
        ``TransportError`` with one line when the server cannot take them. What was not acknowledged stays."""
        acked, failure = self._round(limit_rate=False)
        if failure is not None:
            raise TransportError(failure.reason)
        return acked

    def _round(self, *, limit_rate: bool = True) -> tuple[int, UploadResult | None]:
        acked = 0
        with self._lock:
            pending = self.spool.pending()
            for i, path in enumerate(pending):
                if limit_rate and self.max_bytes_per_s is not None and self._rate_next > self._clock():
                    # Draining a long backlog: bounded, so a returning fleet does not flood the server or the link.
                    self._not_before = max(self._not_before, self._rate_next)
                    return acked, None
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue  # purged (withdrawal) while queued
                if isinstance(self.transport, ReportsSpoolLag):
                    self.transport.set_spool_pending(len(pending) - i)
                result = self.transport.put_segment(segment_id(data), data)
                if self.max_bytes_per_s is not None:
                    self._rate_next = max(self._clock(), self._rate_next) + len(data) / self.max_bytes_per_s
                if result.acknowledged:
                    fault_point("upload.ack")  # test-only: a kill here loses the acknowledgement, not the segment
                    self.spool.mark_uploaded(path)
                    acked += 1
                    if result.outcome == "stored":
                        self.stats.stored += 1
                    else:
                        self.stats.duplicates += 1
                    self.backoff.reset()
                elif result.outcome == "rejected":
                    self.spool.mark_rejected(path, result.reason)
                    self.stats.rejected += 1
                    self.stats.last_error = result.reason
                else:
                    self.stats.failures += 1
                    self.stats.last_error = result.reason
                    self._not_before = self._clock() + self.backoff.next_delay(result.retry_after_s)
                    return acked, result
        return acked, None

    def run(self, stop: threading.Event, *, interval_s: float = 1.0) -> None:
        """Upload until ``stop`` is set: every ``interval_s``, or later while backing off."""
        while not stop.is_set():
            try:
                self.run_once()
            except WorkprintError as exc:  # e.g. the spool's disk: report it, keep the loop (and the data) alive
                self.stats.last_error = str(exc)
                self._not_before = self._clock() + self.backoff.next_delay()
            stop.wait(max(interval_s, self.wait_s()))


def upload_pending(spool_dir: Path, transport: Transport) -> int:
    """CLI one-shot: upload every sealed segment in ``spool_dir`` now. Works on ``sealed/`` only, without opening
    (or locking) the spool, so it is safe beside a running agent (a segment both send is a duplicate, not a copy).
    Raises ``TransportError`` with one line when the server cannot take them; the rest stays in the spool."""
    from workprint.spool.queue import SegmentQueueDir

    return Uploader(SegmentQueueDir(Path(spool_dir)), transport).flush()
