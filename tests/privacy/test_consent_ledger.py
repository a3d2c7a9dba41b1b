"""The consent ledger: per-scope consent, withdrawal, expiry, notice changes, and the server's range check."""

from __future__ import annotations

from dataclasses import replace

import pytest

from workprint.errors import ConsentError
from workprint.models import ALL_SCOPES
from workprint.privacy.consent import ConsentLedger, header_refusal, ledger_from_dicts, refusal_reason
from workprint.privacy.notices import DEFAULT_PROGRAM, Notice, Program
from workprint.privacy.receipts import ConsentReceipt, make_receipt

S = 1_000_000_000
DAY = 86_400 * S
T0 = 1_780_000_000 * S
P1 = DEFAULT_PROGRAM
P2 = replace(DEFAULT_PROGRAM, notice=Notice("2", "A new notice: screenshots are now kept for 2 years."))


def grant(scopes: tuple[str, ...], at: int, program: Program = P1) -> ConsentReceipt:
    return make_receipt(program, "grant", scopes, "p", at)  # type: ignore[arg-type]


def withdraw(scopes: tuple[str, ...], at: int) -> ConsentReceipt:
    return make_receipt(P1, "withdraw", scopes, "p", at)  # type: ignore[arg-type]


def test_nothing_is_consented_without_a_receipt() -> None:
    assert ConsentLedger().active_scopes(T0, "1") == frozenset()


def test_consent_is_per_scope_and_starts_at_the_grant() -> None:
    ledger = ConsentLedger.of([grant(("keys", "mouse"), T0)])
    assert ledger.active_scopes(T0 - 1, "1") == frozenset()
    assert ledger.active_scopes(T0, "1") == {"keys", "mouse"}
    assert ledger.status("screenshots", T0, "1").reason == "never granted"


def test_withdrawal_ends_only_the_withdrawn_scopes() -> None:
    ledger = ConsentLedger.of([grant(("keys", "mouse", "screenshots"), T0), withdraw(("keys",), T0 + 5 * S)])
    assert ledger.active_scopes(T0 + 5 * S - 1, "1") == {"keys", "mouse", "screenshots"}
    assert ledger.active_scopes(T0 + 5 * S, "1") == {"mouse", "screenshots"}
    assert ledger.status("keys", T0 + 6 * S, "1").reason == "withdrawn"


def test_regrant_after_withdrawal_reactivates() -> None:
    ledger = ConsentLedger.of([grant(("keys",), T0), withdraw(("keys",), T0 + S), grant(("keys",), T0 + 2 * S)])
    assert ledger.active_scopes(T0 + S, "1") == frozenset()
    assert ledger.active_scopes(T0 + 2 * S, "1") == {"keys"}


def test_withdraw_and_grant_at_the_same_instant_follow_their_order() -> None:
    ledger = ConsentLedger.of([grant(("keys",), T0), withdraw(("keys",), T0)])
    assert ledger.active_scopes(T0, "1") == frozenset()


def test_consent_expires_after_the_reconfirmation_period_until_confirmed_again() -> None:
    ledger = ConsentLedger.of([grant(("keys",), T0)])
    assert ledger.active_scopes(T0 + 30 * DAY - 1, "1") == {"keys"}
    assert ledger.active_scopes(T0 + 30 * DAY, "1") == frozenset()
    assert ledger.status("keys", T0 + 31 * DAY, "1").reason == "expired"
    confirmed = ledger.add(grant(("keys",), T0 + 31 * DAY))
    assert confirmed.active_scopes(T0 + 31 * DAY, "1") == {"keys"}
    assert confirmed.active_scopes(T0 + 60 * DAY, "1") == {"keys"}


def test_a_new_notice_version_needs_fresh_consent() -> None:
    ledger = ConsentLedger.of([grant(("keys", "mouse"), T0)])
    assert ledger.active_scopes(T0 + S, "2") == frozenset()
    assert ledger.status("keys", T0 + S, "2").reason == "outdated notice"
    again = ledger.add(grant(("mouse",), T0 + 2 * S, P2))
    assert again.active_scopes(T0 + 3 * S, "2") == {"mouse"}


