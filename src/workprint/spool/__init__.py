"""The on-device spool: append-only journal, sealed segments waiting for upload, crash recovery."""

from workprint.spool.journal import Spool
from workprint.spool.queue import read_status
from workprint.spool.values import MiB, PurgeResult, SpoolIdentity, SpoolStatus

__all__ = ["MiB", "PurgeResult", "Spool", "SpoolIdentity", "SpoolStatus", "read_status"]
