"""Key-encryption keys: the ``KeyProvider`` interface and the embedded master key file.

A participant's X25519 private key is stored only wrapped (encrypted) by a ``KeyProvider``; the provider's key never
enters the metadata database. ``MasterKeyFile`` keeps a random 32-byte key in a file of mode 0600 and wraps with
AES-256-GCM; ``store.transit.VaultTransitKeys`` is the scale-out provider behind the same interface.

Wrapped format: ``b"WK1" | nonce (12) | AES-256-GCM(ciphertext + tag)`` with a fixed associated-data label.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workprint.errors import ConfigError

__all__ = ["KeyProvider", "MasterKeyFile", "RotatingKeyProvider"]

_MAGIC = b"WK1"
_AAD = b"workprint participant key wrap v1"
_NONCE = 12


class KeyProvider(Protocol):
    """Wraps and unwraps key material under a key it never reveals."""

    @property
    def key_id(self) -> str:
        """Names the wrapping key (stored beside each wrapped key), never derived in a way that reveals it."""
        ...

    def wrap(self, plaintext: bytes) -> bytes:
        """Encrypt key material."""
        ...

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt key material wrapped by ``wrap``; raises ``ConfigError`` when it cannot."""
        ...


@runtime_checkable
class RotatingKeyProvider(KeyProvider, Protocol):
    """A provider whose key-encryption key has versions: rotate, re-wrap everything, then retire the old ones."""

    def rotate(self) -> None:
        """Start a new key version; ``wrap`` uses it from now on, older versions still unwrap."""
        ...

    def rewrap(self, wrapped: bytes) -> bytes:
        """Re-encrypt wrapped key material under the newest version without returning it."""
        ...

    def retire_old_versions(self) -> None:
        """Make every version but the newest unable to unwrap (destroyed, for a key file)."""
        ...


class MasterKeyFile:
    """``KeyProvider`` over a local file holding 32 random bytes, created mode 0600 on first use.

    Rotation writes the next key beside it (``<path>.next``); both unwrap until ``retire_old_versions`` renames the
    next key over the current one, destroying it. An interrupted rotation resumes: both files are tried.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.next_path = self.path.with_name(self.path.name + ".next")
        self._key: bytes | None = None
        self._next: bytes | None = None

    def _load(self) -> bytes:
        if self._key is None:
            if not self.path.exists():
                self._create(self.path)
            self._key = self._read(self.path)
        return self._key

    def _load_next(self) -> bytes | None:
        if self._next is None and self.next_path.exists():
            self._next = self._read(self.next_path)
        return self._next

    def _wrapping_key(self) -> bytes:
        return self._load_next() or self._load()

    def _create(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process created it first; read theirs
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, AESGCM.generate_key(bit_length=256))
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(path.parent)

    def _read(self, path: Path) -> bytes:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"master key file {path}: mode {mode:04o} is looser than 0600 (chmod 600 it)")
        key = path.read_bytes()
        if len(key) != 32:
            raise ConfigError(f"master key file {path}: expected 32 bytes, got {len(key)}")
        return key

    @property
    def key_id(self) -> str:
        # A hash under a label identifies the key (to detect a swapped file) without helping to guess it.
        return "master-key-file:" + hashlib.sha256(b"workprint key id\x00" + self._wrapping_key()).hexdigest()[:16]

    def wrap(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _MAGIC + nonce + AESGCM(self._wrapping_key()).encrypt(nonce, plaintext, _AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        if not wrapped.startswith(_MAGIC) or len(wrapped) < len(_MAGIC) + _NONCE + 16:
            raise ConfigError("master key: wrapped key material is malformed")
        nonce = wrapped[len(_MAGIC) : len(_MAGIC) + _NONCE]
        for key in (self._load_next(), self._load()):
            if key is None:
                continue
            with contextlib.suppress(InvalidTag):
                return AESGCM(key).decrypt(nonce, wrapped[len(_MAGIC) + _NONCE :], _AAD)
        raise ConfigError(f"master key file {self.path}: cannot unwrap key material (a different key?)")

    def rotate(self) -> None:
        """Create the next key (``<path>.next``, mode 0600); new wraps use it."""
        self._load()
        self._create(self.next_path)
        self._next = None

    def rewrap(self, wrapped: bytes) -> bytes:
        """Unwrap with whichever key opens it, wrap with the newest."""
        return self.wrap(self.unwrap(wrapped))

    def retire_old_versions(self) -> None:
        """Replace the key file by the next key, destroying the old key (call once everything is re-wrapped)."""
        if not self.next_path.exists():
            return
        self._read(self.next_path)
        os.replace(self.next_path, self.path)
        _fsync_dir(self.path.parent)
        self._key, self._next = None, None


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
