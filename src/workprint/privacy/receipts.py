"""Consent receipts in the shape of a Kantara Consent Receipt v1.1, signed with Ed25519.

A receipt records one consent decision: a grant of some scopes under one notice version (with its expiry, after
which the participant must confirm again) or a withdrawal. The Kantara fields (``consentReceiptID``,
``piiPrincipalId``, ``services[].purposes[].piiCategory`` ...) carry the decision; workprint's own fields (action,
notice version, nanosecond times) sit under ``"workprint"`` so that Kantara readers ignore them. The signature covers
the canonical JSON (sorted keys, no spaces) of everything but ``signature``; the server signs in production, the
device signs locally until it does.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import nacl.exceptions
import nacl.signing

from workprint.errors import ConsentError
from workprint.models import INT64_MAX, INT64_MIN, Scope
from workprint.privacy.notices import Program, parse_scope

KANTARA_VERSION = "KI-CR-v1.1.0"
Action = Literal["grant", "withdraw"]


@dataclass(frozen=True, slots=True)
class ConsentReceipt:
    """One consent decision. ``expires_ns`` is set on grants only; ``signature``/``public_key`` are base64."""

    receipt_id: str
    action: Action
    principal_id: str
    scopes: tuple[Scope, ...]
    notice_version: str
    timestamp_ns: int
    expires_ns: int | None
    program_id: str
    purpose: str
    controller: str = "workprint collection program"
    jurisdiction: str = "EU"
    policy_url: str = ""
    collection_method: str = "workprint consent (command line, on the participant's device)"
    language: str = "en"
    public_key: str = ""
    signature: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The receipt as Kantara CR v1.1 JSON (plus ``workprint`` and ``signature``)."""
        d = self._unsigned()
        if self.signature:
            d["signature"] = self.signature
        return d

    def _unsigned(self) -> dict[str, Any]:
        termination = (
            f"expires {self.expires_ns // 1_000_000_000} (re-confirmation needed) or on withdrawal"
            if self.expires_ns is not None
            else "withdrawn"
        )
        return {
            "version": KANTARA_VERSION,
            "jurisdiction": self.jurisdiction,
            "consentTimestamp": self.timestamp_ns // 1_000_000_000,
            "collectionMethod": self.collection_method,
            "consentReceiptID": self.receipt_id,
            "publicKey": self.public_key,
            "language": self.language,
            "piiPrincipalId": self.principal_id,
            "piiControllers": [
                {"piiController": self.controller, "contact": "", "address": {}, "email": "", "phone": ""}
            ],
            "policyUrl": self.policy_url,
            "services": [
                {
                    "service": self.program_id,
                    "purposes": [
                        {
                            "purpose": self.purpose,
                            "purposeCategory": ["research and development"],
                            "consentType": "EXPLICIT",
                            "piiCategory": list(self.scopes),
                            "primaryPurpose": True,
                            "termination": termination,
                            "thirdPartyDisclosure": False,
                        }
                    ],
                }
            ],
            "sensitive": True,  # keystrokes and screenshots can reveal special categories of data
            "spiCat": [],
            "workprint": {
                "action": self.action,
                "noticeVersion": self.notice_version,
                "consentTimestampNs": self.timestamp_ns,
                "expiresNs": self.expires_ns,
                "programId": self.program_id,
            },
        }

    def signed_bytes(self) -> bytes:
        """The canonical bytes the signature covers."""
        return canonical_json(self._unsigned())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ConsentReceipt:
        """Rebuild from ``to_dict`` output; a missing or malformed field raises ``ConsentError`` naming it."""
        rid = _field(d, "consentReceiptID", str)
        where = f"receipt {rid}"
        if d.get("version") != KANTARA_VERSION:
            raise ConsentError(f"{where}: version: expected {KANTARA_VERSION!r}, got {d.get('version')!r}")
        wp = _field(d, "workprint", dict)
        services = _field(d, "services", list)
        try:
            purpose = services[0]["purposes"][0]
            categories = purpose["piiCategory"]
            controller = d["piiControllers"][0]["piiController"]
        except (LookupError, TypeError):
            raise ConsentError(f"{where}: services/piiControllers: malformed") from None
        action = wp.get("action")
        if action not in ("grant", "withdraw"):
            raise ConsentError(f"{where}: workprint.action: expected 'grant' or 'withdraw', got {action!r}")
        if not isinstance(categories, list) or not categories:
            raise ConsentError(f"{where}: piiCategory: expected a non-empty list of scopes, got {categories!r}")
        scopes = tuple(parse_scope(str(s)) for s in categories)
        ts = wp.get("consentTimestampNs")
        if not isinstance(ts, int) or isinstance(ts, bool) or ts // 1_000_000_000 != d.get("consentTimestamp"):
            raise ConsentError(f"{where}: consentTimestamp: inconsistent or malformed ({d.get('consentTimestamp')!r})")
        expires = wp.get("expiresNs")
        if action == "grant" and (not isinstance(expires, int) or expires <= ts):
            raise ConsentError(f"{where}: workprint.expiresNs: a grant needs an expiry after its time, got {expires!r}")
        for name, v in (("consentTimestampNs", ts), ("expiresNs", expires if action == "grant" else 0)):
            if not INT64_MIN <= v <= INT64_MAX:  # stored as 64-bit integers: refused before anything is written
                raise ConsentError(
                    f"{where}: workprint.{name}: {v} is out of range; expected {INT64_MIN} to {INT64_MAX}"
                )
        return cls(
            receipt_id=rid,
            action=action,
            principal_id=_field(d, "piiPrincipalId", str),
            scopes=scopes,
            notice_version=str(wp.get("noticeVersion", "")),
            timestamp_ns=ts,
            expires_ns=expires if action == "grant" else None,
            program_id=str(services[0].get("service", "")),
            purpose=str(purpose.get("purpose", "")),
            controller=str(controller),
            jurisdiction=_field(d, "jurisdiction", str),
            policy_url=str(d.get("policyUrl", "")),
            collection_method=_field(d, "collectionMethod", str),
            language=str(d.get("language", "en")),
            public_key=str(d.get("publicKey", "")),
            signature=str(d.get("signature", "")),
        )


