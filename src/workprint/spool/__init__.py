"""The on-device spool: append-only journal, sealed segments waiting for upload, crash recovery."""

from workprint.spool.journal import Spool
from workprint.spool.queue import SegmentQueueDir, pending_count, read_status
from workprint.spool.values import MiB, PurgeResult, SpoolIdentity, SpoolStatus

__all__ = [
    "MiB",
    "PurgeResult",
    "SegmentQueueDir",
    "Spool",
    "SpoolIdentity",
    "SpoolStatus",
    "pending_count",
    "read_status",
]
