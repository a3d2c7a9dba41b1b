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
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workprint.errors import ConfigError

__all__ = ["KeyProvider", "MasterKeyFile"]

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


class MasterKeyFile:
    """``KeyProvider`` over a local file holding 32 random bytes, created mode 0600 on first use."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._key: bytes | None = None

    def _load(self) -> bytes:
        if self._key is None:
            if not self.path.exists():
                self._create()
            self._key = self._read()
        return self._key

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return  # another process created it first; read theirs
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, AESGCM.generate_key(bit_length=256))
            os.fsync(fd)
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(dfd)
            os.close(dfd)

    def _read(self) -> bytes:
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(f"master key file {self.path}: mode {mode:04o} is looser than 0600 (chmod 600 it)")
        key = self.path.read_bytes()
        if len(key) != 32:
            raise ConfigError(f"master key file {self.path}: expected 32 bytes, got {len(key)}")
        return key

    @property
    def key_id(self) -> str:
        # A hash under a label identifies the key (to detect a swapped file) without helping to guess it.
        return "master-key-file:" + hashlib.sha256(b"workprint key id\x00" + self._load()).hexdigest()[:16]

    def wrap(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _MAGIC + nonce + AESGCM(self._load()).encrypt(nonce, plaintext, _AAD)

    def unwrap(self, wrapped: bytes) -> bytes:
        if not wrapped.startswith(_MAGIC) or len(wrapped) < len(_MAGIC) + _NONCE + 16:
            raise ConfigError("master key: wrapped key material is malformed")
        nonce = wrapped[len(_MAGIC) : len(_MAGIC) + _NONCE]
        try:
            return AESGCM(self._load()).decrypt(nonce, wrapped[len(_MAGIC) + _NONCE :], _AAD)
        except InvalidTag:
            raise ConfigError(f"master key file {self.path}: cannot unwrap key material (a different key?)") from None
