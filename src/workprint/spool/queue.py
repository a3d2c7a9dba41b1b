"""Sealed segments on disk: ``sealed/`` waits for upload, ``rejected/`` keeps what the server refused.

Names start with the sequence number, so sorting names gives upload order, and recovery can tell whether a
journal was already sealed.
"""

from __future__ import annotations

import os
from pathlib import Path

from workprint.errors import SegmentError, SpoolError
from workprint.segment import read_header
from workprint.spool import files
from workprint.spool.sealing import sealed_name, seq_of
from workprint.spool.values import SpoolStatus

JOURNAL = "journal.wpj"
CLOSED_PREFIX = "closed-"
REASON = ".reason"


def _segments(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if seq_of(p.name) is not None) if d.is_dir() else []


class SegmentQueueDir:
    """The ``sealed/`` and ``rejected/`` directories of one spool. Not locked: ``Spool`` serialises calls."""

    def __init__(self, directory: Path) -> None:
        self.sealed_dir = directory / "sealed"
        self.rejected_dir = directory / "rejected"

    def write(self, seq: int, data: bytes) -> Path:
        """Store a sealed segment atomically; returns its path."""
        path = self.sealed_dir / sealed_name(seq, data)
        files.write_atomic(path, data, fault="seal.fsync")
        return path

    def pending(self) -> list[Path]:
        """Sealed segments waiting for upload, in sequence order."""
        return _segments(self.sealed_dir)

    def rejected(self) -> list[Path]:
        """Segments the server refused, in sequence order."""
        return _segments(self.rejected_dir)

    def seqs(self) -> set[int]:
        """Sequence numbers of every segment still on the device."""
        return {s for p in self.pending() + self.rejected() if (s := seq_of(p.name)) is not None}

    def own(self, path: Path) -> Path:
        """``path`` if it names a sealed segment of this queue; ``ValueError`` otherwise."""
        p = Path(path)
        if p.parent.resolve() != self.sealed_dir.resolve() or seq_of(p.name) is None:
            raise ValueError(f"path: not a sealed segment of this spool: {str(path)!r}")
        return p

    def mark_uploaded(self, path: Path) -> None:
        """Delete a segment the server acknowledged."""
        self.own(path).unlink(missing_ok=True)

    def mark_rejected(self, path: Path, reason: str) -> Path:
        """Move a refused segment to ``rejected/``, its reason beside it; returns the new path."""
        src = self.own(path)
        dest = self.rejected_dir / src.name
        files.write_atomic(self.rejected_dir / (src.name + REASON), (reason.strip() + "\n").encode())
        try:
            os.replace(src, dest)
            files.fsync_dir(self.rejected_dir)
        except OSError as exc:
            raise SpoolError(f"spool: cannot move {src} to {dest} ({files.reason(exc)})") from None
        return dest

    def delete(self, scopes: set[str] | None) -> int:
        """Delete unsent segments (all, or those declaring one of ``scopes``); returns how many."""
        n = 0
        for p in self.pending() + self.rejected():
            if scopes is not None and not _declares(p, scopes):
                continue
            p.unlink(missing_ok=True)
            (p.parent / (p.name + REASON)).unlink(missing_ok=True)
            n += 1
        try:
            files.fsync_dir(self.sealed_dir)
            files.fsync_dir(self.rejected_dir)
        except OSError as exc:
            raise SpoolError(f"spool: cannot delete segments ({files.reason(exc)})") from None
        return n


def _declares(path: Path, scopes: set[str]) -> bool:
    try:
        header, _, _ = read_header(path.read_bytes())
    except (OSError, SegmentError):
        return True  # unreadable: cannot prove it holds none of the withdrawn scopes
    return bool(set(header.scopes) & scopes)


def read_status(directory: Path, *, journal_events: int = -1) -> SpoolStatus:
    """Spool counts read from disk without opening (or locking) the spool, e.g. while an agent runs."""
    q = SegmentQueueDir(Path(directory))
    pending = q.pending()
    journals = [Path(directory) / JOURNAL, *Path(directory).glob(f"{CLOSED_PREFIX}*.wpj")]
    return SpoolStatus(
        pending_segments=len(pending),
        pending_bytes=sum(p.stat().st_size for p in pending),
        journal_events=journal_events,
        journal_bytes=sum(p.stat().st_size for p in journals if p.exists()),
        rejected_segments=len(q.rejected()),
    )


def pending_count(directory: Path) -> int:
    """How many sealed segments wait for upload in the spool at ``directory`` (read without opening it)."""
    return len(SegmentQueueDir(Path(directory)).pending())
