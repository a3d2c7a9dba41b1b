"""Erasure against someone holding a backup (invariant 4): a copy of the whole metadata database and of the blob
store, taken before the erasure, together with the key store that survives it (the same master key file and key
directory, or the same OpenBao), no longer opens anything of the erased participant, while everyone else's copies
still open. On SQLite (a copy of the database files) and PostgreSQL (the rows read before erasure), over the key file
and over OpenBao's Transit engine; participants wrapped the way earlier versions did are covered too.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from server_helpers import FAST_HASHER, sealed, store_sealed
from sqlalchemy import create_engine, text

from workprint.config import ServerSettings
from workprint.errors import ConfigError, Gone, SegmentError
from workprint.segment import open_sealed
from workprint.server.api import ServerAPI, blob_key
from workprint.store.blobs import LocalBlobStore
from workprint.store.keys import KeyProvider, MasterKeyFile, is_scoped
from workprint.store.metadata import MetadataStore
from workprint.store.records import AuditEvent
from workprint.store.transit import VaultTransitKeys

VAULT_TOKEN = "root-test-token"
Provider = Callable[[], KeyProvider]


@pytest.fixture(params=["key-file", "openbao"])
def provider(request: pytest.FixtureRequest, tmp_path: Path) -> Provider:
    """Makes the key provider; called again, a fresh instance over the same key store, as a restore would use."""
    if request.param == "key-file":
        return lambda: MasterKeyFile(tmp_path / "server" / "master.key")
    url: str = request.getfixturevalue("vault_url")
    name = f"wp-{secrets.token_hex(6)}"
    return lambda: VaultTransitKeys(url, VAULT_TOKEN, name)


@pytest.fixture
def api(db_url: str, tmp_path: Path, provider: Provider) -> ServerAPI:
    settings = ServerSettings(home=tmp_path, db_url=db_url)
    store = MetadataStore(db_url)
    return ServerAPI(store, LocalBlobStore(tmp_path / "blobs"), provider(), settings, password_hasher=FAST_HASHER)


def _people(api: ServerAPI, *names: str) -> dict[str, str]:
    """name -> participant id, each with one stored segment."""
    out = {}
    for name in names:
        pid = api.create_participant(name)
        e = api.enroll(api.create_enrolment_code(pid), "laptop")
        sid, data, _ = sealed(pid, e.device_id, e.public_key)
        store_sealed(api, pid, e.device_id, sid, data)
        out[name] = pid
    return out


@dataclass(frozen=True)
class Backup:
    """What a copy taken before the erasure holds."""

    wrapped: dict[str, bytes]  # participant id -> wrapped private key
    segments: dict[str, str]  # participant id -> segment id
    blobs: LocalBlobStore
    db_url: str | None  # the copied SQLite database, to restore a whole service from


def _backup(api: ServerAPI, db_url: str, dest: Path) -> Backup:
    assert isinstance(api.blobs, LocalBlobStore)
    shutil.copytree(api.blobs.root, dest / "blobs")
    if db_url.startswith("sqlite"):
        # A plain file copy of the live database, WAL included, as a naive backup job would take it.
        source = Path(db_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{source}{suffix}").exists():
                shutil.copy2(f"{source}{suffix}", dest / f"metadata.db{suffix}")
        with sqlite3.connect(dest / "metadata.db") as conn:
            people = conn.execute("SELECT id, wrapped_private_key FROM participants").fetchall()
            segments = conn.execute("SELECT participant_id, id FROM segments").fetchall()
        conn.close()
        copy_url: str | None = f"sqlite:///{dest / 'metadata.db'}"
    else:
        engine = create_engine(db_url)
        with engine.connect() as c:
            people = [tuple(r) for r in c.execute(text("SELECT id, wrapped_private_key FROM participants"))]
            segments = [tuple(r) for r in c.execute(text("SELECT participant_id, id FROM segments"))]
        engine.dispose()
        copy_url = None
    return Backup({p: bytes(w) for p, w in people}, dict(segments), LocalBlobStore(dest / "blobs"), copy_url)


def _open_from(backup: Backup, keys: KeyProvider, pid: str) -> str:
    """Open the participant's segment from the backup with ``keys``; returns the participant named in it."""
    blob = backup.blobs.get(blob_key(backup.segments[pid]))
    return open_sealed(blob, keys.unwrap(pid, backup.wrapped[pid])[:32]).header.participant  # the key, then the name


def _held_by_key_store(keys: KeyProvider, pid: str) -> bool:
    """Whether the key store still holds the participant's key, asked of the store itself, not of the provider."""
    if isinstance(keys, MasterKeyFile):
        return keys.participant_key_path(pid).exists()
    assert isinstance(keys, VaultTransitKeys)
    r = httpx.get(f"{keys.url}/v1/transit/keys/{keys.participant_key(pid)}", headers={"X-Vault-Token": VAULT_TOKEN})
    return r.status_code == 200


