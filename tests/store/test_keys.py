"""The master key file and the participant key directory: created private, refused when loose, wraps with
authenticated encryption under a key of each participant that erasure destroys; the wraps of earlier versions still
open until a rotation re-wraps them."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workprint.errors import ConfigError
from workprint.segment import generate_keypair
from workprint.store.keys import MasterKeyFile, is_scoped


def test_the_key_file_is_created_mode_0600_on_first_use_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    old = os.umask(0)
    try:
        keys = MasterKeyFile(path)
        assert not path.exists()
        private, _ = generate_keypair()
        wrapped = keys.wrap("p1", private)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_size == 32
    assert keys.key_dir == path.parent / "master.participant-keys"
    assert keys.key_dir.stat().st_mode & 0o777 == 0o700
    assert keys.participant_key_path("p1").stat().st_mode & 0o777 == 0o600
    assert keys.participant_key_path("p1").stat().st_size == 32
    assert private not in wrapped and wrapped.startswith(b"WP1")
    assert MasterKeyFile(path).unwrap("p1", wrapped) == private
    assert MasterKeyFile(path).key_id == keys.key_id and keys.key_id.startswith("master-key-file:")


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    MasterKeyFile(path).wrap("p1", b"x")
    path.chmod(0o644)
    with pytest.raises(ConfigError) as err:
        MasterKeyFile(path).wrap("p1", b"x")
    assert str(err.value) == f"master key file {path}: mode 0644 is looser than 0600 (chmod 600 it)"


def test_another_master_key_cannot_unwrap_and_says_so(tmp_path: Path) -> None:
    a = MasterKeyFile(tmp_path / "a.key")
    wrapped = a.wrap("p1", b"secret key material")
    other = MasterKeyFile(tmp_path / "b.key")
    with pytest.raises(ConfigError, match=re.escape("participant p1: key destroyed (erased) or never created")):
        other.unwrap("p1", wrapped)
    shutil.copytree(a.key_dir, other.key_dir)  # the key directory alone is useless without its master key
    message = f"master key file {other.path}: cannot unwrap key material of participant p1"
    with pytest.raises(ConfigError, match=re.escape(message)):
        other.unwrap("p1", wrapped)
    with pytest.raises(ConfigError, match="wrapped key material is malformed"):
        other.unwrap("p1", b"junk")


def test_a_key_is_bound_to_its_participant(tmp_path: Path) -> None:
    keys = MasterKeyFile(tmp_path / "master.key")
    wrapped = keys.wrap("p1", b"secret key material")
    keys.wrap("p2", b"other")
    with pytest.raises(ConfigError, match="cannot unwrap key material of participant p2"):
        keys.unwrap("p2", wrapped)


def test_destroying_a_participant_key_unlinks_it_and_spares_the_others(tmp_path: Path) -> None:
    keys = MasterKeyFile(tmp_path / "master.key")
    ada, bob = keys.wrap("ada", b"ada's key"), keys.wrap("bob", b"bob's key")
    assert keys.destroy("ada") is True
    assert not keys.participant_key_path("ada").exists()
    assert keys.destroy("ada") is False
    for provider in (keys, MasterKeyFile(tmp_path / "master.key")):  # the surviving master key, reloaded too
        with pytest.raises(ConfigError, match="participant ada: key destroyed"):
            provider.unwrap("ada", ada)
        assert provider.unwrap("bob", bob) == b"bob's key"


def test_a_participant_key_directory_readable_by_others_is_refused(tmp_path: Path) -> None:
    keys = MasterKeyFile(tmp_path / "master.key")
    keys.wrap("p1", b"x")
    keys.key_dir.chmod(0o755)
    with pytest.raises(ConfigError) as err:
        keys.wrap("p2", b"x")
    assert str(err.value) == f"participant key directory {keys.key_dir}: mode 0755 is looser than 0700 (chmod 700 it)"
    keys.key_dir.chmod(0o700)
    keys.participant_key_path("p1").chmod(0o640)
    with pytest.raises(ConfigError, match=r"participant key file .*/p1\.key: mode 0640 is looser than 0600"):
        keys.unwrap("p1", keys.wrap("p3", b"x"))


def test_a_participant_id_that_is_not_a_safe_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        MasterKeyFile(tmp_path / "master.key").wrap("../master", b"x")
    assert str(err.value) == "participant: expected 1 to 64 letters, digits, '-' or '_', got '../master'"


def _legacy_wrap(master_key_path: Path, plaintext: bytes) -> bytes:
    """Key material as earlier versions wrapped it: under the master key itself, for everyone alike."""
    nonce = os.urandom(12)
    aad = b"workprint participant key wrap v1"
    return b"WK1" + nonce + AESGCM(master_key_path.read_bytes()).encrypt(nonce, plaintext, aad)


def test_keys_wrapped_by_earlier_versions_open_until_a_rotation_rewraps_them(tmp_path: Path) -> None:
    keys = MasterKeyFile(tmp_path / "master.key")
    _ = keys.key_id
    legacy = _legacy_wrap(keys.path, b"old participant key")
    assert not is_scoped(legacy)
    assert keys.unwrap("p1", legacy) == b"old participant key"
    keys.rotate()
    rewrapped = keys.rewrap("p1", legacy)
    keys.retire_old_versions()
    assert is_scoped(rewrapped) and keys.unwrap("p1", rewrapped) == b"old participant key"
    with pytest.raises(ConfigError, match=re.escape("cannot unwrap key material (a different key?)")):
        keys.unwrap("p1", legacy)  # a copy taken before the rotation: its key is destroyed
    keys.destroy("p1")
    with pytest.raises(ConfigError, match="participant p1: key destroyed"):
        keys.unwrap("p1", rewrapped)


def test_a_truncated_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"short")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="expected 32 bytes, got 5"):
        _ = MasterKeyFile(path).key_id
