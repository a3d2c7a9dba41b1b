"""A key provider backed by HashiCorp Vault's Transit engine (or OpenBao's, which speaks the same API).

Each participant has their own Transit key, ``<key_name>-p-<participant id>`` (``workprint-p-…`` by default),
created with ``deletion_allowed`` on first use; their X25519 private key is stored in the metadata database only
wrapped by it. The key-encryption keys never leave Vault: ``wrap`` and ``unwrap`` send the participant key material
to Transit's encrypt/decrypt endpoints over an authenticated connection, and Transit keys are created neither
exportable nor with plaintext backup. Erasure deletes the participant's Transit key (``destroy``), so every copy of
their wrapped key, a database backup included, stops unwrapping. Vault's own storage snapshots hold the key until
they expire: keep their retention shorter than the erasure deadline.

Rotating the Transit keys and re-wrapping the stored participant keys (``rewrap``) changes nothing in the blob
store, whose segments are sealed to the participants' own X25519 keys. Participant keys wrapped by earlier versions
under the one shared Transit key ``<key_name>`` still unwrap; rotation re-wraps them per participant and then
deletes the shared key.

The token needs create/update/read/delete on ``<mount>/keys/<key_name>*``, list on ``<mount>/keys``, and update on
``<mount>/encrypt/…``, ``<mount>/decrypt/…`` and ``<mount>/rewrap/…`` for the same names.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

import hvac
from hvac.exceptions import Forbidden as HvacForbidden
from hvac.exceptions import InvalidPath, InvalidRequest, Unauthorized, VaultError
from requests.exceptions import RequestException

from workprint.errors import ConfigError
from workprint.store.keys import SCOPED_MAGIC, check_participant, is_scoped

__all__ = ["VaultTransitKeys"]

_SCOPED = SCOPED_MAGIC + b":"


class VaultTransitKeys:
    """``KeyProvider`` over Vault Transit: ``url`` of the server, a ``token``, the Transit ``key_name`` prefix."""

    def __init__(self, url: str, token: str, key_name: str = "workprint", *, mount: str = "transit") -> None:
        self.url = url
        self.key_name = key_name
        self.mount = mount
        self._client = hvac.Client(url=url, token=token, timeout=10)
        try:
            if not self._client.is_authenticated():
                raise ConfigError(f"vault: token refused by {url}")
            self._list_keys()
        except (Unauthorized, HvacForbidden):
            raise ConfigError(f"vault: token refused by {url}") from None
        except RequestException as exc:
            raise ConfigError(f"vault: cannot reach {url} ({type(exc).__name__})") from None
        except (InvalidPath, InvalidRequest, VaultError) as exc:
            raise ConfigError(f"vault: transit engine at {url}/{mount} not usable ({exc})") from None

    @property
    def key_id(self) -> str:
        return f"vault-transit:{self.mount}/{self.key_name}"

    def participant_key(self, participant: str) -> str:
        """The name of ``participant``'s Transit key."""
        return f"{self.key_name}-p-{check_participant(participant)}"

    def _list_keys(self) -> list[str]:
        try:
            resp = self._client.secrets.transit.list_keys(mount_point=self.mount)
        except InvalidPath as exc:
            if exc.errors:  # "no handler for route": no Transit engine there
                raise
            return []  # Vault answers an empty list with 404 and no errors
        return [str(k) for k in resp["data"]["keys"]]

    def _participant_keys(self) -> list[str]:
        prefix = f"{self.key_name}-p-"
        return [k for k in self._list_keys() if k.startswith(prefix)]

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        try:
            yield
        except RequestException as exc:
            raise ConfigError(f"vault: cannot reach {self.url} to {what} ({type(exc).__name__})") from None
        except VaultError as exc:
            raise ConfigError(f"vault: cannot {what} ({exc})") from None

    def wrap(self, participant: str, plaintext: bytes) -> bytes:
        """Encrypt key material under the participant's Transit key (created, deletable, on first use)."""
        name = self.participant_key(participant)
        transit = self._client.secrets.transit
        with self._calling(f"wrap key material of participant {participant}"):
            created = transit.create_key(name=name, key_type="aes256-gcm96", mount_point=self.mount)
            if not created["data"]["deletion_allowed"]:
                transit.update_key_configuration(name=name, deletion_allowed=True, mount_point=self.mount)
            resp = transit.encrypt_data(
                name=name, plaintext=base64.b64encode(plaintext).decode(), mount_point=self.mount
            )
        return _SCOPED + str(resp["data"]["ciphertext"]).encode()

    def unwrap(self, participant: str, wrapped: bytes) -> bytes:
        """Decrypt key material wrapped by ``wrap`` (any key version still allowed by Vault), or by the shared key."""
        if is_scoped(wrapped):
            name, ciphertext = self.participant_key(participant), wrapped[len(_SCOPED) :]
        else:
            name, ciphertext = self.key_name, wrapped
        try:
            resp = self._client.secrets.transit.decrypt_data(
                name=name, ciphertext=ciphertext.decode(), mount_point=self.mount
            )
        except InvalidRequest as exc:
            if "key not found" in str(exc):
                raise ConfigError(
                    f"vault: cannot unwrap key material of participant {participant}: Transit key {name} is "
                    "destroyed (erased) or was never created"
                ) from None
            raise ConfigError(f"vault: cannot unwrap key material of participant {participant} ({exc})") from None
        except (VaultError, UnicodeDecodeError) as exc:
            raise ConfigError(f"vault: cannot unwrap key material of participant {participant} ({exc})") from None
        return base64.b64decode(resp["data"]["plaintext"])

    def destroy(self, participant: str) -> bool:
        """Delete the participant's Transit key, every version; False when Vault holds no such key."""
        name = self.participant_key(participant)
        return self._delete(name)

    def _delete(self, name: str) -> bool:
        transit = self._client.secrets.transit
        with self._calling(f"destroy Transit key {name}"):
            try:
                transit.update_key_configuration(name=name, deletion_allowed=True, mount_point=self.mount)
            except InvalidRequest as exc:
                if "no existing key" in str(exc):
                    return False
                raise
            transit.delete_key(name=name, mount_point=self.mount)
        return True

    def rotate(self) -> None:
        """Start a new version of every participant's Transit key; older versions decrypt until retired."""
        with self._calling("rotate Transit keys"):
            for name in self._participant_keys():
                try:
                    self._client.secrets.transit.rotate_key(name=name, mount_point=self.mount)
                except InvalidRequest:  # deleted meanwhile (an erasure): nothing to rotate
                    continue

    def rewrap(self, participant: str, wrapped: bytes) -> bytes:
        """Re-encrypt wrapped key material under the newest version of the participant's key.

        Inside Vault when it is already under that key; material wrapped by the shared key of earlier versions is
        unwrapped and wrapped again under the participant's own key (once, on the first rotation).
        """
        if not is_scoped(wrapped):
            return self.wrap(participant, self.unwrap(participant, wrapped))
        name = self.participant_key(participant)
        with self._calling(f"re-wrap key material of participant {participant}"):
            resp = self._client.secrets.transit.rewrap_data(
                name=name, ciphertext=wrapped[len(_SCOPED) :].decode(), mount_point=self.mount
            )
        return _SCOPED + str(resp["data"]["ciphertext"]).encode()

    def retire_versions_before(self, name: str, version: int) -> None:
        """Refuse to decrypt anything wrapped under a version of Transit key ``name`` older than ``version``."""
        with self._calling(f"retire versions of Transit key {name}"):
            self._client.secrets.transit.update_key_configuration(
                name=name, min_decryption_version=version, mount_point=self.mount
            )

    def retire_old_versions(self) -> None:
        """Refuse to decrypt anything not wrapped under the newest version of each participant's key, and delete the
        shared key of earlier versions (call after every participant key is re-wrapped)."""
        transit = self._client.secrets.transit
        with self._calling("retire old Transit key versions"):
            for name in self._participant_keys():
                try:
                    info = transit.read_key(name=name, mount_point=self.mount)["data"]
                except InvalidPath:  # deleted meanwhile (an erasure)
                    continue
                latest = int(info["latest_version"])
                if int(info["min_decryption_version"]) < latest:
                    self.retire_versions_before(name, latest)
            if self.key_name in self._list_keys():
                self._delete(self.key_name)
