"""The participant's privacy state on the device: ``$WORKPRINT_HOME/privacy.json``.

One small JSON file holds the program (with its notice), the consent receipts, the pause state and the personal
exclusion rules. Every change is a read-modify-write under an exclusive ``flock`` and lands with an atomic
``os.replace``, so the CLI, the indicator and the agent never see half a file. Receipts are signed with a device key
(``consent_key``, mode 0600) until the server countersigns them; loading verifies each one, so a receipt edited by
hand makes the state unreadable (fail closed) instead of granting anything.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nacl.signing

from workprint.errors import ConfigError, ConsentError
from workprint.models import Scope
from workprint.privacy.consent import ConsentLedger, ledger_from_dicts
from workprint.privacy.exclusions import ExclusionRules, rule_from_dict
from workprint.privacy.notices import DEFAULT_PROGRAM, Program
from workprint.privacy.pause import PauseState, pause_for
from workprint.privacy.receipts import ConsentReceipt, make_receipt, sign_receipt

STATE_FILE = "privacy.json"
KEY_FILE = "consent_key"
SERVER_KEY_FILE = "consent_server_key"  # the server's consent key (base64), trusted at its first countersignature
STATE_VERSION = 1


def state_path(home: Path) -> Path:
    """Where the privacy state lives under the agent home."""
    return home / STATE_FILE


@dataclass(frozen=True, slots=True)
class DeviceState:
    """Everything the device decides recording by. Pure: changes return a new state."""

    program: Program = DEFAULT_PROGRAM
    receipts: tuple[ConsentReceipt, ...] = ()
    pause: PauseState = field(default_factory=PauseState)
    personal_exclusions: tuple[dict[str, Any], ...] = ()

    @property
    def ledger(self) -> ConsentLedger:
        return ConsentLedger.of(self.receipts)

    @property
    def notice_version(self) -> str:
        return self.program.notice.version

    def consented(self, now_wall_ns: int) -> frozenset[Scope]:
        """Scopes with active consent now under the current notice."""
        return self.ledger.active_scopes(now_wall_ns, self.notice_version)

    def exclusion_rules(self) -> ExclusionRules:
        """Defaults + the program's organisation rules + personal rules."""
        return ExclusionRules.build(self.program.exclusions, self.personal_exclusions)

    def with_receipt(self, receipt: ConsentReceipt) -> DeviceState:
        return replace(self, receipts=(*self.receipts, receipt))

    def paused_for(self, now_wall_ns: int, seconds: int | None) -> DeviceState:
        return replace(self, pause=pause_for(now_wall_ns, seconds))

    def resumed(self) -> DeviceState:
        return replace(self, pause=PauseState())

    def with_exclusion(self, rule: dict[str, Any]) -> DeviceState:
        """Add a personal rule; a broken one raises ``ConfigError`` and this state is unchanged."""
        rule_from_dict(rule, "personal")
        return replace(self, personal_exclusions=(*self.personal_exclusions, dict(rule)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "program": self.program.to_dict(),
            "receipts": [r.to_dict() for r in self.receipts],
            "pause": self.pause.to_dict(),
            "personal_exclusions": [dict(r) for r in self.personal_exclusions],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], verify_keys: Sequence[nacl.signing.VerifyKey]) -> DeviceState:
        """Parse and verify; every receipt must be signed by one of ``verify_keys``."""
        if d.get("version") != STATE_VERSION:
            raise ConfigError(f"privacy state: version: expected {STATE_VERSION}, got {d.get('version')!r}")
        program = Program.from_dict(d["program"]) if "program" in d else DEFAULT_PROGRAM
        receipts = ledger_from_dicts(d.get("receipts", []), verify_keys).receipts
        pause = PauseState.from_dict(d.get("pause", {}))
        personal = tuple(dict(r) for r in d.get("personal_exclusions", []))
        for r in personal:
            rule_from_dict(r, "personal")
        return cls(program, receipts, pause, personal)


