"""The master key file: created private, refused when loose, wraps with authenticated encryption."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workprint.errors import ConfigError
from workprint.segment import generate_keypair
from workprint.store.keys import MasterKeyFile


def test_the_key_file_is_created_mode_0600_on_first_use_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "master.key"
    old = os.umask(0)
    try:
        keys = MasterKeyFile(path)
        assert not path.exists()
        private, _ = generate_keypair()
        wrapped = keys.wrap(private)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.stat().st_size == 32
    assert private not in wrapped
    assert MasterKeyFile(path).unwrap(wrapped) == private
    assert MasterKeyFile(path).key_id == keys.key_id and keys.key_id.startswith("master-key-file:")


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    MasterKeyFile(path).wrap(b"x")
    path.chmod(0o644)
    with pytest.raises(ConfigError) as err:
        MasterKeyFile(path).wrap(b"x")
    assert str(err.value) == f"master key file {path}: mode 0644 is looser than 0600 (chmod 600 it)"


def test_another_master_key_cannot_unwrap_and_says_so(tmp_path: Path) -> None:
    wrapped = MasterKeyFile(tmp_path / "a.key").wrap(b"secret key material")
    other = MasterKeyFile(tmp_path / "b.key")
    with pytest.raises(ConfigError, match="cannot unwrap key material"):
        other.unwrap(wrapped)
    with pytest.raises(ConfigError, match="wrapped key material is malformed"):
        other.unwrap(b"junk")


def test_a_truncated_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"short")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="expected 32 bytes, got 5"):
        _ = MasterKeyFile(path).key_id
