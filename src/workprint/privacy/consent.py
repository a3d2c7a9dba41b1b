"""Which scopes are consented when (pure): a ledger of grant and withdraw receipts.

A scope is active at wall time ``t`` for notice version ``v`` when the latest receipt touching it at or before ``t``
is a grant under ``v`` that has not expired. A withdrawal ends it at once; a new notice version leaves every grant
under an older one inactive; an expired grant (past its re-confirmation period) stops capture until a new grant.
The device uses ``active_scopes`` for its gate; the server uses ``consented_over`` / ``refusal_reason`` to refuse
a segment whose declared scopes were not consented for its whole time range.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from workprint.errors import ConsentError
from workprint.models import ALL_SCOPES, Scope
from workprint.privacy.receipts import ConsentReceipt, verify_receipt_dict


@dataclass(frozen=True, slots=True)
class ScopeStatus:
    """What a participant sees per scope in ``workprint consent show`` and ``status``."""

    scope: Scope
    active: bool
    reason: str  # "granted", "never granted", "withdrawn", "expired", "outdated notice"
    expires_ns: int | None = None


@dataclass(frozen=True, slots=True)
class ConsentLedger:
    """An ordered list of receipts (by time, then by position, so a later decision wins at equal timestamps)."""

    receipts: tuple[ConsentReceipt, ...] = ()

    @classmethod
    def of(cls, receipts: Iterable[ConsentReceipt]) -> ConsentLedger:
        indexed = sorted(enumerate(receipts), key=lambda ir: (ir[1].timestamp_ns, ir[0]))
        return cls(tuple(r for _, r in indexed))

    def add(self, receipt: ConsentReceipt) -> ConsentLedger:
        """A new ledger with ``receipt`` appended."""
        return ConsentLedger.of((*self.receipts, receipt))

    def latest(self, scope: Scope, at_wall_ns: int) -> ConsentReceipt | None:
        """The last receipt touching ``scope`` at or before ``at_wall_ns``."""
        found = None
        for r in self.receipts:
            if r.timestamp_ns > at_wall_ns:
                break
            if scope in r.scopes:
                found = r
        return found

    def status(self, scope: Scope, at_wall_ns: int, notice_version: str) -> ScopeStatus:
        """Whether ``scope`` is active, and why not."""
        r = self.latest(scope, at_wall_ns)
        if r is None:
            return ScopeStatus(scope, False, "never granted")
        if r.action == "withdraw":
            return ScopeStatus(scope, False, "withdrawn")
        if r.notice_version != notice_version:
            return ScopeStatus(scope, False, "outdated notice", r.expires_ns)
        if r.expires_ns is None or at_wall_ns >= r.expires_ns:
            return ScopeStatus(scope, False, "expired", r.expires_ns)
        return ScopeStatus(scope, True, "granted", r.expires_ns)

    def active_scopes(self, at_wall_ns: int, notice_version: str) -> frozenset[Scope]:
        """The scopes that may be captured at ``at_wall_ns`` under the current notice version."""
        return frozenset(s for s in ALL_SCOPES if self.status(s, at_wall_ns, notice_version).active)

    def next_change_ns(self, after_wall_ns: int) -> int | None:
        """The next wall time after ``after_wall_ns`` at which an expiry changes the answer (for cheap caching)."""
        times = [r.expires_ns for r in self.receipts if r.expires_ns is not None and r.expires_ns > after_wall_ns]
        times += [r.timestamp_ns for r in self.receipts if r.timestamp_ns > after_wall_ns]
        return min(times) if times else None

    def consented_over(
        self, scopes: Iterable[str], wall_start_ns: int, wall_end_ns: int, notice_version: str
    ) -> frozenset[str]:
        """The scopes in ``scopes`` NOT continuously consented over [start, end] under ``notice_version``.

        Active at the start, still unexpired at the end, and no withdrawal or grant under another notice in between.
        Unknown scope names are always missing.
        """
        missing: set[str] = set()
        for name in scopes:
            scope = next((s for s in ALL_SCOPES if s == name), None)
            if scope is None or not self._covers(scope, wall_start_ns, wall_end_ns, notice_version):
                missing.add(name)
        return frozenset(missing)

    def _covers(self, scope: Scope, start: int, end: int, notice_version: str) -> bool:
        first = self.status(scope, start, notice_version)
        if not first.active or first.expires_ns is None:
            return False
        expires = first.expires_ns
        for r in self.receipts:
            if r.timestamp_ns <= start or scope not in r.scopes:
                continue
            if r.timestamp_ns > end:
                break
            if r.action == "withdraw" or r.notice_version != notice_version or r.expires_ns is None:
                return False
            if r.timestamp_ns >= expires:  # consent lapsed before this re-confirmation: a gap
                return False
            expires = r.expires_ns
        return end < expires


def refusal_reason(
    ledger: ConsentLedger,
    scopes: Iterable[str],
    wall_start_ns: int,
    wall_end_ns: int,
    segment_notice_version: str,
    current_notice_version: str,
) -> str | None:
    """Why the server must refuse a segment (one line naming the scope or notice), or None if it may be stored."""
    if segment_notice_version != current_notice_version:
        return (
            f"notice_version: segment declares notice {segment_notice_version!r}, "
            f"current notice is {current_notice_version!r}"
        )
    if wall_end_ns < wall_start_ns:
        return f"time range: end {wall_end_ns} is before start {wall_start_ns}"
    missing = ledger.consented_over(scopes, wall_start_ns, wall_end_ns, current_notice_version)
    if missing:
        return f"scopes: no active consent for {', '.join(sorted(missing))} over the segment's time range"
    return None


class DeclaresConsent(Protocol):
    """What a segment header declares (``segment.SegmentHeader`` has these fields)."""

    @property
    def scopes(self) -> tuple[str, ...]: ...
    @property
    def wall_start_ns(self) -> int: ...
    @property
    def wall_end_ns(self) -> int: ...
    @property
    def notice_version(self) -> str: ...


def header_refusal(ledger: ConsentLedger, header: DeclaresConsent, current_notice_version: str) -> str | None:
    """``refusal_reason`` for a segment header: the server's ingest check in one call."""
    return refusal_reason(
        ledger, header.scopes, header.wall_start_ns, header.wall_end_ns, header.notice_version, current_notice_version
    )


def ledger_from_dicts(receipts: Iterable[Mapping[str, Any]], verify_keys: Sequence[Any]) -> ConsentLedger:
    """Parse stored receipts, each of which must verify under one of ``verify_keys``; else ``ConsentError``."""
    parsed = []
    for d in receipts:
        last: ConsentError | None = None
        for key in verify_keys:
            try:
                parsed.append(verify_receipt_dict(d, key))
                break
            except ConsentError as exc:
                last = exc
        else:
            raise last or ConsentError(f"receipt {d.get('consentReceiptID')!r}: signature: no trusted key to verify it")
    return ConsentLedger.of(parsed)


__all__ = [
    "ConsentLedger",
    "ScopeStatus",
    "header_refusal",
    "ledger_from_dicts",
    "refusal_reason",
]
