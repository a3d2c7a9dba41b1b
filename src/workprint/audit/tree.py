"""An in-memory Merkle tree that grows by appending: roots of aligned ranges, and so proofs, in O(log² n).

Every perfect subtree ``[i·2^k, (i+1)·2^k)`` is kept (level ``k``, 32 bytes each, about 2n hashes in all), so the
root of any range a proof asks for is a fold of at most log n stored hashes instead of a pass over its leaves.
The server keeps one, fed with the committed log, to answer inclusion and consistency proofs at every device sync.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from workprint.audit import merkle

__all__ = ["Tree"]

_H = 32


class Tree:
    """Leaf hashes appended in order; ``root(size)``, ``inclusion(index, size)``, ``consistency(old, size)``."""

    def __init__(self) -> None:
        self._levels: list[bytearray] = []
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self._levels[0]) // _H if self._levels else 0

    def _node(self, level: int, index: int) -> bytes:
        return bytes(self._levels[level][index * _H : (index + 1) * _H])

    def append(self, leaves: Iterable[bytes]) -> None:
        """Add leaf hashes at the end."""
        with self._lock:
            for leaf in leaves:
                h, level = leaf, 0
                while True:
                    if level == len(self._levels):
                        self._levels.append(bytearray())
                    row = self._levels[level]
                    row += h
                    n = len(row) // _H
                    if n % 2:
                        break
                    h = merkle.node_hash(bytes(row[-2 * _H : -_H]), h)
                    level += 1

    def range_root(self, lo: int, hi: int) -> bytes:
        """MTH of leaves ``lo..hi-1``: the right fold of the largest aligned perfect subtrees from ``lo``."""
        if not 0 <= lo < hi <= self.size:
            raise ValueError(f"range: {lo}..{hi} is not inside a tree of size {self.size}")
        parts = []
        at = lo
        while at < hi:
            k = 0
            while (at >> (k + 1)) << (k + 1) == at and at + (2 << k) <= hi:
                k += 1
            parts.append(self._node(k, at >> k))
            at += 1 << k
        return merkle.frontier_root(parts)

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all of them by default)."""
        n = self.size if size is None else size
        return merkle.EMPTY_ROOT if n == 0 else self.range_root(0, n)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
        self._check(size)
        return merkle.inclusion_path(index, size, self.range_root)

    def consistency(self, old_size: int, size: int) -> list[bytes]:
        """The proof that the first ``old_size`` leaves' tree is a prefix of the first ``size`` leaves' tree."""
        self._check(size)
        return merkle.consistency_path(old_size, size, self.range_root)

    def _check(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"size: {size} is beyond the {self.size} leaves held")
