"""Key-encryption keys: the ``KeyProvider`` interface and the embedded master key file.

A participant's X25519 private key is stored only wrapped (encrypted) under a key-encryption key (KEK) of that
participant alone, which lives in the key service and never enters the metadata database. Erasure destroys that KEK
in the key service (``destroy``), so every copy of the wrapped key — a database backup included — stops unwrapping,
while everyone else's keys are untouched. ``store.transit.VaultTransitKeys`` keeps one Transit key per participant;
``MasterKeyFile`` is the embedded default:

- ``master.key``: 32 random bytes, mode 0600.
- ``master.participant-keys/<participant id>.key`` beside it (directory 0700, files 0600): 32 random bytes per
  participant. The participant's KEK is HKDF-SHA256 of the master key salted with that file, so the directory alone
  is useless and so is the master key alone. Erasure unlinks the file and fsyncs the directory.

The key directory *is* the key store. Back it up separately from the database, with a retention shorter than the
erasure deadline, or not at all (a lost file makes only that participant's recordings unreadable): a backup of it
taken before an erasure, together with the master key, would still open that participant's database copy.

Wrapped formats: ``b"WP1" | nonce (12) | AES-256-GCM(ciphertext + tag)`` under the participant's KEK with the
participant id in the associated data; ``b"WP1:" + Vault ciphertext`` for Transit. ``b"WK1" | nonce | …`` is the
format of earlier versions, wrapped by the master key itself (no per-participant KEK): it still unwraps, and
``ServerAPI.rotate_keys`` re-wraps it per participant and retires the key that wrapped it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from workprint.errors import ConfigError
from workprint.secretfile import create_secret, fsync_dir, read_secret

__all__ = ["SCOPED_MAGIC", "KeyProvider", "MasterKeyFile", "RotatingKeyProvider", "check_participant", "is_scoped"]

SCOPED_MAGIC = b"WP1"
_LEGACY_MAGIC = b"WK1"
_LEGACY_AAD = b"workprint participant key wrap v1"
_AAD = b"workprint participant key wrap v2\x00"
_KDF_INFO = b"workprint participant kek v1\x00"
_NONCE = 12
_PARTICIPANT = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_scoped(wrapped: bytes) -> bool:
    """Whether ``wrapped`` is under a participant's own KEK (erasure shreds it) or the shared key of old versions."""
    return wrapped.startswith(SCOPED_MAGIC)


def check_participant(participant: str) -> str:
    """The participant id, if it is safe as a file and key name; else ``ConfigError`` naming it."""
    if not _PARTICIPANT.fullmatch(participant):
        raise ConfigError(f"participant: expected 1 to 64 letters, digits, '-' or '_', got {participant[:80]!r}")
    return participant


class KeyProvider(Protocol):
    """Wraps and unwraps participants' key material under per-participant keys it never reveals, and destroys them."""

    @property
    def key_id(self) -> str:
        """Names the provider's keys (stored beside each wrapped key), never derived in a way that reveals them."""
        ...

    def wrap(self, participant: str, plaintext: bytes) -> bytes:
        """Encrypt ``participant``'s key material under their own KEK, creating it on first use."""
        ...

    def unwrap(self, participant: str, wrapped: bytes) -> bytes:
        """Decrypt key material wrapped by ``wrap``; raises ``ConfigError`` when it cannot (e.g. the KEK is gone)."""
        ...

    def destroy(self, participant: str) -> bool:
        """Destroy ``participant``'s KEK in the key service; False when there was none (already destroyed)."""
        ...


@runtime_checkable
class RotatingKeyProvider(KeyProvider, Protocol):
    """A provider whose KEKs have versions: rotate, re-wrap everything, then retire the old versions."""

    def rotate(self) -> None:
        """Start a new key version; ``wrap`` uses it from now on, older versions still unwrap."""
        ...

    def rewrap(self, participant: str, wrapped: bytes) -> bytes:
        """Re-encrypt wrapped key material under the newest version (and per participant) without returning it."""
        ...

    def retire_old_versions(self) -> None:
        """Make every version but the newest unable to unwrap (destroyed, for a key file)."""
        ...


