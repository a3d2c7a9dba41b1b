"""The server's Ed25519 checkpoint-signing key: a 32-byte seed in a file of mode 0600, created on first use.

Only its public half is needed to verify the log, so auditors can check checkpoints without any secret.
"""

from __future__ import annotations

import os
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from workprint.errors import ConfigError
from workprint.secretfile import create_secret, read_secret

__all__ = ["load_signing_key", "load_verify_key"]


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
