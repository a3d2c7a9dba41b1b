"""Consent on the collection service: receive receipts, countersign them, keep each participant's ledger, and check
every segment header against it (invariant 1). No web framework here.

- A device uploads each receipt it signed (``receive``). The server checks the device's signature, that the receipt
  is the device's participant's, and that the device signs with the same consent key as before (bound at its first
  receipt); then it countersigns the receipt with its own Ed25519 key (``consent-signing.key``, mode 0600, under the
  server directory) and stores both copies. The countersigned copy is what the device keeps and the ledger reads.
- A withdrawal also records an erasure request for those scopes (``erasure_requests``; ``withdrawals`` lists the open
  ones that came from a withdrawal receipt, as opposed to a participant's own deletions in the portal), processed by
  ``workprint dataset purge-pending`` (``dataset.purge``): the withdrawn scopes' records are cut out of the raw
  segments recorded before the withdrawal (sealed again, old ciphertext deleted) and out of every release holding
  them; the ledger then refuses further data of those scopes, and builds treat any of it still met (e.g. a segment
  uploaded late) as unconsented. Until then ``withhold_withdrawn`` keeps them out of a steward's raw read.
- ``notice`` is the current notice with the current program (purpose, scopes, retention, organisation exclusion
  rules); devices fetch it, apply the program's rules and ask for fresh consent when the notice version changed.
  ``publish_program`` publishes a program together with a new notice version (numbered after the last one).
- ``check_segment`` refuses (403) a segment whose header declares a scope without active consent over its whole time
  range (``consent_missing``) or cites another notice than the current one (``notice_outdated``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import select
from sqlalchemy.engine import Connection

from workprint.audit.signing import load_signing_key
from workprint.errors import BadRequest, ConfigError, Conflict, ConsentError, Forbidden, Gone, Unprocessable
from workprint.privacy.consent import ConsentLedger, DeclaresConsent, header_refusal, ledger_from_dicts
from workprint.privacy.exclusions import rule_from_dict
from workprint.privacy.notices import DEFAULT_NOTICE, DEFAULT_PROGRAM, Notice, Program, parse_scope
from workprint.privacy.receipts import ConsentReceipt, canonical_json, sign_receipt, verify_receipt_dict
from workprint.privacy.scopes import without_scopes
from workprint.segment import Segment
from workprint.store import consent_tables as ct
from workprint.store.metadata import MetadataStore, append_audit
from workprint.store.records import AuditEvent, Device

KEY_FILE = "consent-signing.key"
VERIFIED_CACHE_MAX = 100_000  # receipts kept verified in memory (about 1 KB each); the cache restarts when full
DEFAULT_NOTICE_VERSION = DEFAULT_NOTICE.version  # in force until a steward publishes another (``api.NOTICE_VERSION``)


def _utc(wall_ns: int) -> str:
    return dt.datetime.fromtimestamp(wall_ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _verify_key(b64: str, where: str) -> VerifyKey:
    try:
        raw = base64.b64decode(b64, validate=True)
        return VerifyKey(raw)
    except (binascii.Error, ValueError, TypeError):
        raise BadRequest(f"{where}: publicKey: not a base64 Ed25519 key ({b64[:60]!r})") from None


class ConsentService:
    """Receipts, ledgers, the current notice and erasure requests over a ``MetadataStore``."""

    def __init__(
        self,
        metadata: MetadataStore,
        server_dir: Path,
        *,
        clock: Callable[[], int] = time.time_ns,
        clock_tolerance_s: float = 300.0,
    ) -> None:
        self.metadata = metadata
        self._clock = clock
        # How far a device's clock may be from the server's: a consent takes effect at most this long before it
        # arrived, and a segment may end at most this far ahead of the server's clock.
        self.tolerance_ns = int(clock_tolerance_s * 1e9)
        self.signing_key: SigningKey = load_signing_key(Path(server_dir) / KEY_FILE)
        self._verified_cache: dict[bytes, ConsentReceipt] = {}
        ct.create_consent_schema(metadata.engine)

    @property
    def public_key(self) -> str:
        """The server's consent key, base64 (devices trust receipts it signed)."""
        return base64.b64encode(bytes(self.signing_key.verify_key)).decode()

    def _read(self) -> Connection:
        return self.metadata.engine.connect()

    # -- notices --------------------------------------------------------------------------------------------------

    def current_notice(self) -> str:
        """The notice version consent must cite now."""
        with self._read() as conn:
            return ct.current_notice(conn) or DEFAULT_NOTICE_VERSION

    def notice(self) -> dict[str, Any]:
        """The current notice (version, text) and program that devices show and apply before asking for consent."""
        with self._read() as conn:
            found = ct.current_notice_row(conn)
            programs = ct.program_versions(conn)
        version, text = found if found is not None else (DEFAULT_NOTICE.version, DEFAULT_NOTICE.text)
        if programs:  # the last program published stays in force under later notice-only versions
            p = programs[0]
            program = {"purpose": p.purpose, "scopes": list(p.scopes), "retention_days": p.retention_days,
                       "exclusions": [dict(r) for r in p.exclusions], "frame_format": p.frame_format}  # fmt: skip
        else:
            program = {"purpose": DEFAULT_PROGRAM.purpose, "scopes": list(DEFAULT_PROGRAM.scopes),
                       "retention_days": DEFAULT_PROGRAM.retention_days, "exclusions": [],
                       "frame_format": DEFAULT_PROGRAM.frame_format}  # fmt: skip
        return {"version": version, "text": text, "program": program}

    def programs(self) -> list[ct.ProgramVersion]:
        """Every published program version, newest first."""
        with self._read() as conn:
            return ct.program_versions(conn)

    def publish_program(
        self,
        purpose: str,
        scopes: Sequence[str],
        retention_days: int,
        text: str,
        exclusions: Sequence[Mapping[str, Any]] = (),
        *,
        frame_format: str = "auto",
        actor: str = "steward",
    ) -> str:
        """Publish a program with a new notice version (returned): consent under earlier versions stops counting.

        Every field is checked first (``BadRequest`` naming the field, e.g. ``program.exclusions[2]: ...`` for a
        broken regular expression); nothing is stored then.
        """
        rules = validate_program(purpose, scopes, retention_days, text, exclusions, frame_format)
        now = self._clock()

        def fn(conn: Connection) -> str:
            used = ct.notice_versions(conn) | {DEFAULT_NOTICE.version}
            n = max((int(v) for v in used if v.isdigit()), default=0) + 1
            while str(n) in used:
                n += 1
            version = str(n)
            seq = ct.add_notice(conn, version, text, actor, now)
            ct.add_program(conn, seq, {"purpose": purpose.strip(), "scopes": list(scopes),
                                       "retention_days": retention_days, "exclusions": rules,
                                       "frame_format": frame_format})  # fmt: skip
            detail = {"scopes": list(scopes), "retention_days": retention_days, "exclusions": len(rules),
                      "frame_format": frame_format}  # fmt: skip
            append_audit(conn, AuditEvent(actor, "program.publish", f"notice:{version}", detail), now)
            return version

        return self.metadata.write(fn)

    def publish_notice(self, version: str, text: str, *, actor: str = "steward") -> None:
        """Make ``version`` the current notice: consent under earlier versions no longer covers new segments."""
        if not version.strip():
            raise BadRequest(f"notice.version: must not be empty, got {version!r}")
        if not text.strip():
            raise BadRequest("notice.text: must not be empty")
        now = self._clock()

        def fn(conn: Connection) -> None:
            ct.add_notice(conn, version, text, actor, now)
            append_audit(conn, AuditEvent(actor, "notice.publish", f"notice:{version}"), now)

        self.metadata.write(fn)

    # -- receipts -------------------------------------------------------------------------------------------------

    def receive(self, device: Device, body: Mapping[str, Any]) -> dict[str, Any]:
        """Verify a device-signed receipt, store it, countersign it; returns the countersigned receipt (idempotent)."""
        if not isinstance(body, Mapping):
            raise BadRequest(f"receipt: expected a JSON object, got {type(body).__name__}")
        try:
            parsed = ConsentReceipt.from_dict(body)
            where = f"receipt {parsed.receipt_id}"
            receipt = verify_receipt_dict(body, _verify_key(parsed.public_key, where))
        except ConsentError as exc:
            raise BadRequest(str(exc)) from None
        if receipt.principal_id != device.participant_id:
            raise Forbidden(f"{where}: piiPrincipalId: {receipt.principal_id!r} is not this device's participant")
        now = self._clock()
        if receipt.timestamp_ns > now + self.tolerance_ns:
            ahead = (receipt.timestamp_ns - now) / 1e9
            raise BadRequest(f"{where}: timestamp: {_utc(receipt.timestamp_ns)} is {ahead:.0f} s ahead of the server's "
                             f"clock (tolerance {self.tolerance_ns / 1e9:.0f} s)")  # fmt: skip
        signed = sign_receipt(receipt, self.signing_key).to_dict()

        def fn(conn: Connection) -> dict[str, Any]:
            held = ct.receipt(conn, receipt.receipt_id)
            if held is not None:
                if canonical_json(held.device_receipt) != canonical_json(dict(body)):
                    raise Conflict(f"{where}: consentReceiptID: already used for another receipt")
                return held.countersigned
            bound = ct.device_key(conn, device.id)
            if bound is None:
                ct.bind_device_key(conn, device.id, receipt.public_key, now)
            elif bound != receipt.public_key:
                raise Forbidden(f"{where}: publicKey: not the consent key this device signs with")
            ct.insert_receipt(conn, {
                "receipt_id": receipt.receipt_id, "participant_id": device.participant_id, "device_id": device.id,
                "action": receipt.action, "scopes": list(receipt.scopes), "notice_version": receipt.notice_version,
                "timestamp_ns": receipt.timestamp_ns, "expires_ns": receipt.expires_ns,
                "device_receipt": dict(body), "countersigned": signed, "received_at": now,
            })  # fmt: skip
            subject = f"participant:{device.participant_id}"
            detail = {"receipt_id": receipt.receipt_id, "scopes": list(receipt.scopes),
                      "notice_version": receipt.notice_version}  # fmt: skip
            append_audit(conn, AuditEvent(f"device:{device.id}", f"consent.{receipt.action}", subject, detail), now)
            if receipt.action == "withdraw":
                rid = ct.add_erasure_request(conn, device.participant_id, receipt.scopes, receipt.receipt_id, now)
                append_audit(conn, AuditEvent(f"device:{device.id}", "erasure.request", subject,
                                              {**detail, "request_id": rid}), now)  # fmt: skip
            return signed

        return self.metadata.write(fn)

    def ledger(self, participant_id: str, conn: Connection | None = None) -> ConsentLedger:
        """The participant's ledger, from the receipts this server countersigned (read on ``conn`` when given)."""
        if conn is None:
            with self._read() as own:
                receipts = ct.countersigned_with_arrival(own, participant_id)
        else:
            receipts = ct.countersigned_with_arrival(conn, participant_id)
        # In arrival order: a decision that reached the server later overrides every one that reached it before, so
        # a withdrawal dated (by a slow clock) before an earlier-arrived grant still ends it.
        adjusted: list[ConsentReceipt] = []
        granted_from: dict[str, int] = {}
        for d, at in sorted(receipts, key=lambda da: da[1]):
            r = self._in_server_time(self._verified(d), at)
            floor = max((granted_from.get(sc, -1) for sc in r.scopes), default=-1)
            if r.action == "grant":
                for sc in r.scopes:
                    granted_from[sc] = max(granted_from.get(sc, -1), r.timestamp_ns)
            elif r.timestamp_ns <= floor:
                r = replace(r, timestamp_ns=floor + 1)
            adjusted.append(r)
        return ConsentLedger.of(adjusted)

    def _in_server_time(self, r: ConsentReceipt, received_at: int) -> ConsentReceipt:
        """A receipt as the server holds the participant to it: a device's clock cannot move consent.

        A grant takes effect when it reached the server (less the clock tolerance) at the earliest, so a receipt
        dated in the past does not cover data recorded before the real consent, and it lapses after the program's
        re-confirmation period from then at the latest, whatever expiry it claims. A withdrawal counts from its own
        time or its arrival, whichever is earlier (a participant may only ever withdraw sooner).
        """
        if r.action == "grant":
            start = max(r.timestamp_ns, received_at - self.tolerance_ns)
            limit = start + DEFAULT_PROGRAM.reconfirm_ns
            expires = limit if r.expires_ns is None else min(r.expires_ns, limit)
            return replace(r, timestamp_ns=start, expires_ns=expires)
        return replace(r, timestamp_ns=min(r.timestamp_ns, received_at))

    def _verified(self, stored: dict[str, Any]) -> ConsentReceipt:
        """A stored receipt, checked against the countersignature; every upload reads its participant's receipts,
        so each distinct content is verified once per process (a changed row is new content: verified again)."""
        key = canonical_json(stored)
        receipt = self._verified_cache.get(key)
        if receipt is None:
            receipt = ledger_from_dicts([stored], [self.signing_key.verify_key]).receipts[0]
            if len(self._verified_cache) >= VERIFIED_CACHE_MAX:
                self._verified_cache.clear()
            self._verified_cache[key] = receipt
        return receipt

    def check_segment(self, participant_id: str, header: DeclaresConsent, conn: Connection | None = None) -> None:
        """Raise ``Forbidden`` (``consent_missing`` / ``notice_outdated``) unless the header is covered by consent.

        ``conn``: read on the caller's connection (ingest does all its lookups on one).
        """
        if conn is None:
            with self._read() as own:
                self.check_segment(participant_id, header, own)
            return
        now = self._clock()
        if header.wall_end_ns > now + self.tolerance_ns:
            ahead, tolerance = (header.wall_end_ns - now) / 1e9, self.tolerance_ns / 1e9
            raise Unprocessable(f"segment refused: header.wall_end_ns: {_utc(header.wall_end_ns)} is {ahead:.0f} s "
                                f"ahead of the server's clock (tolerance {tolerance:.0f} s)", code="clock")  # fmt: skip
        notice = ct.current_notice(conn) or DEFAULT_NOTICE_VERSION
        ledger = self.ledger(participant_id, conn)
        reason = header_refusal(ledger, header, notice)
        span = f"from {_utc(header.wall_start_ns)} to {_utc(header.wall_end_ns)}"
        if reason is not None:
            code = "notice_outdated" if reason.startswith("notice_version") else "consent_missing"
            raise Forbidden(f"segment refused: {reason} ({span})", code=code)
        # Data of a scope withdrawn after the segment began is being erased everywhere: it never comes back in.
        withdrawn = sorted({s for r in ledger.receipts if r.action == "withdraw"
                            and header.wall_start_ns < r.timestamp_ns <= now for s in r.scopes} & set(header.scopes))
        if withdrawn:
            raise Gone(f"segment refused: scope {withdrawn[0]!r} was withdrawn after the segment began ({span}); "
                       "data recorded before a withdrawal is refused", code="scope_withdrawn")  # fmt: skip

    # -- erasure requests -----------------------------------------------------------------------------------------

    def erasure_requests(self, participant_id: str | None = None) -> list[ct.ErasureRequest]:
        """Erasure requests recorded from withdrawals, oldest first."""
        with self._read() as conn:
            return ct.list_erasure_requests(conn, participant_id)

    def withdrawals(self) -> list[ct.ErasureRequest]:
        """Open erasure requests that a consent withdrawal recorded (not a deletion in the portal), oldest first."""
        c = ct.consent_receipts.c
        with self._read() as conn:
            open_requests = [r for r in ct.list_erasure_requests(conn) if r.done_at is None]
            ids = [r.receipt_id for r in open_requests]
            withdrawn = set(conn.execute(select(c.receipt_id).where(c.receipt_id.in_(ids), c.action == "withdraw"))
                            .scalars()) if ids else set()  # fmt: skip
        return [r for r in open_requests if r.receipt_id in withdrawn]

    def withdrawn_after(self, participant_id: str, wall_ns: int) -> frozenset[str]:
        """Scopes the participant has withdrawn since ``wall_ns``: a segment begun then holds them unconsented."""
        now = self._clock()
        receipts = self.ledger(participant_id).receipts
        return frozenset(
            s for r in receipts if r.action == "withdraw" and wall_ns < r.timestamp_ns <= now for s in r.scopes
        )

    def withhold_withdrawn(self, segment: Segment) -> Segment:
        """The segment without the records of scopes its participant withdrew after it began (a raw read between a
        withdrawal and the purge that cuts them out of the store); unchanged when there are none."""
        h = segment.header
        withdrawn = self.withdrawn_after(h.participant, h.wall_start_ns) & set(h.scopes)
        if not withdrawn:
            return segment
        kept = without_scopes(segment, withdrawn)
        if kept is None:
            return Segment(header=replace(h, scopes=(), counts={}), events=(), frames={})
        return kept

    def mark_erasure_done(self, request_id: int, *, actor: str = "dataset") -> bool:
        """Mark an erasure request processed (the dataset pipeline calls this); False if unknown or done already."""
        now = self._clock()

        def fn(conn: Connection) -> bool:
            done = ct.mark_erasure_done(conn, request_id, now)
            if done:
                append_audit(conn, AuditEvent(actor, "erasure.done", f"erasure:{request_id}"), now)
            return done

        return self.metadata.write(fn)


