"""32-byte secrets in files of mode 0600 (key files, the audit signing seed): read with one check and one message,
created atomically so that processes starting together on a fresh home agree on one secret."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from workprint.errors import ConfigError

__all__ = ["create_secret", "fsync_dir", "read_secret"]


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a created, renamed or unlinked file) survive a crash."""
    with contextlib.suppress(OSError):
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)


def create_secret(path: Path, secret: bytes) -> None:
    """Write ``secret`` to a new file of mode 0600, durably and atomically: it is written in full to a temporary
    file and linked into place, so a reader sees no file or the whole one; a file created meanwhile wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, secret)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # never replaces an existing file
    except FileExistsError:
        pass  # another process created it first; everyone reads theirs
    finally:
        tmp.unlink()
    fsync_dir(path.parent)


def read_secret(path: Path, what: str) -> bytes:
    """The 32 bytes in ``path``; ``ConfigError`` naming ``what`` if the mode is looser than 0600 or the size is off."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{what} {path}: mode {mode:04o} is looser than 0600 (chmod 600 it)")
    key = path.read_bytes()
    if len(key) != 32:
        raise ConfigError(f"{what} {path}: expected 32 bytes, got {len(key)}")
    return key