def signing_key(home: Path) -> nacl.signing.SigningKey:
    """The device's consent-receipt key, created on first use (mode 0600)."""
    path = home / KEY_FILE
    try:
        return nacl.signing.SigningKey(path.read_bytes())
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    # Write a complete temp file, then link it into place: link fails if another process won the race, and
    # nobody ever reads a half-written key. Whoever lost reads the winner's key.
    tmp = home / f".{KEY_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(bytes(nacl.signing.SigningKey.generate()))
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return nacl.signing.SigningKey(path.read_bytes())


def server_verify_key(home: Path) -> nacl.signing.VerifyKey | None:
    """The server's consent key once it countersigned a receipt of this device, else None."""
    try:
        raw = (home / SERVER_KEY_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return nacl.signing.VerifyKey(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        raise ConfigError(f"{SERVER_KEY_FILE}: not a base64 Ed25519 key ({raw[:60]!r})") from None


def trusted_keys(home: Path) -> list[nacl.signing.VerifyKey]:
    """Keys whose receipts the device accepts: its own, and the server's once it countersigned."""
    server = server_verify_key(home)
    return [signing_key(home).verify_key, *([server] if server is not None else [])]


def load_state(home: Path) -> DeviceState:
    """Read the state; a missing file is the empty state (nothing consented), a broken one raises naming why."""
    path = state_path(home)
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return DeviceState()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"privacy state: {path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"privacy state: {path} must hold a JSON object")
    try:
        return DeviceState.from_dict(data, trusted_keys(home))
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"privacy state: {path} is malformed ({exc!r})") from None


def save_state(home: Path, state: DeviceState) -> None:
    """Write atomically (temp file, fsync, rename) so readers see the old or the new state, never a mix."""
    home.mkdir(parents=True, exist_ok=True)
    path = state_path(home)
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state.to_dict(), f, indent=1, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / f".{STATE_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_state(home: Path, change: Callable[[DeviceState], DeviceState]) -> DeviceState:
    """Apply ``change`` under the lock and save; if it raises, nothing is written."""
    with _locked(home):
        new = change(load_state(home))
        save_state(home, new)
        return new


def principal_id(home: Path) -> str:
    """The participant id from ``device.json`` if enrolled, else ``"local"``."""
    try:
        pid = json.loads((home / "device.json").read_text()).get("participant_id")
    except (OSError, ValueError, AttributeError):
        return "local"
    return str(pid) if pid else "local"


def record_consent(home: Path, action: str, scopes: Sequence[Scope], now_wall_ns: int) -> ConsentReceipt:
    """Make, sign and store a grant or withdraw receipt; returns it."""
    if action not in ("grant", "withdraw"):
        raise ConsentError(f"action: expected 'grant' or 'withdraw', got {action!r}")
    key = signing_key(home)
    made: list[ConsentReceipt] = []

    def change(state: DeviceState) -> DeviceState:
        r = make_receipt(state.program, "grant" if action == "grant" else "withdraw", tuple(scopes),
                         principal_id(home), now_wall_ns)  # fmt: skip
        made.append(sign_receipt(r, key))
        return state.with_receipt(made[0])

    update_state(home, change)
    return made[0]


def toggle_pause(home: Path, now_wall_ns: int) -> DeviceState:
    """Pause until resumed if recording, resume if paused (the indicator's click)."""
    return update_state(home, lambda s: s.resumed() if s.pause.active(now_wall_ns) else s.paused_for(now_wall_ns, None))


__all__ = [
    "KEY_FILE",
    "SERVER_KEY_FILE",
    "STATE_FILE",
    "DeviceState",
    "load_state",
    "principal_id",
    "record_consent",
    "save_state",
    "server_verify_key",
    "signing_key",
    "state_path",
    "toggle_pause",
    "trusted_keys",
    "update_state",
]