def _field(d: Mapping[str, Any], name: str, typ: type[Any]) -> Any:
    value = d.get(name)
    if not isinstance(value, typ):
        raise ConsentError(f"receipt: {name}: expected {typ.__name__}, got {value!r}")
    return value


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, compact, UTF-8) for signing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def make_receipt(
    program: Program,
    action: Action,
    scopes: tuple[Scope, ...],
    principal_id: str,
    at_ns: int,
    *,
    collection_method: str | None = None,
) -> ConsentReceipt:
    """A new unsigned receipt for ``scopes`` under the program's current notice; grants expire after re-confirmation."""
    if not scopes:
        raise ConsentError("scopes: a receipt needs at least one scope")
    for s in scopes:
        if action == "grant" and s not in program.scopes:
            raise ConsentError(f"scope: program {program.id!r} does not ask for {s!r}")
    r = ConsentReceipt(
        receipt_id=str(uuid.uuid4()),
        action=action,
        principal_id=principal_id,
        scopes=tuple(sorted(set(scopes))),
        notice_version=program.notice.version,
        timestamp_ns=at_ns,
        expires_ns=at_ns + program.reconfirm_ns if action == "grant" else None,
        program_id=program.id,
        purpose=program.purpose,
        controller=program.controller,
        jurisdiction=program.jurisdiction,
        policy_url=program.policy_url,
    )
    return replace(r, collection_method=collection_method) if collection_method else r


def sign_receipt(receipt: ConsentReceipt, signing_key: nacl.signing.SigningKey) -> ConsentReceipt:
    """Return the receipt with ``public_key`` set to the signer's and an Ed25519 ``signature`` over its content."""
    public = base64.b64encode(bytes(signing_key.verify_key)).decode()
    unsigned = replace(receipt, public_key=public, signature="")
    sig = signing_key.sign(unsigned.signed_bytes()).signature
    return replace(unsigned, signature=base64.b64encode(sig).decode())


def verify_receipt(receipt: ConsentReceipt, verify_key: nacl.signing.VerifyKey | bytes) -> None:
    """Raise ``ConsentError`` unless ``receipt`` carries a valid signature by ``verify_key`` over its content."""
    key = verify_key if isinstance(verify_key, nacl.signing.VerifyKey) else nacl.signing.VerifyKey(verify_key)
    where = f"receipt {receipt.receipt_id}"
    if not receipt.signature:
        raise ConsentError(f"{where}: signature: missing")
    if receipt.public_key and receipt.public_key != base64.b64encode(bytes(key)).decode():
        raise ConsentError(f"{where}: publicKey: signed by another key ({receipt.public_key})")
    try:
        sig = base64.b64decode(receipt.signature, validate=True)
        key.verify(receipt.signed_bytes(), sig)
    except (ValueError, nacl.exceptions.BadSignatureError):
        raise ConsentError(f"{where}: signature: does not match the content (tampered or wrong key)") from None


def verify_receipt_dict(d: Mapping[str, Any], verify_key: nacl.signing.VerifyKey | bytes) -> ConsentReceipt:
    """Parse and verify a stored receipt; tampering shows as a malformed field or a bad signature."""
    receipt = ConsentReceipt.from_dict(d)
    verify_receipt(receipt, verify_key)
    # A field outside the model (e.g. an injected one) is not covered by ``signed_bytes``: refuse it explicitly.
    if canonical_json(receipt.to_dict()) != canonical_json(dict(d)):
        extra = sorted(set(d) ^ set(receipt.to_dict()))
        raise ConsentError(
            f"receipt {receipt.receipt_id}: {', '.join(extra) or 'content'}: not covered by the signature"
        )
    return receipt


__all__ = [
    "KANTARA_VERSION",
    "Action",
    "ConsentReceipt",
    "canonical_json",
    "make_receipt",
    "sign_receipt",
    "verify_receipt",
    "verify_receipt_dict",
]
