"""Consent at build time: keep only what was consented for the segment's scopes, time range and notice (pure).

The server already refuses segments whose header declares an unconsented scope, and opening quarantines a segment
whose events exceed its header. At build time consent may have changed since: ``Consented`` asks the consent
ledger (the lead wires it; the default allows all) whether ``participant`` consented to ``scope`` for the whole
wall-clock range under ``notice``. A scope that is not consented drops its records: no ``screenshots`` -> no frame
records and no image bytes; no ``window_titles`` / ``app_names`` -> blank titles / app names; no ``keys`` -> no
key events, so no typed text, presses or hotkeys. A withdrawn participant is not consented to anything and
contributes nothing.

A withdrawal reaches back: ``LedgerConsent`` treats a scope withdrawn after a segment began as unconsented for that
segment for good, even when the participant grants the scope again later (a new grant covers new recordings only),
so what the purge has not yet cut out of the raw segments (``dataset.purge.erase_withdrawn_scopes``, which uses
``privacy.scopes.without_scopes``), or a segment recorded before the withdrawal but uploaded after it, never reaches
a release.
``WithdrawnScopes`` enforces the withdrawals a purge is carrying out whatever the wrapped check says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from workprint.models import ALL_SCOPES
from workprint.privacy.consent import ConsentLedger
from workprint.privacy.scopes import narrow_to_scopes
from workprint.segment import Segment

Consented = Callable[[str, str, int, int, str], bool]
"""``consented(participant, scope, wall_start_ns, wall_end_ns, notice_version) -> bool``."""


def allow_all(participant: str, scope: str, wall_start_ns: int, wall_end_ns: int, notice: str) -> bool:
    """The default consent check: everything the header declares is consented."""
    return True


class LedgerConsent:
    """``Consented`` over consent ledgers: covered for the whole range under the notice, and not withdrawn since.

    ``ledger_of(participant)`` returns the participant's ledger (e.g. ``ConsentService.ledger``); ``now_ns`` is the
    build time: a scope withdrawn after the segment began and by then contributes nothing, whenever it was recorded
    and whatever was granted after the withdrawal. Ledgers are cached per build (a build is short next to the purge
    deadline).
    """

    def __init__(self, ledger_of: Callable[[str], ConsentLedger], now_ns: int) -> None:
        self.ledger_of = ledger_of
        self.now_ns = now_ns
        self._cache: dict[str, ConsentLedger] = {}

    def __call__(self, participant: str, scope: str, wall_start_ns: int, wall_end_ns: int, notice: str) -> bool:
        ledger = self._cache.get(participant)
        if ledger is None:
            ledger = self._cache[participant] = self.ledger_of(participant)
        if ledger.consented_over((scope,), wall_start_ns, wall_end_ns, notice):
            return False
        return not any(
            r.action == "withdraw" and scope in r.scopes and wall_start_ns < r.timestamp_ns <= self.now_ns
            for r in ledger.receipts
        )


@dataclass(frozen=True, slots=True)
class WithdrawnScopes:
    """``Consented`` that refuses each participant's ``withdrawn`` scopes and otherwise asks ``base``.

    A purge wraps the build's consent check in it, so the scopes being purged leave the rebuilt release even when
    the check it was given does not know of the withdrawal (e.g. ``allow_all``). Picklable when ``base`` is.
    """

    base: Consented = allow_all
    withdrawn: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __call__(self, participant: str, scope: str, wall_start_ns: int, wall_end_ns: int, notice: str) -> bool:
        if scope in self.withdrawn.get(participant, frozenset()):
            return False
        return self.base(participant, scope, wall_start_ns, wall_end_ns, notice)


def consented_scopes(seg: Segment, consented: Consented) -> frozenset[str]:
    """The header's scopes that are consented for the segment's whole time range and notice."""
    h = seg.header
    return frozenset(
        s for s in h.scopes if s in ALL_SCOPES and consented(h.participant, s, h.wall_start_ns, h.wall_end_ns,
                                                             h.notice_version)
    )  # fmt: skip


def filter_consented(seg: Segment, consented: Consented) -> Segment | None:
    """The segment with unconsented records removed; None when no recorded scope is consented."""
    return narrow_to_scopes(seg, consented_scopes(seg, consented))


__all__ = [
    "Consented",
    "LedgerConsent",
    "WithdrawnScopes",
    "allow_all",
    "consented_scopes",
    "filter_consented",
]
