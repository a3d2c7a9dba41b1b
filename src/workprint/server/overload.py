"""Ingest under pressure: refuse early and clearly instead of falling over.

``IngestGuard`` is pure ASGI middleware in front of ``PUT /v1/segments/…`` only (reads, health and metrics pass
untouched, so the service stays observable and readable while ingest is refused):

- **disk**: when the server's disk has less than ``min_free_bytes`` free, ingest answers ``507`` with
  ``Retry-After`` (the agent keeps its spool and tries later); a segment is never half-accepted.
- **concurrency**: at most ``max_inflight`` segments are ingested at once; up to ``max_queue`` more wait in FIFO
  order; beyond that ingest answers ``503`` with ``Retry-After``. Memory stays bounded: a waiting request's body has
  not been read yet.
- **latency** (CoDel-like: what is bounded is the time spent queued): an accepted upload should be answered within
  ``latency_budget_s`` (its p99 budget). ``ServiceTime`` tracks how long an upload holds its slot (smoothed mean and
  deviation, as TCP's retransmission timer does), so a queued upload may wait only what the budget leaves after a
  slow service time: ``queue_deadline``. One that would not get a slot in time by the current service rate is
  refused at once; one still waiting at its deadline is refused then. ``queue_timeout_s`` caps the wait when the
  budget is 0 (no deadline).
- **spreading**: ``Retry-After`` is a base plus a random whole number of seconds up to as much again, so agents
  refused together (whose backoff never waits less than ``Retry-After``) come back apart. The base is
  ``retry_after_busy_s``, stretched in proportion to ``Pressure`` (refusals per acceptance over the last seconds)
  beyond ``target_refusals``: a refused upload's body is still read, so agents that come back too soon cost the
  server nearly what an accepted upload does (with 200 agents flat out, 2 s instead of the stretched base halved
  what was accepted).

A refused request's body is drained (up to ``DRAIN_LIMIT``) before answering, so the client reads the answer and its
``Retry-After`` instead of a connection reset.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from workprint.config import ServerSettings
from workprint.server.middleware import DRAIN_LIMIT, drain_body, error_body

__all__ = [
    "FreeSpace",
    "IngestGuard",
    "IngestLimits",
    "Pressure",
    "ServiceTime",
    "install_ingest_guard",
    "is_ingest",
    "queue_deadline",
]

INGEST_PREFIX = "/v1/segments/"


def is_ingest(scope: Scope) -> bool:
    """True for a segment upload."""
    return scope["type"] == "http" and scope["method"] == "PUT" and str(scope["path"]).startswith(INGEST_PREFIX)


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """How much ingest the process takes on at once, and the free-disk floor below which it refuses segments."""

    max_inflight: int = 8
    max_queue: int = 256
    queue_timeout_s: float = 5.0
    latency_budget_s: float = 0.2  # p99 budget (ServerSettings.ingest_latency_budget_s); 0: up to queue_timeout_s
    min_wait_s: float = 0.01  # the shortest queue deadline, even when service alone exceeds the budget
    min_free_bytes: int = 256 * 1024 * 1024
    retry_after_busy_s: int = 2
    retry_after_max_s: int = 60
    target_refusals: float = 0.25  # refusals per acceptance above which Retry-After stretches
    retry_after_full_s: int = 60


class FreeSpace:
    """The smallest free space among ``paths`` (their nearest existing ancestors), re-read at most every ``ttl_s``."""

    def __init__(self, paths: Iterable[Path], ttl_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.paths = list(paths)
        self.ttl_s = ttl_s
        self._clock = clock
        self._at = -1e18
        self._free = 0

    @staticmethod
    def _existing(p: Path) -> Path:
        while not p.exists() and p.parent != p:
            p = p.parent
        return p

    def __call__(self) -> int:
        now = self._clock()
        if now - self._at >= self.ttl_s:
            free = [shutil.disk_usage(self._existing(p)).free for p in self.paths]
            self._free = min(free) if free else 1 << 62
            self._at = now
        return self._free


class ServiceTime:
    """How long an upload holds its slot: smoothed mean and mean deviation (RFC 6298's SRTT and RTTVAR)."""

    def __init__(self) -> None:
        self.mean = 0.0
        self.deviation = 0.0
        self.samples = 0

    def add(self, seconds: float) -> None:
        if self.samples == 0:
            self.mean, self.deviation = seconds, seconds / 2
        else:
            self.deviation = 0.75 * self.deviation + 0.25 * abs(self.mean - seconds)
            self.mean = 0.875 * self.mean + 0.125 * seconds
        self.samples += 1

    @property
    def slow(self) -> float:
        """A slow service time (mean + 4 deviations): few uploads take longer once started."""
        return self.mean + 4 * self.deviation


class Pressure:
    """Refusals per acceptance over the last seconds: counts that decay by half every ``half_life_s``."""

    def __init__(self, half_life_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.half_life_s = half_life_s
        self._clock = clock
        self._at = clock()
        self.refused = 0.0
        self.accepted = 0.0

    def _decay(self) -> None:
        now = self._clock()
        f = 0.5 ** ((now - self._at) / self.half_life_s)
        self.refused *= f
        self.accepted *= f
        self._at = now

    def add(self, *, accepted: bool) -> None:
        self._decay()
        if accepted:
            self.accepted += 1
        else:
            self.refused += 1

    def ratio(self) -> float:
        """Refusals per acceptance (a handful of refusals alone count as few: at least 20 acceptances assumed)."""
        self._decay()
        return self.refused / max(self.accepted, 20.0)


def queue_deadline(limits: IngestLimits, service: ServiceTime) -> float:
    """How long a queued upload may wait for a slot and still be answered within the latency budget."""
    if limits.latency_budget_s <= 0:
        return limits.queue_timeout_s
    return min(limits.queue_timeout_s, max(limits.min_wait_s, limits.latency_budget_s - service.slow))


class _Slots:
    """A FIFO semaphore with a bounded queue (one event loop; no locks needed)."""

    def __init__(self, size: int, max_queue: int) -> None:
        self.size = size
        self.max_queue = max_queue
        self.busy = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, timeout_s: float, expected_wait_s: Callable[[int], float] | None = None) -> bool:
        """Take a slot, waiting up to ``timeout_s``; False at once when the queue is full or when
        ``expected_wait_s(waiters ahead)`` says the wait would be longer than ``timeout_s``."""
        if self.busy < self.size and not self.waiters:
            self.busy += 1
            return True
        if len(self.waiters) >= self.max_queue:
            return False
        if expected_wait_s is not None and expected_wait_s(len(self.waiters)) > timeout_s:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout_s)
            return True
        except TimeoutError:
            if fut.done():  # handed a slot just as the wait ran out: keep it
                return True
            self.waiters.remove(fut)
            fut.cancel()
            return False

    def release(self) -> None:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes straight to the next waiter; ``busy`` is unchanged
                return
        self.busy -= 1


