"""Who signs the audit log's checkpoints: a ``Signer``.

By default the server's Ed25519 key, a 32-byte seed in a file of mode 0600 created on first use (``KeySigner``).
Anyone who can read that file can re-sign a rewritten history; with ``WORKPRINT_AUDIT_SIGNER=vault`` the key lives
in Vault/OpenBao Transit instead (``workprint.audit.transit_signer``) and never leaves it. Only the public half is
needed to verify the log, so auditors check checkpoints without any secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from nacl.signing import SigningKey, VerifyKey

from workprint.errors import ConfigError
from workprint.secretfile import create_secret, read_secret

__all__ = ["KeySigner", "Signer", "load_signing_key", "load_verify_key"]


class Signer(Protocol):
    """Makes Ed25519 signatures that ``verify_key`` checks."""

    @property
    def verify_key(self) -> VerifyKey: ...

    def sign(self, message: bytes) -> bytes:
        """The 64-byte signature of ``message``."""
        ...


class KeySigner:
    """A ``Signer`` over a key held in this process."""

    def __init__(self, key: SigningKey) -> None:
        self._key = key

    @property
    def verify_key(self) -> VerifyKey:
        return self._key.verify_key

    def sign(self, message: bytes) -> bytes:
        return bytes(self._key.sign(message).signature)


def load_signing_key(path: str | os.PathLike[str], *, create: bool = True) -> SigningKey:
    """The signing key in ``path`` (created mode 0600 when missing and ``create``); refuses looser modes."""
    p = Path(path)
    if not p.exists():
        if not create:
            raise ConfigError(f"audit signing key {p}: not found")
        create_secret(p, bytes(SigningKey.generate()))  # atomic: replicas starting together agree on one key
    return SigningKey(read_secret(p, "audit signing key"))


def load_verify_key(hex_or_path: str) -> VerifyKey:
    """A verify key from 64 hex digits, or the public half of the signing key file at that path."""
    text = hex_or_path.strip()
    if len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        return VerifyKey(bytes.fromhex(text))
    return load_signing_key(text, create=False).verify_key
