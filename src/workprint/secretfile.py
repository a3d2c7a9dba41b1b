"""Reading 32-byte secrets from files of mode 0600 (key files, the audit signing seed): one check, one message."""

from __future__ import annotations

import stat
from pathlib import Path

from workprint.errors import ConfigError

__all__ = ["read_secret"]


def read_secret(path: Path, what: str) -> bytes:
    """The 32 bytes in ``path``; ``ConfigError`` naming ``what`` if the mode is looser than 0600 or the size is off."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{what} {path}: mode {mode:04o} is looser than 0600 (chmod 600 it)")
    key = path.read_bytes()
    if len(key) != 32:
        raise ConfigError(f"{what} {path}: expected 32 bytes, got {len(key)}")
    return key
