"""Signed checkpoints (tree heads) of the audit log and the verifier behind ``workprint audit verify``.

A checkpoint commits to the first ``size`` entries through their Merkle root and is signed with the server's
Ed25519 key. Verification recomputes every checkpoint's root from the entries, checks each signature, and checks
each later checkpoint is consistent with the one before (a consistency proof between the two roots), so a changed,
removed, inserted or reordered entry, or a checkpoint rolled back to an older tree, is reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from workprint.audit import merkle


def entry_bytes(entry: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one audit entry: sorted-key compact JSON."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head: the log had ``size`` entries with this ``root`` at ``at_ns``."""

    size: int
    root: str
    at_ns: int
    signature: str

    def signed_bytes(self) -> bytes:
        return f"workprint-audit-checkpoint\n{self.size}\n{self.root}\n{self.at_ns}\n".encode()

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root, "at_ns": self.at_ns, "signature": self.signature}


def make_checkpoint(leaves: Sequence[bytes], at_ns: int, key: SigningKey) -> Checkpoint:
    """Sign the tree head of ``leaves``."""
    unsigned = Checkpoint(len(leaves), merkle.root(leaves).hex(), at_ns, "")
    sig = key.sign(unsigned.signed_bytes()).signature.hex()
    return Checkpoint(unsigned.size, unsigned.root, at_ns, sig)


def signature_ok(cp: Checkpoint, key: VerifyKey) -> bool:
    """True when the checkpoint was signed by ``key``."""
    try:
        key.verify(cp.signed_bytes(), bytes.fromhex(cp.signature))
        return True
    except (BadSignatureError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``verify_log`` found; ``ok`` only when there are no problems."""

    entries: int
    checkpoints: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(entries: Sequence[bytes], checkpoints: Sequence[Checkpoint], key: VerifyKey) -> Verification:
    """Check entries against checkpoints and each checkpoint against the one before it."""
    leaves = [merkle.leaf_hash(e) for e in entries]
    problems: list[str] = []
    previous: Checkpoint | None = None
    for i, cp in enumerate(checkpoints):
        if not signature_ok(cp, key):
            problems.append(f"checkpoint {i} (size {cp.size}): bad signature")
            continue
        if previous is not None:
            if cp.size < previous.size or cp.at_ns < previous.at_ns:
                problems.append(f"checkpoint {i} (size {cp.size}): rolled back from size {previous.size}")
            elif cp.size <= len(leaves) and previous.size > 0:
                proof = merkle.consistency_proof(previous.size, leaves[: cp.size])
                if not merkle.verify_consistency(
                    previous.size, cp.size, bytes.fromhex(previous.root), bytes.fromhex(cp.root), proof
                ):
                    problems.append(f"checkpoint {i} (size {cp.size}): not consistent with checkpoint {i - 1}")
        if cp.size > len(leaves):
            problems.append(f"checkpoint {i} (size {cp.size}): the log has only {len(leaves)} entries")
        elif merkle.root(leaves[: cp.size]).hex() != cp.root:
            problems.append(f"checkpoint {i} (size {cp.size}): entries do not match its root")
        previous = cp
    return Verification(len(entries), len(checkpoints), tuple(problems))
