"""A checkpoint ``Signer`` whose Ed25519 key lives in Vault's (or OpenBao's) Transit engine and never leaves it.

With it, access to the metadata database and to the server's disk is not enough to re-sign a rewritten history:
signing needs the Vault token, and Vault audits every use of it. The key is created non-exportable, without
plaintext backup and not deletable, on first use; its public half (the newest version's) verifies checkpoints.
The token needs create/read on ``<mount>/keys/<name>`` and update on ``<mount>/sign/<name>``.
"""

from __future__ import annotations

import base64
import binascii

import hvac
from hvac.exceptions import InvalidPath, VaultError
from nacl.signing import VerifyKey
from requests.exceptions import RequestException

from workprint.errors import AuditUnavailable, ConfigError

__all__ = ["TransitSigner"]


class TransitSigner:
    """``Signer`` over Transit key ``name`` at ``url`` (mount ``mount``)."""

    def __init__(self, url: str, token: str, name: str = "workprint-audit", *, mount: str = "transit") -> None:
        self.url, self.name, self.mount = url, name, mount
        self._client = hvac.Client(url=url, token=token, timeout=10)
        transit = self._client.secrets.transit
        try:
            try:
                info = transit.read_key(name=name, mount_point=mount)
            except InvalidPath:
                transit.create_key(
                    name=name, key_type="ed25519", exportable=False, allow_plaintext_backup=False, mount_point=mount
                )
                info = transit.read_key(name=name, mount_point=mount)
        except RequestException as exc:
            raise ConfigError(f"vault: cannot reach {url} for the audit signing key ({type(exc).__name__})") from None
        except VaultError as exc:
            raise ConfigError(f"vault: audit signing key {mount}/{name}: {exc}") from None
        data = info["data"]
        if data.get("type") != "ed25519":
            raise ConfigError(f"vault: audit signing key {mount}/{name}: type {data.get('type')!r}, expected ed25519")
        loose = [k for k in ("exportable", "allow_plaintext_backup", "deletion_allowed") if data.get(k)]
        if loose:  # made by someone else, or loosened since: its private half could leave Vault or be swapped
            raise ConfigError(f"vault: audit signing key {mount}/{name}: {', '.join(loose)} must be false")
        self.version = int(data["latest_version"])
        try:
            self._verify_key = VerifyKey(base64.b64decode(data["keys"][str(self.version)]["public_key"]))
        except (KeyError, TypeError, binascii.Error, ValueError):
            raise ConfigError(f"vault: audit signing key {mount}/{name}: no public key in Vault's answer") from None

    @property
    def verify_key(self) -> VerifyKey:
        return self._verify_key

    def sign(self, message: bytes) -> bytes:
        """Sign with the key version whose public half this signer reports; ``AuditUnavailable`` when Vault fails."""
        try:
            resp = self._client.secrets.transit.sign_data(
                name=self.name,
                hash_input=base64.b64encode(message).decode(),
                key_version=self.version,
                mount_point=self.mount,
            )
            sig = str(resp["data"]["signature"]).split(":", 2)[2]
            return base64.b64decode(sig)
        except (RequestException, VaultError, KeyError, IndexError, binascii.Error) as exc:
            raise AuditUnavailable(
                f"audit log: Vault at {self.url} did not sign a checkpoint ({type(exc).__name__}); request refused"
            ) from None