class MasterKeyFile:
    """``KeyProvider`` over a master key file and a directory of per-participant key files, created on first use.

    Rotation writes the next master key beside it (``<path>.next``); both unwrap until ``retire_old_versions``
    renames the next key over the current one, destroying it. An interrupted rotation resumes: both are tried.
    Participant files do not change on rotation: their KEKs are derived from the master key, so they change with it.
    Several processes (ingest replicas, the CLI) may share the files: each notices a rotation made by another at its
    next use, so running servers never need a restart.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.next_path = self.path.with_name(self.path.name + ".next")
        self.key_dir = self.path.with_name(self.path.stem + ".participant-keys")
        # Cached keys with the stamp of the file each was read from: another process (a rotation run from the CLI,
        # another replica) may replace either file at any time, so every use checks the stamp (one stat) and re-reads.
        self._key: tuple[tuple[int, int, int], bytes] | None = None
        self._next: tuple[tuple[int, int, int], bytes] | None = None

    # -- the master key -----------------------------------------------------------------------------------------

    def _load(self) -> bytes:
        stamp = _stamp(self.path)
        if stamp is None:
            _new_secret(self.path)
            stamp = _stamp(self.path)
            assert stamp is not None
        if self._key is None or self._key[0] != stamp:
            self._key = (stamp, read_secret(self.path, "master key file"))
        return self._key[1]

    def _load_next(self) -> bytes | None:
        stamp = _stamp(self.next_path)
        if stamp is None:
            self._next = None
        elif self._next is None or self._next[0] != stamp:
            try:
                self._next = (stamp, read_secret(self.next_path, "master key file"))
            except FileNotFoundError:  # renamed over the master key meanwhile: ``_load`` reads it there
                self._next = None
        return None if self._next is None else self._next[1]

    def _masters(self) -> list[bytes]:
        """The master keys that may have wrapped something, newest first (read after any rotation elsewhere)."""
        nxt = self._load_next()
        current = self._load()
        return [current] if nxt is None else [nxt, current]

    @property
    def key_id(self) -> str:
        # A hash under a label identifies the key (to detect a swapped file) without helping to guess it.
        return "master-key-file:" + hashlib.sha256(b"workprint key id\x00" + self._masters()[0]).hexdigest()[:16]

    # -- participants' keys -------------------------------------------------------------------------------------

    def participant_key_path(self, participant: str) -> Path:
        """Where ``participant``'s key file is (whether or not it exists)."""
        return self.key_dir / f"{check_participant(participant)}.key"

    def _salt(self, participant: str, *, create: bool) -> bytes:
        path = self.participant_key_path(participant)
        if create and not path.exists():
            self._load()  # the master key first: a key directory without it would be useless
            _make_private_dir(self.key_dir)
            _new_secret(path)
        try:
            return read_secret(path, "participant key file")
        except FileNotFoundError:
            raise ConfigError(
                f"participant {participant}: key destroyed (erased) or never created; {path} does not exist"
            ) from None

    @staticmethod
    def _kek(master: bytes, salt: bytes, participant: str) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_KDF_INFO + participant.encode())
        return hkdf.derive(master)

    def wrap(self, participant: str, plaintext: bytes) -> bytes:
        salt = self._salt(participant, create=True)
        nonce = os.urandom(_NONCE)
        kek = self._kek(self._masters()[0], salt, participant)
        return SCOPED_MAGIC + nonce + AESGCM(kek).encrypt(nonce, plaintext, _AAD + participant.encode())

    def unwrap(self, participant: str, wrapped: bytes) -> bytes:
        if wrapped.startswith(_LEGACY_MAGIC):
            return self._unwrap_legacy(wrapped)
        if not is_scoped(wrapped) or len(wrapped) < len(SCOPED_MAGIC) + _NONCE + 16:
            raise ConfigError("master key: wrapped key material is malformed")
        salt = self._salt(participant, create=False)
        nonce, body = wrapped[3 : 3 + _NONCE], wrapped[3 + _NONCE :]
        for _ in range(2):  # a second look at the files: a rotation elsewhere may have renamed one in between
            for master in self._masters():
                with contextlib.suppress(InvalidTag):
                    kek = self._kek(master, salt, participant)
                    return AESGCM(kek).decrypt(nonce, body, _AAD + participant.encode())
        raise ConfigError(f"master key file {self.path}: cannot unwrap key material of participant {participant}")

    def _unwrap_legacy(self, wrapped: bytes) -> bytes:
        if len(wrapped) < len(_LEGACY_MAGIC) + _NONCE + 16:
            raise ConfigError("master key: wrapped key material is malformed")
        nonce, body = wrapped[3 : 3 + _NONCE], wrapped[3 + _NONCE :]
        for master in self._masters():
            with contextlib.suppress(InvalidTag):
                return AESGCM(master).decrypt(nonce, body, _LEGACY_AAD)
        raise ConfigError(f"master key file {self.path}: cannot unwrap key material (a different key?)")

    def destroy(self, participant: str) -> bool:
        """Unlink the participant's key file and fsync the directory, so the unlink survives a crash."""
        try:
            self.participant_key_path(participant).unlink()
        except FileNotFoundError:
            return False
        fsync_dir(self.key_dir)
        return True

    # -- rotation -----------------------------------------------------------------------------------------------

    def rotate(self) -> None:
        """Create the next master key (``<path>.next``, mode 0600); new wraps use it."""
        self._load()
        _new_secret(self.next_path)

    def rewrap(self, participant: str, wrapped: bytes) -> bytes:
        """Unwrap with whichever key opens it, wrap with the newest under the participant's own KEK."""
        return self.wrap(participant, self.unwrap(participant, wrapped))

    def retire_old_versions(self) -> None:
        """Replace the key file by the next key, destroying the old key (call once everything is re-wrapped)."""
        if not self.next_path.exists():
            return
        read_secret(self.next_path, "master key file")
        os.replace(self.next_path, self.path)
        fsync_dir(self.path.parent)


def _make_private_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)  # whatever the umask
        fsync_dir(path.parent)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"participant key directory {path}: mode {mode:04o} is looser than 0700 (chmod 700 it)")


def _new_secret(path: Path) -> None:
    create_secret(path, AESGCM.generate_key(bit_length=256))


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """Identifies a file's current content cheaply (inode, change time, size); None when it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_ctime_ns, st.st_size
