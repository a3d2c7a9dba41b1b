"""The uploader's boundary: a ``Transport`` puts one sealed segment and says what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

Outcome = Literal["stored", "duplicate", "rejected", "retry"]


@dataclass(frozen=True, slots=True)
class UploadResult:
    """``stored``/``duplicate`` acknowledge the segment; ``rejected`` is final for it; ``retry`` means try later."""

    outcome: Outcome
    reason: str = ""
    retry_after_s: float | None = None

    @property
    def acknowledged(self) -> bool:
        """True when the server holds the segment (newly or already)."""
        return self.outcome in ("stored", "duplicate")

    @classmethod
    def stored(cls) -> UploadResult:
        return cls("stored")

    @classmethod
    def duplicate(cls) -> UploadResult:
        return cls("duplicate")

    @classmethod
    def rejected(cls, reason: str) -> UploadResult:
        return cls("rejected", reason)

    @classmethod
    def retry(cls, reason: str, retry_after_s: float | None = None) -> UploadResult:
        return cls("retry", reason, retry_after_s)


class Transport(Protocol):
    """Where sealed segments go. Implementations return results for every expected failure instead of raising."""

    def put_segment(self, segment_id: str, data: bytes) -> UploadResult:
        """Upload the sealed segment named ``segment_id`` (the SHA-256 of ``data``); idempotent."""
        ...


@runtime_checkable
class ReportsSpoolLag(Protocol):
    """A transport that tells the server how many segments wait on the device (aggregate monitoring only)."""

    def set_spool_pending(self, segments: int) -> None:
        """Remember ``segments`` and send it with the next uploads."""
        ...