def test_next_change_is_the_nearest_expiry() -> None:
    ledger = ConsentLedger.of([grant(("keys",), T0), grant(("mouse",), T0 + DAY)])
    assert ledger.next_change_ns(T0) == T0 + DAY
    assert ledger.next_change_ns(T0 + DAY) == T0 + 30 * DAY


def test_consented_over_requires_the_whole_range() -> None:
    ledger = ConsentLedger.of([grant(("keys", "mouse"), T0), withdraw(("keys",), T0 + 30 * S)])
    assert ledger.consented_over(["keys", "mouse"], T0, T0 + 20 * S, "1") == frozenset()
    assert ledger.consented_over(["keys", "mouse"], T0 + 10 * S, T0 + 40 * S, "1") == {"keys"}
    assert ledger.consented_over(["mouse"], T0 - S, T0 + 10 * S, "1") == {"mouse"}  # starts before the grant
    assert ledger.consented_over(["screenshots", "bogus"], T0, T0 + S, "1") == {"screenshots", "bogus"}
    assert ledger.consented_over(["mouse"], T0, T0 + S, "2") == {"mouse"}


def test_consented_over_sees_a_gap_between_expiry_and_reconfirmation() -> None:
    ledger = ConsentLedger.of([grant(("keys",), T0), grant(("keys",), T0 + 31 * DAY)])
    assert ledger.consented_over(["keys"], T0 + 29 * DAY, T0 + 32 * DAY, "1") == {"keys"}
    seamless = ConsentLedger.of([grant(("keys",), T0), grant(("keys",), T0 + 29 * DAY)])
    assert seamless.consented_over(["keys"], T0 + 28 * DAY, T0 + 32 * DAY, "1") == frozenset()


def test_refusal_reason_names_the_scope_or_the_notice() -> None:
    ledger = ConsentLedger.of([grant(ALL_SCOPES, T0), withdraw(("screenshots",), T0 + 10 * S)])
    assert refusal_reason(ledger, ["keys"], T0, T0 + 5 * S, "1", "1") is None
    reason = refusal_reason(ledger, ["keys", "screenshots"], T0 + 5 * S, T0 + 15 * S, "1", "1")
    assert reason is not None and "screenshots" in reason and "keys" not in reason
    outdated = refusal_reason(ledger, ["keys"], T0, T0 + S, "1", "2")
    assert outdated is not None and "notice_version" in outdated and "'1'" in outdated


def test_header_refusal_checks_a_real_segment_header() -> None:
    from workprint.segment import SegmentHeader

    ledger = ConsentLedger.of([grant(("keys", "mouse"), T0)])

    def header(scopes: tuple[str, ...], notice: str = "1") -> SegmentHeader:
        return SegmentHeader("p", "d", "s", 0, 0, 10, T0 + S, T0 + 60 * S, scopes, notice, "r1")

    assert header_refusal(ledger, header(("keys", "mouse")), "1") is None
    refused = header_refusal(ledger, header(("keys", "screenshots")), "1")
    assert refused is not None and "screenshots" in refused
    assert header_refusal(ledger, header(("keys",), "0"), "1") is not None


def test_ledger_from_stored_dicts_verifies_every_receipt() -> None:
    import nacl.signing

    from workprint.privacy.receipts import sign_receipt

    server, device = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    stored = [
        sign_receipt(grant(("keys",), T0), server).to_dict(),
        sign_receipt(grant(("mouse",), T0), device).to_dict(),
    ]
    ledger = ledger_from_dicts(stored, [server.verify_key, device.verify_key])
    assert ledger.active_scopes(T0, "1") == {"keys", "mouse"}
    with pytest.raises(ConsentError, match="publicKey"):
        ledger_from_dicts(stored, [server.verify_key])
