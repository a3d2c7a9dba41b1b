"""The collection service's domain: enrolment, device authentication, ingest, audited reads and erasure.

No web framework here; ``server.app`` translates HTTP to these calls and ``HTTPError``s back to HTTP.

- The ingest tier never decrypts: it checks the content hash and the readable header, writes the ciphertext to the
  blob store (atomic, fsynced) and only then commits the manifest row, so an acknowledged segment is durable.
  Uploads are idempotent by content hash.
- Every read of recorded data goes through ``read_segment``, which appends the audit entry before the participant's
  key is unwrapped; when the entry cannot be written the read is refused.
- Erasure destroys the participant's own key-encryption key in the key service and their wrapped private key
  (crypto-shredding): every copy of their segments, and of the database that held the wrapped key, backups included,
  becomes unreadable. Their blobs are deleted too, as a courtesy to storage.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from argon2 import PasswordHasher
from nacl.signing import SigningKey
from sqlalchemy.exc import SQLAlchemyError

from workprint import segment as seg
from workprint.audit.log import AuditLog
from workprint.audit.signing import Signer, load_signing_key
from workprint.config import ServerSettings
from workprint.errors import (
    AuditUnavailable,
    BadRequest,
    ConfigError,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
    SchemaError,
    SegmentError,
    Unauthorized,
    Unprocessable,
)
from workprint.faults import fault_point
from workprint.store.blobs import BlobStore
from workprint.store.coordination import ROTATION
from workprint.store.keys import KeyProvider, RotatingKeyProvider, is_scoped
from workprint.store.metadata import CANARY, CANARY_ID, MetadataStore
from workprint.store.records import AuditEvent, Device, Participant, SegmentRecord

__all__ = ["NOTICE_VERSION", "Enrollment", "IngestStatus", "ServerAPI", "blob_key"]

NOTICE_VERSION = "1"
IngestStatus = Literal["stored", "duplicate"]
_SEGMENT_ID = re.compile(r"[0-9a-f]{64}")
AUDIT_KEY = "audit_public_key"
_CANARY_TEXT = b"workprint key store canary v1"
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud and typed


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What a device receives for a valid enrolment code. ``device_token`` is shown once and stored hashed."""

    participant_id: str
    device_id: str
    device_token: str
    public_key: bytes
    notice_version: str = NOTICE_VERSION


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalise_code(code: str) -> str:
    """Codes are case-insensitive and may be typed with spaces or without dashes."""
    return re.sub(r"[\s-]", "", code).upper()


def blob_key(segment_id: str) -> str:
    """Content-addressed, and deliberately without the participant: the blob store learns nothing about people."""
    return f"segments/{segment_id[:2]}/{segment_id}"


