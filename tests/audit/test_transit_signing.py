"""Checkpoints signed by a Transit key in a real OpenBao: the key never reaches the server's disk or database, an
insider who rewrites the log cannot re-sign it, and a Vault that stops signing refuses the request (nothing kept)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey
from sqlalchemy import text

from workprint.audit.checkpoint import signature_ok
from workprint.audit.log import AuditLog
from workprint.audit.transit_signer import TransitSigner
from workprint.audit.witness import Witnessed, advance
from workprint.config import ServerSettings
from workprint.errors import AuditMismatch, AuditUnavailable, ConfigError
from workprint.server.serve import audit_signer, build_api
from workprint.store import tables
from workprint.store.records import AuditEvent

VAULT_TOKEN = "root-test-token"


def _env(url: str) -> dict[str, str]:
    return {"WORKPRINT_VAULT_ADDR": url, "WORKPRINT_VAULT_TOKEN": VAULT_TOKEN}


def test_the_server_signs_every_checkpoint_in_vault(vault_url: str, db_url: str, tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path, db_url=db_url, audit_signer="vault", vault_audit_key="wp-audit-a")
    api = build_api(settings, _env(vault_url))
    try:
        api.audit_log.append(AuditEvent("user:1", "segment.read", "segment:" + "a" * 64))
        cp = api.audit_log.latest()
        key = api.audit_log.verify_key
        assert cp is not None and cp.size == 1 and signature_ok(cp, key)
        assert not (tmp_path / "server" / "audit-signing.key").exists()  # no signing secret beside the database
        # The public half is Vault's: read back independently from the Transit API.
        r = httpx.get(f"{vault_url}/v1/transit/keys/wp-audit-a", headers={"X-Vault-Token": VAULT_TOKEN})
        import base64

        assert base64.b64decode(r.json()["data"]["keys"]["1"]["public_key"]) == bytes(key)
        assert r.json()["data"]["exportable"] is False
        assert api.audit_log.verify().ok
    finally:
        api.metadata.close()


def test_an_insider_with_the_database_and_disk_cannot_re_sign(vault_url: str, db_url: str, tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path, db_url=db_url, audit_signer="vault", vault_audit_key="wp-audit-b")
    api = build_api(settings, _env(vault_url))
    try:
        for i in range(5):
            api.audit_log.append(AuditEvent("user:1", "segment.read", f"segment:{i:064x}"))
        cp, _ = api.audit_log.head()
        held = Witnessed(bytes(api.audit_log.verify_key).hex(), (cp,))
        store = api.metadata
        victim = api.audit_log.entries()[2].seq
        with store.engine.begin() as conn:  # rewrite entry 2 and sign the new history with a key of one's own
            for table in tables.APPEND_ONLY_TABLES:
                for statement in tables.drop_append_only_statements(store.backend, table):
                    conn.exec_driver_sql(statement)
            conn.execute(text("UPDATE audit_log SET actor = 'user:99' WHERE seq = :s"), {"s": victim})
            conn.execute(text("DELETE FROM audit_checkpoints"))
        forged = AuditLog(store, SigningKey.generate())
        new = forged.checkpoint()
        assert new is not None
        with pytest.raises(AuditMismatch, match="now signs with key"):
            advance(held, bytes(forged.verify_key).hex(), new, [])
        assert not signature_ok(new, api.audit_log.verify_key)
        # Nor can the server be pointed at a key file of the insider's: the database pins Vault's public key.
        with pytest.raises(ConfigError, match="audit"):
            build_api(ServerSettings(home=tmp_path, db_url=db_url))
    finally:
        api.metadata.close()


def test_a_vault_that_stops_signing_refuses_the_request_and_keeps_nothing(
    vault_url: str, db_url: str, tmp_path: Path
) -> None:
    settings = ServerSettings(home=tmp_path, db_url=db_url, audit_signer="vault", vault_audit_key="wp-audit-c")
    api = build_api(settings, _env(vault_url))
    try:
        api.audit_log.append(AuditEvent("user:1", "login.success", "user:1"))
        signer = api.audit_log.signer
        assert isinstance(signer, TransitSigner)
        signer._client.token = "revoked-token"  # as if the token were revoked
        with pytest.raises(AuditUnavailable, match="did not sign a checkpoint"):
            api.audit_log.append(AuditEvent("user:1", "segment.read", "segment:" + "b" * 64))
        assert len(api.audit_log.entries()) == 1  # the entry rolled back with its unsigned checkpoint
    finally:
        api.metadata.close()


def test_vault_signing_settings_are_checked(vault_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKPRINT_AUDIT_SIGNER: 'vault' needs WORKPRINT_VAULT_ADDR"):
        audit_signer(ServerSettings(home=tmp_path, audit_signer="vault"), {})
    httpx.post(
        f"{vault_url}/v1/transit/keys/wp-not-ed25519",
        json={"type": "aes256-gcm96"},
        headers={"X-Vault-Token": VAULT_TOKEN},
    )
    with pytest.raises(ConfigError, match="type 'aes256-gcm96', expected ed25519"):
        TransitSigner(vault_url, VAULT_TOKEN, "wp-not-ed25519")
    with pytest.raises(ConfigError, match="vault: audit signing key"):
        TransitSigner(vault_url, "wrong-token", "wp-audit-d")
    httpx.post(
        f"{vault_url}/v1/transit/keys/wp-exportable",
        json={"type": "ed25519", "exportable": True},
        headers={"X-Vault-Token": VAULT_TOKEN},
    )
    with pytest.raises(ConfigError, match="exportable must be false"):
        TransitSigner(vault_url, VAULT_TOKEN, "wp-exportable")
