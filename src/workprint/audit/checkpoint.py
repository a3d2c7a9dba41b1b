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
from workprint.audit.signing import KeySigner, Signer


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


def make_checkpoint(leaves: Sequence[bytes], at_ns: int, key: SigningKey | Signer) -> Checkpoint:
    """Sign the tree head of ``leaves``."""
    return sign_checkpoint(len(leaves), merkle.root(leaves), at_ns, key)


def sign_checkpoint(size: int, root: bytes, at_ns: int, key: SigningKey | Signer) -> Checkpoint:
    """Sign the tree head (``size``, ``root``) at ``at_ns``."""
    unsigned = Checkpoint(size, root.hex(), at_ns, "")
    signer = KeySigner(key) if isinstance(key, SigningKey) else key
    return Checkpoint(size, unsigned.root, at_ns, signer.sign(unsigned.signed_bytes()).hex())


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
    """Check entries against checkpoints, each checkpoint against the one before, and that every entry is covered.

    Each checkpoint's root is recomputed from the entries (so two checkpoints that both match are consistent with
    each other); one pass with a frontier, O(n log n) however many checkpoints there are. Entries after the newest
    checkpoint are a problem: the server signs a checkpoint in the transaction of every append.
    """
    leaves = [merkle.leaf_hash(e) for e in entries]
    problems: list[str] = []
    previous: Checkpoint | None = None
    frontier: list[bytes] = []
    at = 0
    for i, cp in enumerate(checkpoints):
        if not signature_ok(cp, key):
            problems.append(f"checkpoint {i} (size {cp.size}): bad signature")
            continue
        if previous is not None and (cp.size < previous.size or cp.at_ns < previous.at_ns):
            problems.append(f"checkpoint {i} (size {cp.size}): rolled back from size {previous.size}")
        if cp.size > len(leaves):
            problems.append(f"checkpoint {i} (size {cp.size}): the log has only {len(leaves)} entries")
        else:
            if cp.size < at:  # only after a roll-back: start again from the empty tree
                frontier, at = [], 0
            frontier = merkle.extend_frontier(frontier, at, leaves[at : cp.size])
            at = cp.size
            if merkle.frontier_root(frontier).hex() != cp.root:
                problems.append(f"checkpoint {i} (size {cp.size}): entries do not match its root")
        previous = cp
    covered = max((cp.size for cp in checkpoints), default=0)
    if checkpoints and covered < len(leaves):
        problems.append(f"entries {covered}..{len(leaves) - 1}: not covered by any signed checkpoint")
    return Verification(len(entries), len(checkpoints), tuple(problems))


def verify_against(
    entries: Sequence[bytes], witnessed: Sequence[Checkpoint], key: VerifyKey, *, log_key: VerifyKey | None = None
) -> list[str]:
    """Problems found checking the log against checkpoints saved outside the server (a witness's, a device's).

    Each must be signed by ``key`` (the key the witness saw) and its root must be the root of the log's first
    ``size`` entries now: a truncated, edited, rolled-back or forked log, or one re-signed with a new key, fails.
    """
    problems: list[str] = []
    if log_key is not None and bytes(log_key) != bytes(key):
        problems.append(
            f"signing key: the log's is {bytes(log_key).hex()[:16]}…, the witness saw {bytes(key).hex()[:16]}…"
        )
    leaves = [merkle.leaf_hash(e) for e in entries]
    frontier: list[bytes] = []
    at = 0
    for cp in sorted(witnessed, key=lambda c: c.size):
        where = f"witnessed checkpoint (size {cp.size}, root {cp.root[:16]}…)"
        if not signature_ok(cp, key):
            problems.append(f"{where}: not signed by the witnessed key")
        elif cp.size > len(leaves):
            problems.append(f"{where}: the log has only {len(leaves)} entries (truncated or rolled back)")
        else:
            frontier = merkle.extend_frontier(frontier, at, leaves[at : cp.size])
            at = cp.size
            if merkle.frontier_root(frontier).hex() != cp.root:
                problems.append(f"{where}: the log's first {cp.size} entries have another root (edited or forked)")
    return problems
