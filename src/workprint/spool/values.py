"""The spool's value types: whose data it holds, what purge deleted, what waits on the device."""

from __future__ import annotations

from dataclasses import dataclass

from workprint.errors import ConfigError
from workprint.spool.records import JournalMeta

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpoolIdentity:
    """Whose events the spool holds and to whom its segments are sealed."""

    participant: str
    device: str
    session: str
    public_key: bytes  # the participant's X25519 public key, 32 raw bytes
    notice_version: str
    redactor_version: str

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            n = len(self.public_key) if isinstance(self.public_key, bytes) else type(self.public_key).__name__
            raise ConfigError(f"public_key: expected 32 raw bytes (X25519), got {n}")

    def meta(self, seq: int) -> JournalMeta:
        """The journal meta record for segment ``seq``."""
        return JournalMeta(
            self.participant,
            self.device,
            self.session,
            self.public_key,
            self.notice_version,
            self.redactor_version,
            seq,
        )


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    """Counts for ``workprint status``. ``journal_events`` is -1 when read from disk without opening the spool."""

    pending_segments: int
    pending_bytes: int
    journal_events: int
    journal_bytes: int
    rejected_segments: int


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What ``purge`` deleted: whole segments, and events dropped from the open journal."""

    segments_deleted: int
    events_dropped: int
