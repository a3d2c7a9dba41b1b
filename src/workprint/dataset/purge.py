"""Erasure and withdrawal reach releases: every release version holding a participant's examples is rebuilt without
what they took back, and its files purged.

A ``PurgeRequest`` names a participant and the scopes to remove. An erasure, an explicit ``request-purge`` or a
withdrawal of every scope removes the participant entirely: the rebuild excludes them. A partial withdrawal (e.g.
only ``screenshots``) removes exactly that: the rebuild keeps the participant, under the same pseudonymous id, with
every scope they still consent to, and the withdrawn scopes contribute nothing (no frame records and no image
bytes for ``screenshots``, blank titles for ``window_titles``, blank app names for ``app_names``, no key events and
so no typed text, presses or hotkeys for ``keys``, no pointer actions for ``mouse``).

A withdrawal also reaches the raw store: ``erase_withdrawn_scopes`` seals again, without the withdrawn scopes'
records, every segment of the participant begun before the withdrawal that declares one of them, and deletes the
old ciphertext (a segment left with no scope is deleted), as the portal does for a participant's own deletions; the
new segment has a new content-addressed id, and the rebuilt releases' lineage names it. Whatever of a withdrawn
scope is still met afterwards (a segment recorded before the withdrawal but uploaded after it, a source other than
the server) is unconsented for good: the consent ledger keeps the withdrawal, ``LedgerConsent`` refuses a scope for
any segment begun before its withdrawal (a later grant covers new recordings only), and the rebuild also wraps
whatever consent check it is given in ``WithdrawnScopes``, so no byte of a withdrawn scope reaches a release even
from a build told to allow all. A steward's raw read under a grant leaves them out too, from the moment of the
withdrawal (``ConsentService.withhold_withdrawn``). Full erasure crypto-shreds the participant's key
(``ServerAPI.erase_participant``), which makes every raw copy unreadable.

``purge_pending`` gathers every outstanding request (explicit ones and erased participants still held, from the
lineage tables; partial withdrawals handed in by the caller, e.g. the server's ``erasure_requests``), merges each
participant's into one (the union of their scopes, the oldest time), rebuilds every affected release once with all
of them applied (same options, same pseudonym key, so everyone keeps their ids), then deletes every file of the old
versions (Parquet, shards, JSONL, images, datasheet) and drops their lineage rows. It says which requests were past
the deadline (default 7 days; the law allows one month).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import inspect, select

from workprint.dataset.consent import Consented, WithdrawnScopes, allow_all
from workprint.dataset.executors import Executor
from workprint.dataset.fsio import Root
from workprint.dataset.release import ReceiptOf, ReleaseOptions, ReleaseReport, build_release, version_dir
from workprint.dataset.source import SegmentSource
from workprint.models import ALL_SCOPES
from workprint.privacy.scopes import without_scopes
from workprint.store import tables as t
from workprint.store.lineage_tables import LineageStore, ReleaseRow
from workprint.store.records import AuditEvent

if TYPE_CHECKING:
    from workprint.server.api import ServerAPI

DEFAULT_DEADLINE_NS = 7 * 86_400 * 1_000_000_000
EVERY_SCOPE: frozenset[str] = frozenset(ALL_SCOPES)


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    """A participant's outstanding purge: of every scope (erasure, full withdrawal) or of some (partial)."""

    participant_id: str
    requested_at: int
    scopes: frozenset[str] = field(default=EVERY_SCOPE)

    @property
    def full(self) -> bool:
        """True when nothing of the participant may stay: they leave the releases entirely."""
        return self.scopes >= EVERY_SCOPE


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What one participant's purge did: ``scopes`` removed (all of them: the participant left entirely)."""

    participant_id: str
    requested_at: int
    overdue: bool
    rebuilt: tuple[ReleaseReport, ...]
    purged: tuple[tuple[str, int], ...]
    scopes: tuple[str, ...] = tuple(sorted(EVERY_SCOPE))

    @property
    def full(self) -> bool:
        """True when the participant was removed entirely."""
        return frozenset(self.scopes) >= EVERY_SCOPE


def erase_withdrawn_scopes(api: ServerAPI, request: PurgeRequest, *, actor: str = "steward:purge") -> int:
    """Cut ``request.scopes`` out of the participant's raw segments begun before ``request.requested_at``; returns
    how many segments were rewritten or deleted.

    Each segment is read through ``read_segment`` (audited as ``actor``), sealed again to the participant's public
    key without the withdrawn records, stored, and swapped for the old one in one transaction with its audit entry
    (``segment.erase_scopes``); only then is the old ciphertext deleted. Running it again changes nothing.
    """

    participant = api.participant(request.participant_id)
    if participant.erased:
        return 0  # crypto-shredded: nothing readable is left to cut
    n = 0
    for rec in api.metadata.segments(request.participant_id):
        if rec.wall_start_ns >= request.requested_at or not request.scopes & set(rec.scopes):
            continue
        kept = without_scopes(api.read_segment(actor, rec.id), request.scopes)
        detail = {"participant_id": rec.participant_id, "scopes": sorted(request.scopes)}
        api.replace_segment(rec, kept, AuditEvent(actor, "segment.erase_scopes", f"segment:{rec.id}", detail))
        n += 1
    return n


