"""Group commit: concurrent callers share one transaction (and so one WAL fsync) instead of paying one each.

A caller that finds nobody committing becomes the leader: it takes every item queued so far (its own included),
runs them as one batch and wakes their callers with their results. Items that arrive meanwhile queue for the next
batch, whose leader is the first of them. Nobody returns before the batch holding its item has committed, so an
acknowledgement still means durable. Under no concurrency a batch is one item and nothing waits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(slots=True, eq=False)
class _Slot(Generic[T, R]):
    item: T
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to lead the next batch, not with a result
    result: R | None = None
    error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Run ``batch(items) -> results`` (one result per item, in order) for items submitted by concurrent threads.

    When a batch of several items raises, each item is retried alone, so one bad item fails only its own caller.
    """

    def __init__(self, batch: Callable[[Sequence[T]], Sequence[R]]) -> None:
        self._batch = batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[T, R]] = []
        self._leading = False
        self.batches = 0  # how many batches ran (tests and benchmarks read it)

    def submit(self, item: T) -> R:
        """Run ``item`` in the next batch; returns its result once that batch has committed, or raises its error."""
        slot: _Slot[T, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.done.wait()
            if slot.lead:  # the previous leader handed over: our item is still queued
                slot.done.clear()
                self._lead_once()
        else:
            self._lead_once()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead_once(self) -> None:
        with self._lock:
            # Everything queued, the leader's own item included (callers are bounded upstream: ingest's in-flight cap).
            taken, self._queue = self._queue, []
        self._run(taken)
        with self._lock:
            if self._queue:
                nxt = self._queue[0]
                nxt.lead = True
                nxt.done.set()
            else:
                self._leading = False
        for s in taken:
            s.done.set()

    def _run(self, taken: list[_Slot[T, R]]) -> None:
        self.batches += 1
        try:
            results = self._batch([s.item for s in taken])
            for s, r in zip(taken, results, strict=True):
                s.result = r
        except BaseException as exc:
            if len(taken) == 1:
                taken[0].error = exc
                return
            for s in taken:  # find the item that failed; the others still go through
                self._run([s])
