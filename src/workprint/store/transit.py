"""A key provider backed by HashiCorp Vault's Transit engine (or OpenBao's, which speaks the same API).

The key-encryption key never leaves Vault: ``wrap`` and ``unwrap`` send the participant key material to Transit's
encrypt/decrypt endpoints over an authenticated connection. Rotating the Transit key and re-wrapping the stored
participant keys (``rewrap``) changes nothing in the blob store, whose segments are sealed to the participants'
own keys.
"""

from __future__ import annotations

import base64

import hvac
from hvac.exceptions import Forbidden as HvacForbidden
from hvac.exceptions import InvalidPath, InvalidRequest, Unauthorized, VaultError
from requests.exceptions import RequestException

from workprint.errors import ConfigError


class VaultTransitKeys:
    """``KeyProvider`` over Vault Transit: ``url`` of the server, a ``token``, the Transit ``key_name``."""

    def __init__(self, url: str, token: str, key_name: str = "workprint", *, mount: str = "transit") -> None:
        self.url = url
        self.key_name = key_name
        self.mount = mount
        self._client = hvac.Client(url=url, token=token, timeout=10)
        try:
            if not self._client.is_authenticated():
                raise ConfigError(f"vault: token refused by {url}")
            self._client.secrets.transit.create_key(name=key_name, key_type="aes256-gcm96", mount_point=mount)
        except (Unauthorized, HvacForbidden):
            raise ConfigError(f"vault: token refused by {url}") from None
        except RequestException as exc:
            raise ConfigError(f"vault: cannot reach {url} ({type(exc).__name__})") from None
        except (InvalidPath, InvalidRequest, VaultError) as exc:
            raise ConfigError(f"vault: transit engine at {url}/{mount} not usable ({exc})") from None

    @property
    def key_id(self) -> str:
        return f"vault-transit:{self.mount}/{self.key_name}"

    def wrap(self, plaintext: bytes) -> bytes:
        """Encrypt key material under the Transit key; returns Vault's ``vault:vN:…`` ciphertext as bytes."""
        resp = self._client.secrets.transit.encrypt_data(
            name=self.key_name, plaintext=base64.b64encode(plaintext).decode(), mount_point=self.mount
        )
        return str(resp["data"]["ciphertext"]).encode()

    def unwrap(self, wrapped: bytes) -> bytes:
        """Decrypt key material wrapped by ``wrap`` (any key version still allowed by Vault)."""
        try:
            resp = self._client.secrets.transit.decrypt_data(
                name=self.key_name, ciphertext=wrapped.decode(), mount_point=self.mount
            )
        except (InvalidRequest, VaultError) as exc:
            raise ConfigError(f"vault: cannot unwrap key material ({exc})") from None
        return base64.b64decode(resp["data"]["plaintext"])

    def rotate(self) -> None:
        """Start a new version of the Transit key; older versions still decrypt until ``min_decryption_version``."""
        self._client.secrets.transit.rotate_key(name=self.key_name, mount_point=self.mount)

    def rewrap(self, wrapped: bytes) -> bytes:
        """Re-encrypt wrapped key material under the newest key version without exposing it."""
        resp = self._client.secrets.transit.rewrap_data(
            name=self.key_name, ciphertext=wrapped.decode(), mount_point=self.mount
        )
        return str(resp["data"]["ciphertext"]).encode()

    def retire_versions_before(self, version: int) -> None:
        """Refuse to decrypt anything wrapped under a key version older than ``version``."""
        self._client.secrets.transit.update_key_configuration(
            name=self.key_name, min_decryption_version=version, mount_point=self.mount
        )

    def retire_old_versions(self) -> None:
        """Refuse to decrypt anything not wrapped under the newest key version (after every key is re-wrapped)."""
        info = self._client.secrets.transit.read_key(name=self.key_name, mount_point=self.mount)
        self.retire_versions_before(int(info["data"]["latest_version"]))
