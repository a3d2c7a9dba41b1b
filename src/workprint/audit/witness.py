"""Checkpoints kept outside the server, and the check that the server's log still extends them.

A witness (``workprint audit witness``, an auditor's machine) and every device (at each sync) keep the newest
checkpoint the server gave them, with the key that signed it, in a small JSON file. At the next look they ask for
the newest checkpoint and a consistency proof from the one they hold; ``advance`` accepts it only if it is signed
by the same key and extends the held one. A log rolled back, truncated, forked, edited or re-signed with a new key
is then caught by anyone holding a checkpoint from before; ``workprint audit verify --against FILE`` checks the
database itself against such a file (``checkpoint.verify_against``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import VerifyKey

from workprint.audit import merkle
from workprint.audit.checkpoint import Checkpoint, signature_ok
from workprint.errors import AuditMismatch, ConfigError

__all__ = [
    "Witnessed",
    "advance",
    "check_on_device",
    "device_problem",
    "load_witnessed",
    "parse_head",
    "save_witnessed",
]


@dataclass(frozen=True, slots=True)
class Witnessed:
    """Checkpoints of one server's log seen from outside it, oldest first, and the key (hex) that signed them."""

    public_key: str
    checkpoints: tuple[Checkpoint, ...] = ()

    @property
    def latest(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None

    @property
    def size(self) -> int:
        """The size of the newest checkpoint held (0 before the first): what to ask a proof from."""
        return self.checkpoints[-1].size if self.checkpoints else 0

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey(bytes.fromhex(self.public_key))

    def to_dict(self) -> dict[str, Any]:
        return {"public_key": self.public_key, "checkpoints": [c.to_dict() for c in self.checkpoints]}


def _checkpoint(d: object, where: str) -> Checkpoint:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a checkpoint object, got {type(d).__name__}")
    try:
        cp = Checkpoint(int(d["size"]), str(d["root"]), int(d["at_ns"]), str(d["signature"]))
        bytes.fromhex(cp.root), bytes.fromhex(cp.signature)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: malformed checkpoint ({exc})") from None
    if cp.size < 0 or len(cp.root) != 64:
        raise ConfigError(f"{where}: malformed checkpoint (size {cp.size}, root {cp.root[:70]!r})")
    return cp


def _key(text: object, where: str) -> str:
    if not isinstance(text, str) or len(text) != 64:
        raise ConfigError(f"{where}: expected 64 hex digits, got {str(text)[:80]!r}")
    try:
        VerifyKey(bytes.fromhex(text))
    except ValueError:
        raise ConfigError(f"{where}: expected 64 hex digits, got {text!r}") from None
    return text.lower()


def load_witnessed(path: Path) -> Witnessed | None:
    """The checkpoints saved in ``path``; None when there is no such file; ``ConfigError`` naming a bad field."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a checkpoint file ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("checkpoints"), list):
        raise ConfigError(f"{path}: checkpoints: expected a list")
    cps = tuple(_checkpoint(c, f"{path}: checkpoints[{i}]") for i, c in enumerate(raw["checkpoints"]))
    return Witnessed(_key(raw.get("public_key"), f"{path}: public_key"), cps)


def save_witnessed(path: Path, w: Witnessed) -> None:
    """Write ``w`` to ``path`` atomically (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(w.to_dict(), indent=1) + "\n")
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


def parse_head(body: object) -> tuple[str, Checkpoint, list[bytes]]:
    """``GET /v1/audit/checkpoint``'s answer: the key (hex), the newest checkpoint, the consistency proof."""
    if not isinstance(body, dict):
        raise ConfigError(f"audit checkpoint: expected a JSON object, got {type(body).__name__}")
    proof = body.get("consistency", [])
    if not isinstance(proof, list) or not all(isinstance(p, str) and len(p) == 64 for p in proof):
        raise ConfigError(f"consistency: expected a list of 64-hex-digit hashes, got {str(proof)[:80]!r}")
    try:
        hashes = [bytes.fromhex(p) for p in proof]
    except ValueError:
        raise ConfigError(f"consistency: not hex ({str(proof)[:80]!r})") from None
    return _key(body.get("public_key"), "public_key"), _checkpoint(body.get("checkpoint"), "checkpoint"), hashes


def advance(held: Witnessed | None, key_hex: str, new: Checkpoint, proof: list[bytes], *, keep: int = 0) -> Witnessed:
    """``held`` with ``new`` added, if ``new`` is signed by the held key and extends the held checkpoint.

    Raises ``AuditMismatch`` (one line, what was found) otherwise. ``keep`` bounds how many checkpoints are kept
    (0: all, as a witness does; 1: the newest, as a device does).
    """
    key = VerifyKey(bytes.fromhex(key_hex))
    if held is not None and held.public_key != key_hex:
        raise AuditMismatch(f"audit log: the server now signs with key {key_hex[:16]}…, not {held.public_key[:16]}…")
    if not signature_ok(new, key):
        raise AuditMismatch(f"audit log: checkpoint of size {new.size}: bad signature")
    old = held.latest if held is not None else None
    if old is not None:
        if new.size < old.size:
            raise AuditMismatch(f"audit log: rolled back from size {old.size} to {new.size}")
        if new.at_ns < old.at_ns:
            raise AuditMismatch(f"audit log: checkpoint time went backwards (size {new.size})")
        if new.size == old.size and new.root != old.root:
            raise AuditMismatch(f"audit log: forked at size {new.size} (another root)")
        extends = (old.size == 0 and old.root == merkle.EMPTY_ROOT.hex()) or merkle.verify_consistency(
            old.size, new.size, bytes.fromhex(old.root), bytes.fromhex(new.root), proof
        )
        if new.size > old.size and not extends:
            raise AuditMismatch(
                f"audit log: size {new.size} does not extend the held size {old.size} (rewritten or forked)"
            )
    if held is not None and new == old:
        return held
    cps = (*(held.checkpoints if held is not None else ()), new)
    return Witnessed(key_hex, cps[-keep:] if keep else cps)


DEVICE_FILE = "audit_checkpoint.json"  # in $WORKPRINT_HOME: usable as ``workprint audit verify --against``
PROBLEM_FILE = "audit_problem.txt"  # present while the server's log failed the device's check


def device_problem(home: Path) -> str:
    """Why this device holds its uploads back from the server (its audit log failed the check), or ""."""
    try:
        return (home / PROBLEM_FILE).read_text().strip()
    except FileNotFoundError:
        return ""


def check_on_device(home: Path, fetch: Callable[[int], object]) -> str:
    """One device check: fetch the server's newest checkpoint (``fetch(since)`` returns ``GET /v1/audit/checkpoint``'s
    body), check it extends the one held and keep it. Returns "" or the problem, which is also saved (and stays until
    someone removes it) so the agent holds segments back and ``workprint status`` says why. The first check trusts
    the key the server shows; a malformed answer is a problem too. ``fetch``'s own errors propagate (offline)."""
    held_problem = device_problem(home)
    if held_problem:
        return held_problem
    try:
        held = load_witnessed(home / DEVICE_FILE)
        body = fetch(held.size if held is not None else 0)
        key_hex, cp, proof = parse_head(body)
        updated = advance(held, key_hex, cp, proof, keep=1)
    except (AuditMismatch, ConfigError) as exc:
        problem = f"{exc}; uploads are held back (remove {home / PROBLEM_FILE} to resume)"
        (home / PROBLEM_FILE).write_text(problem + "\n")
        return problem
    if updated != held:
        save_witnessed(home / DEVICE_FILE, updated)
    return ""