class ServerAPI:
    """The collection service over a metadata store, a blob store and a key provider."""

    def __init__(
        self,
        metadata: MetadataStore,
        blobs: BlobStore,
        keys: KeyProvider,
        settings: ServerSettings,
        *,
        clock: Callable[[], int] = time.time_ns,
        signing_key: SigningKey | Signer | None = None,
        password_hasher: PasswordHasher | None = None,
    ) -> None:
        from workprint.server.access import Access
        from workprint.server.identity import Identity

        self.metadata = metadata
        self.blobs = blobs
        self.keys = keys
        self.settings = settings
        self._clock = clock
        key = signing_key or load_signing_key(settings.server_dir / "audit-signing.key")
        self.audit_log = AuditLog(metadata, key, clock=clock)
        self.identity = Identity(metadata, self.audit_log, clock=clock, hasher=password_hasher)
        self.access = Access(self)

    def now(self) -> int:
        """The service's clock, in nanoseconds since the epoch."""
        return self._clock()

    # -- participants and enrolment -------------------------------------------------------------------------------

    def create_participant(self, name: str, *, actor: str = "admin") -> str:
        """Create a participant with a fresh X25519 key pair (private half stored only wrapped); returns its id."""
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise BadRequest(f"name: expected 1 to 200 characters, got {name!r}")
        private, public = seg.generate_keypair()
        now = self._clock()
        pid = uuid.uuid4().hex
        # The name is wrapped with the private key by the participant's own key in the key store: the database holds
        # no name beside anyone's activity, a rotation re-wraps both together, and erasure forgets the name as well.
        p = Participant(pid, "", public, None, self.keys.key_id, now)
        detail = {"key_id": p.key_id}
        audit = AuditEvent(actor, "participant.create", f"participant:{p.id}", detail)
        secret = private + name.encode()
        # Wrapped inside the insert's transaction, under the key lock a rotation's last pass takes (see rotate_keys).
        self.metadata.add_participant(p, audit, lambda: (self.keys.wrap(pid, secret), self.keys.key_id))
        return p.id

    def participant(self, participant_id: str) -> Participant:
        """The participant; raises ``NotFound``."""
        p = self.metadata.participant(participant_id)
        if p is None:
            raise NotFound(f"participant {participant_id!r}: not found")
        return p

    def participant_name(self, participant_id: str, *, actor: str) -> str:
        """The participant's name, from the key store (audited: only the key store and an admin see names); "" once
        erased. Participants created before names were wrapped keep theirs in the database's ``name`` column."""
        p = self.participant(participant_id)
        if p.wrapped_private_key is None:
            return ""
        self.audit_log.append(AuditEvent(actor, "participant.name", f"participant:{p.id}"))
        return split_secret(self.keys.unwrap(p.id, p.wrapped_private_key))[1] or p.name

    def create_enrolment_code(self, participant_id: str, ttl_s: int = 86400, *, actor: str = "admin") -> str:
        """A random single-use code valid for ``ttl_s`` seconds; only its hash is stored, so it is shown once."""
        if ttl_s <= 0:
            raise BadRequest(f"ttl_s: expected a positive number of seconds, got {ttl_s!r}")
        if self.participant(participant_id).erased:
            raise Gone(f"participant {participant_id!r}: erased")
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(20))  # 100 bits
        now = self._clock()
        expires = now + ttl_s * 1_000_000_000
        self.metadata.add_enrolment_code(_sha256(raw), participant_id, expires, now, actor)
        return "-".join(raw[i : i + 5] for i in range(0, 20, 5))

    def enroll(self, code: str, device_name: str) -> Enrollment:
        """Exchange a valid code for a device token; a replayed, expired or unknown code raises ``Unauthorized``."""
        device_name = device_name.strip()
        if not 1 <= len(device_name) <= 200:
            raise BadRequest(f"device_name: expected 1 to 200 characters, got {device_name!r}")
        token = "wpd_" + secrets.token_urlsafe(32)
        device = self.metadata.enroll_device(
            _sha256(normalise_code(code)), uuid.uuid4().hex, device_name, _sha256(token), self._clock()
        )
        if device is None:
            raise Unauthorized("code: enrolment code is unknown, expired or already used")
        p = self.participant(device.participant_id)
        return Enrollment(p.id, device.id, token, p.public_key)

    def authenticate_device(self, token: str) -> Device:
        """The device holding ``token``; unknown or revoked tokens raise ``Unauthorized``."""
        device = self.metadata.device_by_token_hash(_sha256(token)) if token else None
        if device is not None and device.revoked:
            # A known but revoked device still trying is worth an auditor's attention; unknown tokens are noise.
            self.audit_log.append(AuditEvent(f"device:{device.id}", "device.refused", f"device:{device.id}"))
        if device is None or device.revoked:
            raise Unauthorized("device token: unknown or revoked")
        return device

    def revoke_device(self, device_id: str, *, actor: str = "admin") -> None:
        """Revoke a device's token; its later uploads get 401."""
        audit = AuditEvent(actor, "device.revoke", f"device:{device_id}")
        if not self.metadata.revoke_device(device_id, self._clock(), audit):
            raise NotFound(f"device {device_id!r}: not found or already revoked")

    # -- ingest (never decrypts) ----------------------------------------------------------------------------------

    def ingest(self, device: Device, segment_id: str, data: bytes) -> IngestStatus:
        """Store one sealed segment uploaded by ``device``; ``duplicate`` when these exact bytes are already held."""
        limit = self.settings.max_segment_bytes
        if len(data) > limit:
            raise PayloadTooLarge(f"segment: {len(data)} bytes exceeds the limit of {limit} bytes")
        if not _SEGMENT_ID.fullmatch(segment_id):
            raise BadRequest(f"segment_id: expected 64 lowercase hex digits, got {segment_id[:80]!r}")
        actual = seg.segment_id(data)
        if actual != segment_id:
            raise BadRequest(f"segment_id: {segment_id} does not match the body's sha256 {actual}")
        try:
            header, _, _ = seg.read_header(data)
        except (SegmentError, SchemaError) as exc:
            raise Unprocessable(str(exc)) from None
        if header.participant != device.participant_id or header.device != device.id:
            field = "participant" if header.participant != device.participant_id else "device"
            detail = {"segment_id": segment_id, "field": field}
            self.audit_log.append(AuditEvent(f"device:{device.id}", "segment.refused", f"device:{device.id}", detail))
            if field == "participant":
                raise Forbidden(f"header.participant: {header.participant!r} is not this device's participant")
            raise Forbidden(f"header.device: {header.device!r} is not this device")
        from workprint.server.consent import consent_of

        with self.metadata.reading() as conn:  # three statements on one connection: one checkout per upload
            erased, held, gone = self.metadata.ingest_state(device.participant_id, segment_id, conn)
            if erased is None:
                raise NotFound(f"participant {device.participant_id!r}: not found")
            if erased:
                raise Forbidden(f"participant {device.participant_id!r}: erased; uploads are refused")
            if gone is not None:  # deleted, purged or replaced: the same bytes never come back
                detail = {"segment_id": segment_id, "field": "tombstone", "reason": gone}
                self.audit_log.append(AuditEvent(f"device:{device.id}", "segment.refused", f"device:{device.id}",
                                                 detail))  # fmt: skip
                raise Gone(f"segment {segment_id}: deleted ({gone}); its bytes are refused")
            # Invariant 1: every declared scope consented over [wall_start, wall_end], on the current notice (403).
            consent_of(self).check_segment(device.participant_id, header, conn)
        if held:
            return "duplicate"
        key = blob_key(segment_id)
        self.blobs.put(key, data)  # durable before the row exists, so a committed row always has its blob
        rec = SegmentRecord(
            segment_id, device.participant_id, device.id, header.session, header.seq, header.t_start_ns,
            header.t_end_ns, header.wall_start_ns, header.wall_end_ns, tuple(sorted(header.scopes)),
            header.notice_version, header.redactor_version, len(data), _coarse(header.counts), key, self._clock(),
        )  # fmt: skip
        return "stored" if self.metadata.add_segment(rec) else "duplicate"

    # -- audited reads --------------------------------------------------------------------------------------------

    def read_segment(self, actor: str, segment_id: str, *, grant_id: str | None = None) -> seg.Segment:
        """Decrypt one segment for ``actor``; the audit entry is written first, and its failure refuses the read.

        Callers decide whether ``actor`` may read it (``server.access``); this is the one place reads happen.
        """
        if not actor:
            raise BadRequest("actor: expected who is reading, got ''")
        rec = self.metadata.segment(segment_id)
        if rec is None:
            raise NotFound(f"segment {segment_id!r}: not found")
        held_back = self.metadata.quarantined([segment_id]).get(segment_id)
        if held_back is not None:
            raise Unprocessable(f"segment {segment_id}: quarantined ({held_back})", code="quarantined")
        p = self.participant(rec.participant_id)
        if p.wrapped_private_key is None:
            raise Gone(f"segment {segment_id}: participant {p.id} was erased and their key destroyed; unreadable")
        detail: dict[str, object] = {"participant_id": p.id, "session": rec.session, "seq": rec.seq}
        if grant_id is not None:
            detail["grant_id"] = grant_id
        try:
            self.metadata.append_audit(
                AuditEvent(actor, "segment.read", f"segment:{segment_id}", detail), self._clock()
            )
        except SQLAlchemyError as exc:
            raise AuditUnavailable(
                f"audit log: cannot append the read of segment {segment_id} ({type(exc).__name__}); read refused"
            ) from None
        private, _ = split_secret(self.keys.unwrap(p.id, p.wrapped_private_key))
        try:
            data = self.blobs.get(rec.blob_key)
            if seg.segment_id(data) != segment_id:
                raise SegmentError("stored blob does not match its hash (tampered or corrupt)")
            return seg.open_sealed(data, private)
        except (SegmentError, SchemaError) as exc:  # kept aside with its reason: never used, never a page's 500
            reason = str(exc)
            audit = AuditEvent(actor, "segment.quarantine", f"segment:{segment_id}",
                               {"participant_id": p.id, "reason": reason})  # fmt: skip
            self.metadata.quarantine(segment_id, reason, audit, self._clock())
            raise Unprocessable(f"segment {segment_id}: quarantined ({reason})", code="quarantined") from None

    def iter_segments(self, actor: str, participant_id: str | None = None) -> Iterator[seg.Segment]:
        """Every readable segment (erased participants skipped) in (participant, session, seq) order, each audited."""
        for rec in self.metadata.segments(participant_id):
            yield self.read_segment(actor, rec.id)

    # -- rewriting ------------------------------------------------------------------------------------------------

    def replace_segment(self, old: SegmentRecord, kept: seg.Segment | None, audit: AuditEvent) -> SegmentRecord | None:
        """The one way a stored segment is rewritten or deleted (a participant's deletion, a withdrawal's purge).

        ``kept`` (what remains, its header narrowed) is sealed again to the participant's key and stored first;
        then, in one transaction, the old row goes, its id becomes a tombstone (its bytes are refused from then
        on), the new row comes in and ``audit`` is appended; only then is the old ciphertext deleted. Returns the
        new record, or None when nothing was kept. A crash before the commit leaves the old segment whole (and an
        orphan blob at most); after it, at most the old blob, which nothing references.
        """
        new: SegmentRecord | None = None
        if kept is not None:
            header = replace(kept.header, counts=seg.declared_counts(kept.events), sealed_key="")
            data = seg.seal(header, kept.events, kept.frames, self.participant(old.participant_id).public_key)
            new_id = seg.segment_id(data)
            new = replace(old, id=new_id, blob_key=blob_key(new_id), size=len(data), scopes=tuple(header.scopes),
                          counts=dict(header.counts))  # fmt: skip
            self.blobs.put(new.blob_key, data)  # durable before its row, as at ingest
        audit = replace(audit, detail={**audit.detail, "replaced_by": new.id if new is not None else None})
        self.metadata.replace_segment(old.id, new, audit, self._clock())
        self.blobs.delete(old.blob_key)
        return new

    # -- erasure --------------------------------------------------------------------------------------------------

    def erase_participant(self, participant_id: str, *, actor: str = "admin") -> int:
        """Crypto-shred a participant: destroy their key in the key service and their wrapped key, void codes,
        delete blobs; returns blobs deleted. Erasing again completes an interrupted erasure.

        A private key still wrapped by the shared key of earlier versions cannot be shredded alone, so that erasure
        first rotates every key (re-wrapping everyone under their own key and retiring the shared one).
        """
        p = self.participant(participant_id)
        if p.wrapped_private_key is not None and not is_scoped(p.wrapped_private_key):
            self.rotate_keys(actor=actor)
            p = self.participant(participant_id)
        subject = f"participant:{participant_id}"
        audits = [
            AuditEvent(actor, "participant.key_destroy", subject, {"key_id": p.key_id}),
            AuditEvent(actor, "participant.erase", subject, {"key": "destroyed"}),
        ]
        destroy = functools.partial(self.keys.destroy, participant_id)  # runs inside the erasure's transaction
        keys = self.metadata.erase_participant(participant_id, self._clock(), audits, destroy_key=destroy)
        for key in keys:
            self.blobs.delete(key)
        return len(keys)

    # -- key operations -------------------------------------------------------------------------------------------

    def rotate_keys(self, *, actor: str = "admin") -> int:
        """Rotate the key-encryption keys and re-wrap every participant key under the newest; blobs are untouched.

        Safe while any number of replicas serve (they notice the new key version at their next use) and at any
        kill -9: the new version exists before anything is re-wrapped; everyone is re-wrapped in bulk; a last pass
        under the exclusive key lock re-wraps whoever was created meanwhile (creation wraps under the shared lock,
        so none is missed) and the key-store canary; only after that commits is the old version retired. An
        interrupted rotation leaves both versions able to unwrap, and is completed by running it again. Rotations
        take turns (``Conflict`` while another runs).
        """
        keys = self.keys
        if not isinstance(keys, RotatingKeyProvider):
            raise BadRequest(f"keys: {type(keys).__name__} cannot rotate")
        lease = self.metadata.try_lease(ROTATION)
        if lease is None:
            raise Conflict("keys: another key rotation is running; try again when it has finished")
        try:
            keys.rotate()
            fault_point("keys.rotated")
            live = [p for p in self.metadata.participants() if p.wrapped_private_key is not None]
            fault_point("keys.listed")
            rewrapped: dict[str, tuple[bytes, str]] = {}
            for p in live:
                try:
                    rewrapped[p.id] = (keys.rewrap(p.id, p.wrapped_private_key or b""), keys.key_id)
                except ConfigError:
                    if self.participant(p.id).erased:
                        continue  # erased meanwhile: their key is destroyed on purpose, nothing to re-wrap
                    raise
            audit = AuditEvent(actor, "keys.rewrap", "keys", {"key_id": keys.key_id, "participants": len(rewrapped)})
            n = self.metadata.rewrap_keys(rewrapped, self._clock(), audit)
            fault_point("keys.rewrapped")

            def rewrap(pid: str, wrapped: bytes) -> tuple[bytes, str]:
                return keys.rewrap(pid, wrapped), keys.key_id

            def audit_of(late: int) -> AuditEvent:
                return AuditEvent(actor, "keys.rotate", "keys", {"key_id": keys.key_id, "participants": n + late})

            n += self.metadata.finish_rewrap(set(rewrapped), rewrap, self._clock(), audit_of)
            fault_point("keys.finished")
            keys.retire_old_versions()
            return n
        finally:
            lease.release()

    # -- what every replica must share ----------------------------------------------------------------------------

    def check_deployment(self) -> None:
        """Refuse to run beside other server processes of this database that sign with another audit key or use
        another key store (the first process to start sets both); ``ConfigError`` names which differs."""
        ours = bytes(self.audit_log.verify_key).hex()
        theirs = self.metadata.deployment_value(AUDIT_KEY, lambda: ours)
        if theirs != ours:
            raise ConfigError(
                f"audit signing key: this server's public key {ours[:16]}… differs from {theirs[:16]}…, the key the "
                f"database's other servers sign with; give every replica the same audit-signing.key"
            )
        wrapped = bytes.fromhex(
            self.metadata.deployment_value(CANARY, lambda: self.keys.wrap(CANARY_ID, _CANARY_TEXT).hex())
        )
        try:
            opened = self.keys.unwrap(CANARY_ID, wrapped)
        except ConfigError:
            opened = b""
        if opened != _CANARY_TEXT:
            raise ConfigError(
                f"key store: {self.keys.key_id} cannot open what the database's key store wrapped; point every "
                "replica at the same key store (the same master key file and key directory, or Vault and key name)"
            )

    # -- health ---------------------------------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """``{"status": "ok"}`` when the metadata store answers."""
        self.metadata.ping()
        return {"status": "ok"}


_X25519 = 32  # bytes of a participant's private key, at the start of what the key store wraps


def split_secret(unwrapped: bytes) -> tuple[bytes, str]:
    """What the key store unwraps for a participant: (X25519 private key, name); the name is "" for participants
    created before names were wrapped with the key."""
    return unwrapped[:_X25519], unwrapped[_X25519:].decode()


def _coarse(counts: Mapping[str, int]) -> dict[str, int]:
    """What the database keeps of a header's counts: the power-of-two bound only, never per-kind counts (a header
    from an older device declares those; kept, they would chart a named person's keystroke rate)."""
    return seg.declared_counts(sum(int(v) for v in counts.values()))
