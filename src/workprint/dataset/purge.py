"""Erasure reaches releases: every release version holding a participant's examples is rebuilt without them and
its files purged.

``purge_participant`` finds the active versions holding the participant through the lineage table, builds one new
version of each release from the current source without them (same options, same pseudonym key, so everyone else
keeps their ids), then deletes every file of the old versions (Parquet, shards, JSONL, images, datasheet) and drops
their lineage rows. The raw blobs are deleted by ``ServerAPI.erase_participant``. ``purge_pending`` processes
every outstanding request (erased participants still held by a release, and explicit withdrawal requests), oldest
first, and says which were past the deadline (default 7 days; the law allows one month).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import inspect, select

from workprint.dataset.consent import Consented, allow_all
from workprint.dataset.executors import Executor
from workprint.dataset.fsio import Root
from workprint.dataset.release import ReceiptOf, ReleaseOptions, ReleaseReport, build_release, version_dir
from workprint.dataset.source import SegmentSource
from workprint.store import tables as t
from workprint.store.lineage_tables import LineageStore, ReleaseRow

DEFAULT_DEADLINE_NS = 7 * 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What one participant's purge did."""

    participant_id: str
    requested_at: int
    overdue: bool
    rebuilt: tuple[ReleaseReport, ...]
    purged: tuple[tuple[str, int], ...]


def purge_participant(
    participant_id: str,
    lineage: LineageStore,
    source: SegmentSource,
    *,
    consented: Consented = allow_all,
    receipt_of: ReceiptOf | None = None,
    executor: Executor = "local",
    clock: Callable[[], int] = time.time_ns,
) -> tuple[tuple[ReleaseReport, ...], tuple[tuple[str, int], ...]]:
    """Rebuild every release holding ``participant_id`` without them; purge the old versions' files.

    Returns the new versions' reports and the (release, version) pairs purged.
    """
    by_release: dict[str, list[ReleaseRow]] = {}
    for row in lineage.active_holding(participant_id):
        by_release.setdefault(row.release_id, []).append(row)
    rebuilt: list[ReleaseReport] = []
    purged: list[tuple[str, int]] = []
    for release_id, rows in sorted(by_release.items()):
        latest = max(rows, key=lambda r: r.version)
        report = build_release(
            source, latest.location, release_id, options=ReleaseOptions.from_json(latest.options, executor),
            key=latest.pseudonym_key, consented=consented, receipt_of=receipt_of, exclude=(participant_id,),
            lineage=lineage, clock=clock,
        )  # fmt: skip
        rebuilt.append(report)
        for row in rows:
            Root(row.location).child(version_dir(release_id, row.version)).delete("")
            lineage.mark_purged(release_id, row.version, clock())
            purged.append((release_id, row.version))
    return tuple(rebuilt), tuple(purged)


def pending(lineage: LineageStore) -> list[tuple[str, int]]:
    """Outstanding purges as (participant, requested_at): explicit requests and erased participants still held."""
    requests = dict(lineage.pending_requests())
    p = t.participants
    if not inspect(lineage.engine).has_table(p.name):
        return sorted(requests.items(), key=lambda kv: (kv[1], kv[0]))
    with lineage.engine.connect() as conn:
        erased = conn.execute(select(p.c.id, p.c.erased_at).where(p.c.erased_at.is_not(None))).all()
    for pid, at in erased:
        if str(pid) not in requests and lineage.active_holding(str(pid)):
            requests[str(pid)] = int(at)
    return sorted(requests.items(), key=lambda kv: (kv[1], kv[0]))


def purge_pending(
    lineage: LineageStore,
    source: SegmentSource,
    *,
    deadline_ns: int = DEFAULT_DEADLINE_NS,
    consented: Consented = allow_all,
    receipt_of: ReceiptOf | None = None,
    executor: Executor = "local",
    clock: Callable[[], int] = time.time_ns,
) -> list[PurgeResult]:
    """Carry out every outstanding purge, oldest first."""
    results = []
    for participant_id, requested_at in pending(lineage):
        overdue = clock() - requested_at > deadline_ns
        rebuilt, purged = purge_participant(
            participant_id, lineage, source, consented=consented, receipt_of=receipt_of, executor=executor,
            clock=clock,
        )  # fmt: skip
        lineage.mark_done(participant_id, clock())
        results.append(PurgeResult(participant_id, requested_at, overdue, rebuilt, purged))
    return results


__all__ = ["DEFAULT_DEADLINE_NS", "PurgeResult", "pending", "purge_participant", "purge_pending"]