async def refuse(receive: Receive, send: Send, status: int, code: str, message: str, retry_after_s: int) -> None:
    """Answer an upload with the JSON error shape and ``Retry-After``, after reading (and discarding) its body."""
    await drain_body(receive, DRAIN_LIMIT)
    body = json.dumps(error_body(code, message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after_s).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class IngestGuard:
    """Refuse uploads with 507 when the disk is nearly full and 503 when more arrive than the server can take."""

    def __init__(
        self,
        app: ASGIApp,
        limits: IngestLimits,
        free_bytes: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.free_bytes = free_bytes
        self.service = ServiceTime()
        self.pressure = Pressure(clock=clock)
        self._clock = clock
        self._rng = rng or random.Random()
        self._slots: _Slots | None = None  # made lazily: it belongs to the event loop that serves requests

    @property
    def inflight(self) -> int:
        """Uploads being ingested now."""
        return self._slots.busy if self._slots else 0

    @property
    def queued(self) -> int:
        """Uploads waiting for a slot."""
        return len(self._slots.waiters) if self._slots else 0

    def _expected_wait_s(self, ahead: int) -> float:
        # Slots free at max_inflight per mean service time; this upload gets the one after the ``ahead`` before it.
        return (ahead + 1) * self.service.mean / self.limits.max_inflight

    def retry_after_s(self) -> int:
        """The base (``retry_after_busy_s``, stretched by the pressure) plus up to as much again, in whole seconds."""
        lim = self.limits
        stretch = max(1.0, self.pressure.ratio() / lim.target_refusals)
        base = min(lim.retry_after_max_s, math.ceil(lim.retry_after_busy_s * stretch))
        return base + self._rng.randint(0, base)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_ingest(scope):
            await self.app(scope, receive, send)
            return
        lim = self.limits
        free = self.free_bytes()
        if free < lim.min_free_bytes:
            msg = f"server disk: {free} bytes free, below the floor of {lim.min_free_bytes}; segment not accepted"
            await refuse(receive, send, 507, "insufficient_storage", msg, lim.retry_after_full_s)
            return
        if self._slots is None:
            self._slots = _Slots(lim.max_inflight, lim.max_queue)
        deadline = queue_deadline(lim, self.service)
        predict = self._expected_wait_s if lim.latency_budget_s > 0 and self.service.samples else None
        if not await self._slots.acquire(deadline, predict):
            msg = (
                f"ingest: overloaded ({lim.max_inflight} in progress, {len(self._slots.waiters)} waiting; "
                f"cannot start within {deadline * 1000:.0f} ms); retry later"
            )
            self.pressure.add(accepted=False)
            await refuse(receive, send, 503, "overloaded", msg, self.retry_after_s())
            return
        self.pressure.add(accepted=True)
        started = self._clock()
        try:
            await self.app(scope, receive, send)
        finally:
            self.service.add(self._clock() - started)
            self._slots.release()


def install_ingest_guard(app: FastAPI, settings: ServerSettings) -> None:
    """Put an ``IngestGuard`` configured from ``settings`` in front of ``app``'s ingest route (a FastAPI app)."""
    limits = IngestLimits(
        max_inflight=settings.ingest_max_inflight,
        max_queue=settings.ingest_max_queue,
        queue_timeout_s=settings.ingest_queue_timeout_s,
        latency_budget_s=settings.ingest_latency_budget_s,
        min_free_bytes=settings.min_free_bytes,
    )
    paths = [settings.server_dir]
    blob = settings.resolved_blob_url()
    if not blob.startswith("s3://"):  # object storage reports its own space; 507s from it still reach the agent
        paths.append(Path(blob.removeprefix("file://")))
    app.add_middleware(IngestGuard, limits=limits, free_bytes=FreeSpace(paths))
