"""The Vault Transit key provider against a real Vault-API server (OpenBao's ``bao server -dev``): one Transit key
per participant, deleted on erasure; wraps of the shared key of earlier versions open until rotation deletes it."""

from __future__ import annotations

import base64

import httpx
import hvac
import pytest

from workprint.errors import ConfigError
from workprint.segment import generate_keypair
from workprint.store.keys import is_scoped
from workprint.store.transit import VaultTransitKeys

TOKEN = "root-test-token"  # the token tests/conftest.py starts the dev server with


def _transit_key(vault_url: str, name: str) -> httpx.Response:
    """Vault's own answer about a Transit key, asked directly rather than through the provider under test."""
    return httpx.get(f"{vault_url}/v1/transit/keys/{name}", headers={"X-Vault-Token": TOKEN})


def test_participant_key_round_trips_through_their_own_transit_key(vault_url: str) -> None:
    keys = VaultTransitKeys(vault_url, TOKEN, "wp-roundtrip")
    private, _ = generate_keypair()
    wrapped = keys.wrap("p1", private)
    assert private not in wrapped and wrapped.startswith(b"WP1:vault:v1:")
    assert keys.unwrap("p1", wrapped) == private
    info = _transit_key(vault_url, "wp-roundtrip-p-p1").json()["data"]
    assert (info["deletion_allowed"], info["exportable"], info["allow_plaintext_backup"]) == (True, False, False)
    assert _transit_key(vault_url, "wp-roundtrip").status_code == 404  # no shared key any more
    keys.wrap("p2", b"x")
    with pytest.raises(ConfigError, match="vault: cannot unwrap key material of participant p2"):
        keys.unwrap("p2", wrapped)  # sealed to p1's key


def test_rotation_rewraps_without_touching_the_secret(vault_url: str) -> None:
    keys = VaultTransitKeys(vault_url, TOKEN, "wp-rotate")
    private, _ = generate_keypair()
    old = keys.wrap("p1", private)
    keys.rotate()
    new = keys.rewrap("p1", old)
    assert new.startswith(b"WP1:vault:v2:")
    assert keys.unwrap("p1", old) == private  # until retired, an interrupted rotation can resume
    keys.retire_old_versions()
    assert keys.unwrap("p1", new) == private
    with pytest.raises(ConfigError, match="vault: cannot unwrap"):
        keys.unwrap("p1", old)


def test_destroying_a_participant_key_deletes_it_from_vault_and_spares_the_others(vault_url: str) -> None:
    keys = VaultTransitKeys(vault_url, TOKEN, "wp-destroy")
    ada, bob = keys.wrap("ada", b"ada's key"), keys.wrap("bob", b"bob's key")
    assert keys.destroy("ada") is True
    assert _transit_key(vault_url, "wp-destroy-p-ada").status_code == 404
    assert keys.destroy("ada") is False
    for provider in (keys, VaultTransitKeys(vault_url, TOKEN, "wp-destroy")):
        with pytest.raises(ConfigError) as err:
            provider.unwrap("ada", ada)
        assert str(err.value) == (
            "vault: cannot unwrap key material of participant ada: Transit key wp-destroy-p-ada is destroyed "
            "(erased) or was never created"
        )
        assert provider.unwrap("bob", bob) == b"bob's key"
    keys.rotate()  # rotation and retirement skip what erasure deleted
    bob = keys.rewrap("bob", bob)
    keys.retire_old_versions()
    assert keys.unwrap("bob", bob) == b"bob's key"


def test_keys_wrapped_by_the_shared_key_of_earlier_versions_open_until_rotation_deletes_it(vault_url: str) -> None:
    client = hvac.Client(url=vault_url, token=TOKEN)
    client.secrets.transit.create_key(name="wp-legacy", key_type="aes256-gcm96")
    resp = client.secrets.transit.encrypt_data(name="wp-legacy", plaintext=base64.b64encode(b"old key").decode())
    legacy = str(resp["data"]["ciphertext"]).encode()
    keys = VaultTransitKeys(vault_url, TOKEN, "wp-legacy")
    assert not is_scoped(legacy) and keys.unwrap("p1", legacy) == b"old key"
    keys.rotate()
    rewrapped = keys.rewrap("p1", legacy)
    keys.retire_old_versions()
    assert rewrapped.startswith(b"WP1:vault:v1:") and keys.unwrap("p1", rewrapped) == b"old key"
    assert _transit_key(vault_url, "wp-legacy").status_code == 404
    with pytest.raises(ConfigError, match="Transit key wp-legacy is destroyed"):
        keys.unwrap("p1", legacy)


def test_a_wrong_token_is_one_clear_line(vault_url: str) -> None:
    with pytest.raises(ConfigError, match=f"vault: token refused by {vault_url}"):
        VaultTransitKeys(vault_url, "not-the-token")


def test_an_unreachable_vault_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match=r"vault: cannot reach http://127\.0\.0\.1:9"):
        VaultTransitKeys("http://127.0.0.1:9", TOKEN)


def test_a_missing_transit_engine_is_one_clear_line(vault_url: str) -> None:
    with pytest.raises(ConfigError, match=f"vault: transit engine at {vault_url}/nope not usable"):
        VaultTransitKeys(vault_url, TOKEN, mount="nope")
