"""The on-device spool: append-only journal, sealed segments waiting for upload, crash recovery."""

from workprint.spool.journal import MiB, PurgeResult, Spool, SpoolIdentity, SpoolStatus, read_status

__all__ = ["MiB", "PurgeResult", "Spool", "SpoolIdentity", "SpoolStatus", "read_status"]
