"""The device's enrolment record: which server it talks to and as whom (``$WORKPRINT_HOME/device.json``, 0600)."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from workprint.errors import ConfigError


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """Written once by ``workprint enroll``; the agent reads it at start."""

    server_url: str
    participant_id: str
    device_id: str
    device_token: str
    public_key: str  # base64 of the participant's X25519 public key
    notice_version: str = "1"

    @property
    def public_key_bytes(self) -> bytes:
        return base64.b64decode(self.public_key)

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600: the token is a secret."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> DeviceRecord:
        """Read the record; a missing or broken file is one clear line."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"device: not enrolled ({path} missing); run `workprint enroll URL CODE`") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"device: cannot read {path} ({exc})") from None
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"device: {path} is malformed ({exc})") from None
