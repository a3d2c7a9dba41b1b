"""Consent receipts: Kantara CR v1.1 shape, Ed25519 signatures, tampering refused with the field named."""

from __future__ import annotations

import copy
import json
from typing import Any

import nacl.signing
import pytest

from workprint.errors import ConsentError
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.privacy.receipts import (
    KANTARA_VERSION,
    ConsentReceipt,
    make_receipt,
    sign_receipt,
    verify_receipt,
    verify_receipt_dict,
)

T0 = 1_780_000_000_000_000_000


@pytest.fixture(scope="module")
def key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


def _grant(key: nacl.signing.SigningKey) -> ConsentReceipt:
    return sign_receipt(make_receipt(DEFAULT_PROGRAM, "grant", ("mouse", "keys"), "participant-7", T0), key)


def test_receipt_has_the_kantara_v1_1_fields(key: nacl.signing.SigningKey) -> None:
    d = _grant(key).to_dict()
    kantara: tuple[str, ...] = (
        "version",
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "publicKey",
    )
    kantara += ("language", "piiPrincipalId", "piiControllers", "policyUrl", "services", "sensitive", "spiCat")
    for name in kantara:
        assert name in d, name
    assert d["version"] == KANTARA_VERSION == "KI-CR-v1.1.0"
    assert d["consentTimestamp"] == T0 // 1_000_000_000
    assert d["piiPrincipalId"] == "participant-7"
    purpose = d["services"][0]["purposes"][0]
    assert purpose["piiCategory"] == ["keys", "mouse"]
    assert purpose["consentType"] == "EXPLICIT"
    assert d["workprint"]["noticeVersion"] == DEFAULT_PROGRAM.notice.version
    assert d["workprint"]["expiresNs"] == T0 + 30 * 86_400 * 10**9
    json.dumps(d)  # JSON-ready


def test_signed_receipt_round_trips_and_verifies(key: nacl.signing.SigningKey) -> None:
    r = _grant(key)
    back = verify_receipt_dict(json.loads(json.dumps(r.to_dict())), key.verify_key)
    assert back == r
    verify_receipt(r, bytes(key.verify_key))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("piiPrincipalId",), "someone-else"),
        (("services", 0, "purposes", 0, "piiCategory"), ["keys", "mouse", "screenshots"]),
        (("workprint", "noticeVersion"), "2"),
        (("workprint", "expiresNs"), T0 + 10**18),
        (("workprint", "action"), "withdraw"),
        (("jurisdiction",), "US"),
    ],
)
def test_tampered_receipt_is_refused_naming_the_signature(
    key: nacl.signing.SigningKey, path: tuple[str | int, ...], value: object
) -> None:
    d = copy.deepcopy(_grant(key).to_dict())
    target: Any = d
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    with pytest.raises(ConsentError, match="signature"):
        verify_receipt_dict(d, key.verify_key)


def test_malformed_receipt_names_the_field(key: nacl.signing.SigningKey) -> None:
    d = _grant(key).to_dict()
    d["services"][0]["purposes"][0]["piiCategory"] = ["keys", "microphone"]
    with pytest.raises(ConsentError, match="'microphone'"):
        verify_receipt_dict(d, key.verify_key)
    d = _grant(key).to_dict()
    d["consentTimestamp"] = 5
    with pytest.raises(ConsentError, match="consentTimestamp"):
        verify_receipt_dict(d, key.verify_key)


def test_injected_field_outside_the_signature_is_refused(key: nacl.signing.SigningKey) -> None:
    d = _grant(key).to_dict()
    d["extraScopes"] = ["screenshots"]
    with pytest.raises(ConsentError, match="extraScopes"):
        verify_receipt_dict(d, key.verify_key)


def test_receipt_signed_by_another_key_is_refused(key: nacl.signing.SigningKey) -> None:
    other = nacl.signing.SigningKey.generate()
    with pytest.raises(ConsentError, match="publicKey"):
        verify_receipt(_grant(other), key.verify_key)
    unsigned = make_receipt(DEFAULT_PROGRAM, "grant", ("keys",), "p", T0)
    with pytest.raises(ConsentError, match="signature: missing"):
        verify_receipt(unsigned, key.verify_key)


def test_grant_of_a_scope_the_program_does_not_ask_for_is_refused() -> None:
    from dataclasses import replace

    narrow = replace(DEFAULT_PROGRAM, scopes=("mouse",))
    with pytest.raises(ConsentError, match="'keys'"):
        make_receipt(narrow, "grant", ("keys",), "p", T0)
    withdraw = make_receipt(narrow, "withdraw", ("keys",), "p", T0)
    assert withdraw.expires_ns is None