def validate_program(
    purpose: str,
    scopes: Sequence[str],
    retention_days: int,
    text: str,
    exclusions: Sequence[Mapping[str, Any]],
    frame_format: str = "auto",
) -> list[dict[str, Any]]:
    """Check a program's fields (``BadRequest`` naming the first bad one); returns the rules as plain dicts."""
    rules = []
    for i, r in enumerate(exclusions, 1):
        try:
            rules.append(rule_from_dict(r, "org").to_dict())
        except ConfigError as exc:
            raise BadRequest(f"program.exclusions[{i}]: {exc}") from None
    try:
        Program("program", purpose, tuple(parse_scope(s) for s in scopes), retention_days, Notice("x", text),
                frame_format=frame_format)  # fmt: skip
    except (ConfigError, ConsentError) as exc:
        raise BadRequest(str(exc)) from None
    return rules


_MAKE_LOCK = threading.Lock()


def consent_of(api: object) -> ConsentService:
    """The ``ConsentService`` of a ``ServerAPI`` (made on first use, then kept on the api object)."""
    service = getattr(api, "_consent_service", None)
    if service is not None:
        assert isinstance(service, ConsentService)
        return service
    with _MAKE_LOCK:
        service = getattr(api, "_consent_service", None)
        if service is not None:
            assert isinstance(service, ConsentService)
            return service
        metadata: MetadataStore = getattr(api, "metadata")  # noqa: B009 - no import of server.api (cycle)
        settings = getattr(api, "settings")  # noqa: B009
        clock = getattr(api, "_clock", time.time_ns)
        service = ConsentService(
            metadata, settings.server_dir, clock=clock, clock_tolerance_s=settings.clock_tolerance_s
        )
        setattr(api, "_consent_service", service)  # noqa: B010
        return service


__all__ = ["DEFAULT_NOTICE_VERSION", "KEY_FILE", "ConsentService", "consent_of", "validate_program"]