def merge_requests(requests: Iterable[PurgeRequest]) -> list[PurgeRequest]:
    """One request per participant (their scopes joined, their oldest time), oldest first."""
    merged: dict[str, PurgeRequest] = {}
    for r in requests:
        if r.participant_id in merged:
            m = merged[r.participant_id]
            r = PurgeRequest(r.participant_id, min(m.requested_at, r.requested_at), m.scopes | r.scopes)
        merged[r.participant_id] = r
    return sorted(merged.values(), key=lambda r: (r.requested_at, r.participant_id))


def pending(lineage: LineageStore, withdrawals: Iterable[PurgeRequest] = ()) -> list[PurgeRequest]:
    """Outstanding purges, merged per participant and oldest first: explicit requests, erased participants still
    held by a release, and the ``withdrawals`` given (partial ones keep their scopes)."""
    requests = [PurgeRequest(pid, at) for pid, at in lineage.pending_requests()]
    explicit = {r.participant_id for r in requests}
    p = t.participants
    if inspect(lineage.engine).has_table(p.name):
        with lineage.engine.connect() as conn:
            erased = conn.execute(select(p.c.id, p.c.erased_at).where(p.c.erased_at.is_not(None))).all()
        requests += [
            PurgeRequest(str(pid), int(at))
            for pid, at in erased
            if str(pid) not in explicit and lineage.active_holding(str(pid))
        ]
    return merge_requests([*requests, *withdrawals])


def _rebuild(
    requests: list[PurgeRequest],
    lineage: LineageStore,
    source: SegmentSource,
    consented: Consented,
    receipt_of: ReceiptOf | None,
    executor: Executor,
    clock: Callable[[], int],
) -> dict[str, tuple[list[ReleaseReport], list[tuple[str, int]]]]:
    """Rebuild each release holding a requester once with every request applied; purge the versions held.

    Returns, per participant, the new versions of the releases that held them and the versions purged.
    """
    exclude = tuple(r.participant_id for r in requests if r.full)
    guard = WithdrawnScopes(consented, {r.participant_id: r.scopes for r in requests if not r.full})
    held: dict[str, dict[int, ReleaseRow]] = {}
    holders: dict[tuple[str, int], set[str]] = {}
    for r in requests:
        for row in lineage.active_holding(r.participant_id):
            held.setdefault(row.release_id, {})[row.version] = row
            holders.setdefault((row.release_id, row.version), set()).add(r.participant_id)
    out: dict[str, tuple[list[ReleaseReport], list[tuple[str, int]]]] = {r.participant_id: ([], []) for r in requests}
    for release_id, versions in sorted(held.items()):
        latest = versions[max(versions)]
        report = build_release(
            source, latest.location, release_id, options=ReleaseOptions.from_json(latest.options, executor),
            key=latest.pseudonym_key, consented=guard, receipt_of=receipt_of, exclude=exclude, lineage=lineage,
            clock=clock,
        )  # fmt: skip
        touched: set[str] = set()
        for version, row in sorted(versions.items()):
            Root(row.location).child(version_dir(release_id, version)).delete("")
            lineage.mark_purged(release_id, version, clock())
            for pid in sorted(holders[(release_id, version)]):
                out[pid][1].append((release_id, version))
                touched.add(pid)
        for pid in touched:
            out[pid][0].append(report)
    return out


def purge_participant(
    participant_id: str,
    lineage: LineageStore,
    source: SegmentSource,
    *,
    scopes: Iterable[str] = EVERY_SCOPE,
    consented: Consented = allow_all,
    receipt_of: ReceiptOf | None = None,
    executor: Executor = "local",
    clock: Callable[[], int] = time.time_ns,
) -> tuple[tuple[ReleaseReport, ...], tuple[tuple[str, int], ...]]:
    """Rebuild every release holding ``participant_id`` without their ``scopes`` (all: without them at all); purge
    the old versions' files.

    Returns the new versions' reports and the (release, version) pairs purged.
    """
    request = PurgeRequest(participant_id, clock(), frozenset(scopes))
    rebuilt, purged = _rebuild([request], lineage, source, consented, receipt_of, executor, clock)[participant_id]
    return tuple(rebuilt), tuple(purged)


def purge_pending(
    lineage: LineageStore,
    source: SegmentSource,
    *,
    withdrawals: Iterable[PurgeRequest] = (),
    deadline_ns: int = DEFAULT_DEADLINE_NS,
    consented: Consented = allow_all,
    receipt_of: ReceiptOf | None = None,
    executor: Executor = "local",
    clock: Callable[[], int] = time.time_ns,
) -> list[PurgeResult]:
    """Carry out every outstanding purge (and the ``withdrawals`` given), oldest first, one rebuild per release."""
    requests = pending(lineage, withdrawals)
    if not requests:
        return []
    done = _rebuild(requests, lineage, source, consented, receipt_of, executor, clock)
    results = []
    for r in requests:
        overdue = clock() - r.requested_at > deadline_ns
        rebuilt, purged = done[r.participant_id]
        lineage.mark_done(r.participant_id, clock())
        scopes = tuple(sorted(EVERY_SCOPE if r.full else r.scopes))
        results.append(PurgeResult(r.participant_id, r.requested_at, overdue, tuple(rebuilt), tuple(purged), scopes))
    return results


__all__ = [
    "DEFAULT_DEADLINE_NS",
    "EVERY_SCOPE",
    "PurgeRequest",
    "PurgeResult",
    "erase_withdrawn_scopes",
    "merge_requests",
    "pending",
    "purge_participant",
    "purge_pending",
]
