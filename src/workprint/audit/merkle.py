"""A Merkle tree over the audit log, in the style of RFC 6962 / RFC 9162 (Certificate Transparency).

Pure functions over leaf hashes: ``leaf = H(0x00 ‖ entry)``, ``node = H(0x01 ‖ left ‖ right)``, SHA-256. The root
of the first ``n`` leaves is MTH(D[n]); an inclusion proof shows an entry is in a tree; a consistency proof shows a
later tree extends an earlier one without changing, removing or reordering any entry. The verifiers follow RFC 9162
sections 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """Hash of one log entry as a leaf."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    # Iterative over levels gives the same tree as the recursive definition: pair left to right, carry the odd one.
    level = list(leaves)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


RangeRoot = Callable[[int, int], bytes]
"""``root_of(lo, hi)``: MTH of leaves ``lo..hi-1`` (every range a proof asks for is aligned, see ``Tree``)."""


def _list_roots(leaves: Sequence[bytes]) -> RangeRoot:
    return lambda lo, hi: root(leaves[lo:hi])


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path for leaf ``index`` in the tree of ``leaves``."""
    return inclusion_path(index, len(leaves), _list_roots(leaves))


def inclusion_path(index: int, size: int, root_of: RangeRoot) -> list[bytes]:
    """PATH(m, D[size]) with subtree roots from ``root_of``."""
    if not 0 <= index < size:
        raise ValueError(f"index: {index} is outside a tree of size {size}")

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = _split(hi - lo)
        if m < k:
            return [*path(m, lo, lo + k), root_of(lo + k, hi)]
        return [*path(m - k, lo + k, hi), root_of(lo, lo + k)]

    return path(index, 0, size)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """True when ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` whose root is ``expected_root``."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): shows the tree of the first ``old_size`` leaves is a prefix of the tree of ``leaves``."""
    return consistency_path(old_size, len(leaves), _list_roots(leaves))


def consistency_path(old_size: int, size: int, root_of: RangeRoot) -> list[bytes]:
    """PROOF(old_size, D[size]) with subtree roots from ``root_of``."""
    if not 0 < old_size <= size:
        raise ValueError(f"old_size: {old_size} must be in 1..{size}")

    def sub(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if complete else [root_of(lo, hi)]
        k = _split(hi - lo)
        if m <= k:
            return [*sub(m, lo, lo + k, complete), root_of(lo + k, hi)]
        return [*sub(m - k, lo + k, hi, False), root_of(lo, lo + k)]

    return sub(old_size, 0, size, True)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """True when ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root)."""
    if old_size == new_size:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node of the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# -- incremental form ---------------------------------------------------------------------------------------------
# The frontier of a tree of n leaves is the roots of its perfect subtrees, one per set bit of n, largest first; it
# is all that appending needs, and MTH(D[n]) is their fold from the right (the same tree as the recursive definition).


def extend_frontier(frontier: Sequence[bytes], size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The frontier after appending ``leaves`` to a tree of ``size`` leaves whose frontier is ``frontier``."""
    if len(frontier) != size.bit_count():
        raise ValueError(f"frontier: {len(frontier)} hashes cannot describe a tree of size {size}")
    out = list(frontier)
    for leaf in leaves:
        h, s = leaf, size
        while s & 1:
            h = node_hash(out.pop(), h)
            s >>= 1
        out.append(h)
        size += 1
    return out


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """MTH of the tree whose frontier is ``frontier``."""
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for h in reversed(frontier[:-1]):
        r = node_hash(h, r)
    return r
