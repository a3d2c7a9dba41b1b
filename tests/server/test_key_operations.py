"""Key operations: the provider chosen from settings, rotation without touching blobs (audited), and crypto-shredding
over Vault Transit: after erasure no copy of the participant's segments decrypts; others are unaffected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from server_helpers import FAST_HASHER, sealed, store_sealed

from workprint.config import ServerSettings
from workprint.errors import ConfigError, Gone, SegmentError
from workprint.segment import open_sealed
from workprint.server.api import ServerAPI, split_secret
from workprint.server.serve import key_provider
from workprint.store.blobs import LocalBlobStore
from workprint.store.keys import KeyProvider, MasterKeyFile
from workprint.store.metadata import MetadataStore
from workprint.store.transit import VaultTransitKeys

VAULT_TOKEN = "root-test-token"


def _api(db_url: str, tmp_path: Path, keys: KeyProvider) -> ServerAPI:
    settings = ServerSettings(home=tmp_path, db_url=db_url)
    return ServerAPI(
        MetadataStore(db_url), LocalBlobStore(tmp_path / "blobs"), keys, settings, password_hasher=FAST_HASHER
    )


def _two_participants(api: ServerAPI) -> dict[str, str]:
    """participant id -> segment id, one stored segment each."""
    out = {}
    for name in ("ada", "bob"):
        pid = api.create_participant(name)
        e = api.enroll(api.create_enrolment_code(pid), "laptop")
        sid, data, _ = sealed(pid, e.device_id, e.public_key)
        store_sealed(api, pid, e.device_id, sid, data)
        out[pid] = sid
    return out


def test_the_key_provider_comes_from_settings(tmp_path: Path, vault_url: str) -> None:
    settings = ServerSettings(home=tmp_path)
    assert isinstance(key_provider(settings, {}), MasterKeyFile)
    env = {"WORKPRINT_VAULT_ADDR": vault_url, "WORKPRINT_VAULT_TOKEN": VAULT_TOKEN, "WORKPRINT_VAULT_KEY": "sel"}
    keys = key_provider(settings, env)
    assert isinstance(keys, VaultTransitKeys) and keys.key_id == "vault-transit:transit/sel"
    with pytest.raises(ConfigError, match="WORKPRINT_VAULT_TOKEN: must be set together with the other Vault setting"):
        key_provider(settings, {"WORKPRINT_VAULT_ADDR": vault_url})


def test_rotating_the_master_key_rewraps_every_key_and_destroys_the_old_one(db_url: str, tmp_path: Path) -> None:
    keys = MasterKeyFile(tmp_path / "master.key")
    api = _api(db_url, tmp_path, keys)
    segs = _two_participants(api)
    blobs_before = {k: api.blobs.get(k) for k in sorted(api.blobs.keys())}
    old_file = (tmp_path / "master.key").read_bytes()
    old_id = keys.key_id
    assert api.rotate_keys(actor="system:test") == 2
    assert keys.key_id != old_id and (tmp_path / "master.key").read_bytes() != old_file
    assert not (tmp_path / "master.key.next").exists()
    assert {k: api.blobs.get(k) for k in sorted(api.blobs.keys())} == blobs_before  # no blob re-encrypted
    for pid, sid in segs.items():
        assert api.participant(pid).key_id == keys.key_id
        assert api.read_segment("system:test", sid).header.participant == pid
    old = MasterKeyFile(tmp_path / "old.key")  # the destroyed master key, with the participant keys beside it
    old.path.write_bytes(old_file)
    old.path.chmod(0o600)
    shutil.copytree(keys.key_dir, old.key_dir)
    pid = next(iter(segs))
    with pytest.raises(ConfigError, match="cannot unwrap"):
        old.unwrap(pid, api.participant(pid).wrapped_private_key or b"")
    last = api.metadata.audit_entries()[-3]
    assert (last.action, last.detail["participants"]) == ("keys.rotate", 2)
    api.metadata.close()


def test_crypto_shredding_over_vault_leaves_no_readable_copy(db_url: str, tmp_path: Path, vault_url: str) -> None:
    keys = VaultTransitKeys(vault_url, VAULT_TOKEN, f"shred-{tmp_path.name[-12:]}")
    api = _api(db_url, tmp_path, keys)
    segs = _two_participants(api)
    (ada, ada_sid), (bob, bob_sid) = segs.items()
    backup = tmp_path / "backup"
    shutil.copytree(tmp_path / "blobs", backup)
    assert api.rotate_keys(actor="system:test") == 2  # rotation first: erasure must hold across key versions
    api.erase_participant(ada, actor="system:test")
    with pytest.raises(Gone, match="was erased and their key destroyed"):
        api.read_segment("system:test", ada_sid)
    restored = ServerAPI(api.metadata, LocalBlobStore(backup), keys, api.settings)
    with pytest.raises(Gone):
        restored.read_segment("system:test", ada_sid)
    assert restored.read_segment("system:test", bob_sid).header.participant == bob
    sealed_copy = LocalBlobStore(backup).get(f"segments/{ada_sid[:2]}/{ada_sid}")
    wrong, _ = split_secret(keys.unwrap(bob, api.participant(bob).wrapped_private_key or b""))
    with pytest.raises(SegmentError):
        open_sealed(sealed_copy, wrong)  # another participant's key does not open it
    api.metadata.close()
