"""The on-device spool: an append-only journal that is sealed into encrypted segments.

Layout of ``directory``::

    journal.wpj            the open journal (plaintext, mode 0600; never leaves the device)
    closed-NNN.wpj         journals rotated out, waiting to be sealed
    state.json             the next segment sequence number
    sealed/NNN-ID.wps      sealed segments waiting for upload, in sequence order
    rejected/NNN-ID.wps    segments the server refused, with ``.reason`` beside them (never deleted silently)
    spool.lock             held by the one process that writes the spool

``append`` returns only after its record was handed to the kernel with one ``os.write``: that is the
acknowledgement, and it survives kill -9 of the agent. When the journal is too old or too big, ``append`` only
renames it (cheap, so the capture thread never waits for encryption); ``tick`` and ``seal`` seal closed journals
on the caller's thread: the segment is written atomically, then the journal deleted. Journals found at start (the
agent was killed) are cut at their last intact record and sealed, unless a segment with their sequence number
already exists (killed between the two steps), so nothing is sealed twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from workprint.errors import ConfigError, SpoolError, SpoolFull
from workprint.faults import fault_point
from workprint.models import Event, FrameEvent
from workprint.privacy.scopes import scopes_of_event
from workprint.spool import files
from workprint.spool.queue import CLOSED_PREFIX, JOURNAL, SegmentQueueDir, read_status
from workprint.spool.records import event_record, meta_record, scan
from workprint.spool.sealing import seal_events
from workprint.spool.values import MiB, PurgeResult, SpoolIdentity, SpoolStatus


class Spool:
    """Append-only, crash-safe, thread-safe spool of one device. Use ``Spool.open`` (recovers) or the constructor."""

    def __init__(
        self,
        directory: Path,
        identity: SpoolIdentity,
        *,
        max_age_s: float = 60,
        max_bytes: int = 32 * MiB,
        clock: Callable[[], int] = time.monotonic_ns,
        fsync_appends: bool = False,
        max_total_bytes: int | None = None,
        on_full: Callable[[bool], None] | None = None,
    ) -> None:
        if max_age_s <= 0:
            raise ConfigError(f"max_age_s: expected a positive number of seconds, got {max_age_s!r}")
        if max_bytes <= 0:
            raise ConfigError(f"max_bytes: expected a positive size, got {max_bytes!r}")
        if max_total_bytes is not None and max_total_bytes <= max_bytes:
            raise ConfigError(
                f"spool_max_bytes: expected more than one segment ({max_bytes} bytes), got {max_total_bytes!r}"
            )
        self.directory = Path(directory)
        self.identity = identity
        self.max_age_ns = int(max_age_s * 1e9)
        self.max_bytes = max_bytes
        self._clock = clock
        self._fsync_appends = fsync_appends
        self._lock = threading.RLock()  # the open journal
        self._seal_lock = threading.Lock()  # closed journals; taken before _lock when both are needed
        self._seq = -1
        self._fd: int | None = None
        self._opened_ns = 0
        self._bytes = 0
        self._events = 0
        self._frame_ids: set[str] = set()
        self.queue = SegmentQueueDir(self.directory)
        self.sealed_dir = self.queue.sealed_dir
        self.rejected_dir = self.queue.rejected_dir
        self.journal_path = self.directory / JOURNAL
        files.make_dirs(self.directory, self.sealed_dir, self.rejected_dir)
        self._broken = False
        self.max_total_bytes = max_total_bytes
        self.on_full = on_full
        self._full = False
        self._stored = 0  # bytes on disk besides the open journal: sealed, rejected and closed journals
        self._lock_fd = self._take_lock()
        self._next_seq = self._load_seq()
        self._recover()

    @classmethod
    def open(
        cls,
        directory: Path,
        identity: SpoolIdentity,
        *,
        max_age_s: float = 60,
        max_bytes: int = 32 * MiB,
        clock: Callable[[], int] = time.monotonic_ns,
        fsync_appends: bool = False,
        max_total_bytes: int | None = None,
        on_full: Callable[[bool], None] | None = None,
    ) -> Spool:
        """Open (creating if needed) and recover the spool in ``directory``; a journal left behind is sealed.

        ``max_total_bytes`` caps what the spool holds on disk (journals and unsent segments): at the cap ``append``
        raises ``SpoolFull`` and ``full`` turns True until uploads bring it under 90 % of the cap; ``on_full`` is
        called with the new value at each change (the agent stops capturing and tells the participant)."""
        return cls(
            directory, identity, max_age_s=max_age_s, max_bytes=max_bytes, clock=clock, fsync_appends=fsync_appends,
            max_total_bytes=max_total_bytes, on_full=on_full,
        )  # fmt: skip

    # -- start-up -------------------------------------------------------------------------------------------------

    def _take_lock(self) -> int:
        path = self.directory / "spool.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise SpoolError(f"spool: cannot use directory {self.directory} ({files.reason(exc)})") from None
        try:
            # POSIX record locks are per process: a second agent process is refused, threads share the spool.
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SpoolError(f"spool: {self.directory} is in use by another workprint process") from None
        return fd

    def _load_seq(self) -> int:
        seq = 0
        # missing or damaged: that only costs sequence numbers; the segment file names below restore the order
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            seq = int(json.loads((self.directory / "state.json").read_text())["next_seq"])
        return max([seq, *(s + 1 for s in self.queue.seqs())])

    def _save_seq(self, next_seq: int) -> None:
        files.write_atomic(self.directory / "state.json", json.dumps({"next_seq": next_seq}).encode())
        self._next_seq = next_seq

    def _recover(self) -> None:
        for d in (self.directory, self.sealed_dir, self.rejected_dir):
            files.remove_tmp(d)
        if self.journal_path.exists():
            # Closing it under its own sequence number makes it one more closed journal to seal, in order.
            result = scan(self._read(self.journal_path))
            if result.meta is None:
                self._unlink(self.journal_path)
            else:
                self._next_seq = max(self._next_seq, result.meta.seq + 1)
                self._rename(self.journal_path, self._closed_path(result.meta.seq))
        self.seal_closed()

    def _closed_path(self, seq: int) -> Path:
        return self.directory / f"{CLOSED_PREFIX}{seq:012d}.wpj"

    def closed_journals(self) -> list[Path]:
        """Journals rotated out but not sealed yet (``tick`` and ``seal`` seal them), in sequence order."""
        return sorted(self.directory.glob(f"{CLOSED_PREFIX}*.wpj"))

    def seal_closed(self) -> Path | None:
        """Seal every closed journal, oldest first, outside the append lock; returns the last segment written."""
        last = None
        with self._seal_lock:
            for path in self.closed_journals():
                result = scan(self._read(path))
                if result.meta is not None and result.events and result.meta.seq not in self.queue.seqs():
                    last = self.queue.write(result.meta.seq, seal_events(result.meta, result.events, result.frames))
                    fault_point("seal.unlink")
                # else: empty, or sealed already by a run killed before it could delete the journal
                self._unlink(path)
            self._measure()
        return last

    # -- journal --------------------------------------------------------------------------------------------------

    @staticmethod
    def _read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SpoolError(f"spool: cannot read {path} ({files.reason(exc)})") from None

    def _unlink(self, path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
            files.fsync_dir(self.directory)
        except OSError as exc:
            raise SpoolError(f"spool: cannot delete {path} ({files.reason(exc)})") from None

    def _rename(self, src: Path, dest: Path) -> None:
        try:
            os.replace(src, dest)
            files.fsync_dir(self.directory)
        except OSError as exc:
            raise SpoolError(f"spool: cannot rename {src} to {dest} ({files.reason(exc)})") from None

    def _open_journal(self) -> None:
        seq = self._next_seq
        self._save_seq(seq + 1)
        record = meta_record(self.identity.meta(seq))
        try:
            fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        except OSError as exc:
            raise SpoolError(f"spool: cannot create {self.journal_path} ({files.reason(exc)})") from None
        self._fd, self._bytes, self._events, self._seq = fd, 0, 0, seq
        self._frame_ids = set()
        self._opened_ns = self._clock()
        try:
            self._write(record)
            files.fsync_dir(self.directory)
        except (SpoolError, OSError) as exc:
            self._close_fd()
            with contextlib.suppress(OSError):
                self.journal_path.unlink()
            if isinstance(exc, SpoolError):
                raise
            raise SpoolError(f"spool: cannot create {self.journal_path} ({files.reason(exc)})") from None

    def _write(self, record: bytes) -> None:
        assert self._fd is not None
        try:
            n = os.write(self._fd, record)
            if n != len(record):
                raise OSError(28, os.strerror(28))  # a short write on a regular file means the disk is full
            if self._fsync_appends:
                os.fsync(self._fd)
        except OSError as exc:
            # Cut the partial record so the journal ends at the last acknowledged one.
            try:
                os.ftruncate(self._fd, self._bytes)
            except OSError:
                # Later records would sit behind garbage that recovery cuts: refuse appends until the next open.
                self._broken = True
            raise SpoolError(f"spool: cannot write {self.journal_path} ({files.reason(exc)})") from None
        self._bytes += len(record)

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _due(self, now_ns: int, extra: int = 0) -> bool:
        if self._fd is None or self._events == 0:
            return False
        return now_ns - self._opened_ns >= self.max_age_ns or self._bytes + extra > self.max_bytes

    # -- public ---------------------------------------------------------------------------------------------------

    def append(self, event: Event, data: bytes | None = None) -> None:
        """Write one event (and a frame's bytes) to the journal; returning is the acknowledgement."""
        if data is not None and not isinstance(event, FrameEvent):
            raise ValueError(f"data: only a frame event carries bytes, got {event.KIND} with {len(data)} bytes")
        with self._lock:
            if self._broken:
                raise SpoolError(f"spool: {self.journal_path} has a torn record; restart the agent to recover it")
            if self._due(self._clock(), len(data or b"") + 256):
                self._rotate_locked()  # cheap: sealing happens in tick() or seal(), off the capture thread
            if self._fd is None:
                self._open_journal()
            keep = data
            if isinstance(event, FrameEvent) and event.frame_id in self._frame_ids:
                keep = None  # the segment already holds this frame's bytes
            record = event_record(event, keep)
            self._check_room(len(record))
            self._write(record)
            self._events += 1
            if keep is not None and isinstance(event, FrameEvent):
                self._frame_ids.add(event.frame_id)

    def tick(self, now_ns: int | None = None) -> Path | None:
        """Rotate the journal when it is older than ``max_age_s`` (``now_ns`` on the spool's clock) and seal closed
        journals; call it often (the agent does, twice a second). Returns the last segment sealed, if any."""
        with self._lock:
            if self._due(self._clock() if now_ns is None else now_ns):
                self._rotate_locked()
        return self.seal_closed()

    def seal(self) -> Path | None:
        """Seal the open journal (and any closed ones) now; returns the last sealed segment, or None."""
        with self._lock:
            self._rotate_locked()
        return self.seal_closed()

    def _rotate_locked(self) -> None:
        if self._fd is None:
            return
        self._close_fd()
        fault_point("journal.rotate")
        if self._events == 0:
            self._unlink(self.journal_path)
        else:
            self._rename(self.journal_path, self._closed_path(self._seq))
            self._stored += self._bytes
        self._events = self._bytes = 0

    # -- the size cap -------------------------------------------------------------------------------------------

    @property
    def full(self) -> bool:
        """True while the spool is at its cap: appends are refused (``SpoolFull``) until uploads make room."""
        return self._full

    def total_bytes(self) -> int:
        """Bytes the spool holds on disk: the open journal, closed journals and unsent or refused segments."""
        with self._lock:
            return self._stored + (self._bytes if self._fd is not None else 0)

    def _measure(self) -> None:
        with self._lock:
            paths = [*self.queue.pending(), *self.queue.rejected(), *self.closed_journals()]
            total = 0
            for p in paths:
                with contextlib.suppress(OSError):  # uploaded or purged meanwhile
                    total += p.stat().st_size
            self._stored = total
            self._update_full()

    def _set_full(self, value: bool) -> None:
        if value != self._full:
            self._full = value
            if self.on_full is not None:
                self.on_full(value)

    def _update_full(self) -> None:
        # Hysteresis: once full, stay full until uploads free a tenth of the cap, so capture does not flap.
        if self.max_total_bytes is not None and self._full:
            self._set_full(self.total_bytes() > self.max_total_bytes * 0.9)

    def _check_room(self, size: int) -> None:
        cap = self.max_total_bytes
        if cap is None:
            return
        total = self._stored + self._bytes
        if self._full or total + size > cap:
            self._set_full(True)
            raise SpoolFull(
                f"spool: full ({total} of {cap} bytes waiting for upload); recording stopped until the server "
                "takes segments"
            )

    def pending(self) -> list[Path]:
        """Sealed segments not yet acknowledged by the server, in upload order."""
        with self._lock:
            return self.queue.pending()

    def mark_uploaded(self, path: Path) -> None:
        """Delete a segment the server acknowledged."""
        with self._lock:
            try:
                size = self.queue.own(path).stat().st_size
            except OSError:
                size = 0
            self.queue.mark_uploaded(path)
            self._stored = max(0, self._stored - size)
            self._update_full()

    def mark_rejected(self, path: Path, reason: str) -> Path:
        """Move a segment the server refused to ``rejected/`` with a ``.reason`` file; returns its new path."""
        with self._lock:
            return self.queue.mark_rejected(path, reason)

    def rejected(self) -> list[Path]:
        """Segments the server refused, in sequence order."""
        with self._lock:
            return self.queue.rejected()

    def purge(self, scopes: set[str] | None = None) -> PurgeResult:
        """Delete unsent data (withdrawal). ``None``: everything. With scopes: the journal's events of those scopes
        are dropped (the rest is sealed), and every unsent segment whose header declares one of them is deleted
        (the device cannot open a sealed segment to filter it; deleting more than asked is the safe side)."""
        with self._seal_lock, self._lock:
            self._rotate_locked()
            dropped = 0
            for path in self.closed_journals():
                result = scan(self._read(path))
                kept = [e for e in result.events if scopes is not None and not (scopes_of_event(e) & scopes)]
                dropped += len(result.events) - len(kept)
                if kept and result.meta is not None and result.meta.seq not in self.queue.seqs():
                    self.queue.write(result.meta.seq, seal_events(result.meta, kept, result.frames))
                self._unlink(path)
            deleted = self.queue.delete(scopes)
            self._measure()
            return PurgeResult(segments_deleted=deleted, events_dropped=dropped)

    def status(self) -> SpoolStatus:
        """Counts of what waits on the device."""
        with self._lock:
            return read_status(self.directory, journal_events=self._events if self._fd is not None else 0)

    def close(self) -> None:
        """Close the journal (it stays, and is sealed at the next open) and release the spool lock."""
        with self._lock:
            self._close_fd()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