def test_a_backup_taken_before_erasure_no_longer_opens_the_erased_participant(
    api: ServerAPI, db_url: str, tmp_path: Path, provider: Provider
) -> None:
    people = _people(api, "ada", "bob", "cy")
    ada, bob = people["ada"], people["bob"]
    backup = _backup(api, db_url, tmp_path / "backup")
    for pid in people.values():  # the backup opened everything before the erasure: that is what is at stake
        assert _open_from(backup, api.keys, pid) == pid

    api.erase_participant(ada, actor="steward:test")

    for keys in (api.keys, provider()):  # the running service, and a fresh one over the surviving key store
        with pytest.raises(ConfigError, match=f"participant {ada}"):
            keys.unwrap(ada, backup.wrapped[ada])
        with pytest.raises(ConfigError):
            _open_from(backup, keys, ada)
        for pid in (bob, people["cy"]):
            assert _open_from(backup, keys, pid) == pid
            with pytest.raises(SegmentError):  # no surviving participant key opens the erased one's segment
                other = keys.unwrap(pid, backup.wrapped[pid])[:32]
                open_sealed(backup.blobs.get(blob_key(backup.segments[ada])), other)
    assert not _held_by_key_store(api.keys, ada)
    assert _held_by_key_store(api.keys, bob)
    destroyed = [e for e in api.metadata.audit_entries() if e.subject == f"participant:{ada}"][-2:]
    assert [(e.actor, e.action) for e in destroyed] == [
        ("steward:test", "participant.key_destroy"),
        ("steward:test", "participant.erase"),
    ]
    assert destroyed[0].detail == {"key_id": api.keys.key_id}
    with pytest.raises(Gone):
        api.read_segment("steward:test", backup.segments[ada])
    if backup.db_url is not None:  # restore the whole copy as a service: the erased participant stays unreadable
        restored = ServerAPI(MetadataStore(backup.db_url), backup.blobs, provider(), api.settings)
        assert restored.participant(ada).wrapped_private_key == backup.wrapped[ada]  # the copy predates erasure
        with pytest.raises(ConfigError, match=f"participant {ada}"):
            restored.read_segment("steward:test", backup.segments[ada])
        assert restored.read_segment("steward:test", backup.segments[bob]).header.participant == bob
        restored.metadata.close()
    api.metadata.close()


def _wrap_the_old_way(api: ServerAPI, pid: str) -> None:
    """Rewrite a participant's wrapped key as earlier versions stored it: under the one shared key."""
    keys = api.keys
    wrapped = api.participant(pid).wrapped_private_key
    assert wrapped is not None
    private = keys.unwrap(pid, wrapped)
    if isinstance(keys, MasterKeyFile):
        nonce = os.urandom(12)
        aad = b"workprint participant key wrap v1"
        legacy = b"WK1" + nonce + AESGCM(keys.path.read_bytes()).encrypt(nonce, private, aad)
    else:
        assert isinstance(keys, VaultTransitKeys)
        headers = {"X-Vault-Token": VAULT_TOKEN}
        r = httpx.post(f"{keys.url}/v1/transit/keys/{keys.key_name}", headers=headers, json={"type": "aes256-gcm96"})
        assert r.status_code in (200, 204), r.text
        body = {"plaintext": base64.b64encode(private).decode()}
        r = httpx.post(f"{keys.url}/v1/transit/encrypt/{keys.key_name}", headers=headers, json=body)
        legacy = r.json()["data"]["ciphertext"].encode()
    keys.destroy(pid)  # earlier versions had no per-participant key
    api.metadata.rewrap_keys({pid: (legacy, keys.key_id)}, api.now(), AuditEvent("system:test", "test.legacy", pid))


def test_erasing_a_participant_wrapped_the_old_way_retires_the_shared_key(
    api: ServerAPI, db_url: str, tmp_path: Path, provider: Provider
) -> None:
    people = _people(api, "ada", "bob", "cy")
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    _wrap_the_old_way(api, ada)
    _wrap_the_old_way(api, bob)
    for pid in people.values():  # existing data stays readable
        assert api.read_segment("steward:test", _segment_of(api, pid)).header.participant == pid
    backup = _backup(api, db_url, tmp_path / "backup")
    assert not is_scoped(backup.wrapped[ada]) and _open_from(backup, provider(), ada) == ada

    api.erase_participant(ada, actor="steward:test")

    for keys in (api.keys, provider()):
        with pytest.raises(ConfigError):
            _open_from(backup, keys, ada)
    for pid in (bob, cy):  # everyone else re-wrapped under their own key, and readable
        wrapped = api.participant(pid).wrapped_private_key
        assert wrapped is not None and is_scoped(wrapped)
        assert api.read_segment("steward:test", backup.segments[pid]).header.participant == pid
    actions = [e.action for e in api.metadata.audit_entries()]
    assert actions[-5:-2] == ["keys.rotate", "participant.key_destroy", "participant.erase"]
    api.metadata.close()


def _segment_of(api: ServerAPI, pid: str) -> str:
    (rec,) = api.metadata.segments(pid)
    return rec.id


class _DestroyFails:
    """Our own key-provider boundary, failing at the moment of destruction (the key service down, say)."""

    def __init__(self, keys: KeyProvider) -> None:
        self.inner = keys

    @property
    def key_id(self) -> str:
        return self.inner.key_id

    def wrap(self, participant: str, plaintext: bytes) -> bytes:
        return self.inner.wrap(participant, plaintext)

    def unwrap(self, participant: str, wrapped: bytes) -> bytes:
        return self.inner.unwrap(participant, wrapped)

    def destroy(self, participant: str) -> bool:
        raise ConfigError(f"key service: cannot destroy the key of participant {participant}")


def test_when_the_key_cannot_be_destroyed_nothing_is_erased_and_a_retry_completes(api: ServerAPI) -> None:
    ada = _people(api, "ada")["ada"]
    real = api.keys
    failing = ServerAPI(api.metadata, api.blobs, _DestroyFails(real), api.settings)
    with pytest.raises(ConfigError, match=f"cannot destroy the key of participant {ada}"):
        failing.erase_participant(ada, actor="steward:test")
    assert not api.participant(ada).erased and api.participant_name(ada, actor="t") == "ada"  # rolled back
    assert api.read_segment("steward:test", _segment_of(api, ada)).header.participant == ada
    assert api.erase_participant(ada, actor="steward:test") == 1
    assert api.participant(ada).erased and not _held_by_key_store(real, ada)
    api.metadata.close()
