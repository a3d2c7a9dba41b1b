"""The Vault Transit key provider against a real Vault-API server (OpenBao's ``bao server -dev``)."""

from __future__ import annotations

import pytest

from workprint.errors import ConfigError
from workprint.segment import generate_keypair
from workprint.store.transit import VaultTransitKeys

TOKEN = "root-test-token"  # the token tests/conftest.py starts the dev server with


def test_participant_key_round_trips_through_transit(vault_url: str) -> None:
    keys = VaultTransitKeys(vault_url, TOKEN, "wp-roundtrip")
    private, _ = generate_keypair()
    wrapped = keys.wrap(private)
    assert private not in wrapped and wrapped.startswith(b"vault:v1:")
    assert keys.unwrap(wrapped) == private


def test_rotation_rewraps_without_touching_the_secret(vault_url: str) -> None:
    keys = VaultTransitKeys(vault_url, TOKEN, "wp-rotate")
    private, _ = generate_keypair()
    old = keys.wrap(private)
    keys.rotate()
    new = keys.rewrap(old)
    assert new.startswith(b"vault:v2:")
    keys.retire_versions_before(2)
    assert keys.unwrap(new) == private
    with pytest.raises(ConfigError, match="vault: cannot unwrap"):
        keys.unwrap(old)


def test_a_wrong_token_is_one_clear_line(vault_url: str) -> None:
    with pytest.raises(ConfigError, match=f"vault: token refused by {vault_url}"):
        VaultTransitKeys(vault_url, "not-the-token")


def test_an_unreachable_vault_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match=r"vault: cannot reach http://127\.0\.0\.1:9"):
        VaultTransitKeys("http://127.0.0.1:9", TOKEN)
