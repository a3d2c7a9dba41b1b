"""Small durable-file helpers for the spool; every ``OSError`` becomes a one-line ``SpoolError``."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from workprint.errors import SpoolError
from workprint.faults import fault_point

TMP_PREFIX = ".tmp-"


def reason(exc: OSError) -> str:
    """The short human reason of an OS error (``No space left on device``)."""
    return exc.strerror or str(exc)


def fsync_dir(directory: Path) -> None:
    """Make renames and unlinks in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, fault: str = "") -> None:
    """Write ``data`` to ``path`` so that it is either absent or complete: tmp file, fsync, rename, fsync dir.
    ``fault`` names the test-only fault point passed just before the fsync (see ``workprint.faults``)."""
    tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if fault:
                fault_point(fault)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SpoolError(f"spool: cannot write {path} ({reason(exc)})") from None


def remove_tmp(directory: Path) -> int:
    """Delete tmp files a killed writer left in ``directory``; returns how many."""
    n = 0
    for p in directory.glob(f"{TMP_PREFIX}*"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def make_dirs(*dirs: Path) -> None:
    """Create the spool's directories (mode 0700: the journal holds plaintext)."""
    for d in dirs:
        try:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"spool: cannot use directory {d} ({reason(exc)})") from None
