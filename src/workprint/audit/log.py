"""The audit log as a Merkle log over the metadata database: append, signed checkpoints, proofs, verification.

Entries live in the append-only ``audit_log`` table; leaf ``i`` is ``H(0x00 ‖ entry_bytes(entry i))`` in ``seq``
order. Checkpoints (signed tree heads) live in the append-only ``audit_checkpoints`` table. Nothing here trusts the
database: ``verify`` recomputes every root from the entries and checks signatures with the public key alone.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from workprint.audit import merkle
from workprint.audit.checkpoint import (
    Checkpoint,
    Verification,
    entry_bytes,
    sign_checkpoint,
    signature_ok,
    verify_log,
)
from workprint.audit.signing import KeySigner, Signer
from workprint.audit.tree import Tree
from workprint.errors import AuditUnavailable
from workprint.store import tables as t
from workprint.store.coordination import AUDIT, CHECKPOINTER, Lease, xact_lock
from workprint.store.metadata import MetadataStore, _audit
from workprint.store.records import AuditEntry, AuditEvent

__all__ = ["AuditLog", "ProvenEntry", "read_checkpoints", "start_checkpointer"]


@dataclass(frozen=True, slots=True)
class ProvenEntry:
    """An entry with its inclusion proof in the tree of ``checkpoint``: verifiable with the public key alone."""

    entry: AuditEntry
    index: int
    proof: tuple[str, ...]
    checkpoint: Checkpoint

    def verifies(self, key: VerifyKey) -> bool:
        """True when the proof places this exact entry in the signed checkpoint's tree."""
        leaf = merkle.leaf_hash(entry_bytes(self.entry.to_dict()))
        proof = [bytes.fromhex(p) for p in self.proof]
        root = bytes.fromhex(self.checkpoint.root)
        return signature_ok(self.checkpoint, key) and merkle.verify_inclusion(
            leaf, self.index, self.checkpoint.size, proof, root
        )


def _checkpoint(r: RowMapping) -> Checkpoint:
    return Checkpoint(int(r["size"]), str(r["root"]), int(r["at_ns"]), str(r["signature"]))


def _leaf(r: RowMapping) -> bytes:
    return merkle.leaf_hash(entry_bytes(_audit(r).to_dict()))


def read_checkpoints(store: MetadataStore) -> list[Checkpoint]:
    """Every checkpoint stored in ``store``, in the order they were made."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.id)).mappings().all()
    return [_checkpoint(r) for r in rows]


def _latest_row(conn: Connection) -> RowMapping | None:
    return conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.id.desc()).limit(1)).mappings().first()


class AuditLog:
    """The Merkle audit log of one metadata store, signing checkpoints with ``key`` (a key or a ``Signer``).

    It installs itself as the store's sealer: every write transaction that appends entries also stores a signed
    checkpoint covering them before it commits, so an entry is never acknowledged, and a read never served,
    without a tree head that a device or witness can hold the server to.
    """

    def __init__(
        self, store: MetadataStore, key: SigningKey | Signer, *, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self.store = store
        self.signer: Signer = KeySigner(key) if isinstance(key, SigningKey) else key
        self._clock = clock
        self._tree = Tree()  # the committed log's leaves, for proofs; fed from the database as it grows
        self._tree_seq = 0
        self._tree_lock = threading.Lock()
        self._head: tuple[int, str] | None = None  # (size, root) of the newest checkpoint this process signed
        self._last_written: _Written | None = None
        store.audit_sealer = self._seal
        store.audit_committed = self._committed

    @property
    def verify_key(self) -> VerifyKey:
        """The public key that verifies this log's checkpoints."""
        return self.signer.verify_key

    def append(self, event: AuditEvent) -> int:
        """Append one entry now; ``AuditUnavailable`` when it cannot be written (the caller's request then fails)."""
        try:
            return self.store.append_audit(event, self._clock())
        except SQLAlchemyError as exc:
            raise AuditUnavailable(
                f"audit log: cannot append {event.action} of {event.subject} ({type(exc).__name__}); request refused"
            ) from None

    def entries(self) -> list[AuditEntry]:
        """Every entry, oldest first."""
        return self.store.audit_entries()

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint in the order they were made."""
        return read_checkpoints(self.store)

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint, or None before the first."""
        with self.store.engine.connect() as conn:
            row = _latest_row(conn)
        return None if row is None else _checkpoint(row)

    def _seal(self, conn: Connection, *, force: bool = True) -> _Written | None:
        """Sign and store the tree head of every entry so far, in ``conn``'s write transaction.

        Under the audit lock: every committed entry is a contiguous prefix (appends hold the lock until they commit),
        none can land between reading the log and storing its head, and a checkpoint of another process is stored
        strictly before or after this one, so each extends the last. The tree grows from the newest checkpoint's
        frontier: only the entries after it are read.

        Nothing is signed over a history the server cannot vouch for: the newest checkpoint must carry our
        signature, its frontier must give its root (or, without one, the entries it covers must), it must not be
        dated in the future, and it must extend the newest head this process signed or saw. Otherwise the append
        fails (``AuditUnavailable``) and its request with it: a database edited under the server stops it, loudly,
        instead of being signed as authentic. (A process started on such a database has no memory to compare with;
        devices and witnesses holding an older checkpoint catch that.)
        """
        xact_lock(conn, AUDIT)
        last = _latest_row(conn)
        a = t.audit_log
        if last is None:
            self._check_remembered(None)
            after, size, frontier = 0, 0, []  # the first checkpoint
        else:
            held = _checkpoint(last)
            self._check_remembered(held)
            row_as_written = (held, last["frontier"], last["last_seq"])
        if last is not None and row_as_written == self._last_written:  # the row this process wrote: checked then
            after, size, frontier = int(last["last_seq"]), held.size, _unpack(str(last["frontier"]))
        elif last is not None:
            if not signature_ok(held, self.verify_key):
                raise AuditUnavailable(f"audit log: the newest checkpoint (size {held.size}) is not ours; not signing")
            if held.at_ns > self._clock() + 86_400 * 10**9:
                raise AuditUnavailable(f"audit log: the newest checkpoint (size {held.size}) is dated in the future")
            if last["frontier"] is None or last["last_seq"] is None:  # made before migration 0009: rebuild once
                rows = conn.execute(select(a).order_by(a.c.seq).limit(held.size)).mappings().all()
                after = int(rows[-1]["seq"]) if rows else 0
                size, frontier = len(rows), merkle.extend_frontier([], 0, [_leaf(r) for r in rows])
            else:
                after, size, frontier = int(last["last_seq"]), int(last["size"]), _unpack(str(last["frontier"]))
            if size != held.size or merkle.frontier_root(frontier).hex() != held.root:
                raise AuditUnavailable(f"audit log: the entries under the newest checkpoint (size {held.size}) "
                                       "do not give its root; not signing")  # fmt: skip
        rows = conn.execute(select(a).where(a.c.seq > after).order_by(a.c.seq)).mappings().all()
        if not rows and not force and last is not None:
            return None
        frontier = merkle.extend_frontier(frontier, size, [_leaf(r) for r in rows])
        at = max(self._clock(), int(last["at_ns"]) + 1 if last is not None else 0)  # never backwards
        cp = sign_checkpoint(size + len(rows), merkle.frontier_root(frontier), at, self.signer)
        last_seq = int(rows[-1]["seq"]) if rows else after
        packed = _pack(frontier)
        conn.execute(insert(t.checkpoints).values(**cp.to_dict(), last_seq=last_seq, frontier=packed))
        return cp, packed, last_seq  # this process's newest head once the transaction commits (``_committed``)

    def _check_remembered(self, latest: Checkpoint | None) -> None:
        """The database's newest checkpoint must not be older than, or another than, the newest this process knew."""
        known = self._head
        if known is None:
            return
        size, root = known
        if latest is None or latest.size < size or (latest.size == size and latest.root != root):
            got = "none" if latest is None else f"size {latest.size}"
            raise AuditUnavailable(
                f"audit log: the newest checkpoint is {got}, but this server signed size {size}: rolled back or "
                "rewritten under it; not signing"
            )

    def _committed(self, written: _Written | None) -> None:
        """The transaction a checkpoint was signed in has committed: remember it as the newest head this process
        knows, and its row as written (the next seal need not check again what this process wrote itself)."""
        if written is None:
            return
        cp = written[0]
        if self._head is None or cp.size >= self._head[0]:
            self._head = (cp.size, cp.root)
            self._last_written = written

    def checkpoint(self, *, only_if_new: bool = False) -> Checkpoint | None:
        """Sign and store the tree head of every entry so far; with ``only_if_new``, None when nothing was added."""
        try:
            written = self.store.write(lambda conn: self._seal(conn, force=not only_if_new))
            self._committed(written)
            return None if written is None else written[0]
        except SQLAlchemyError as exc:
            raise AuditUnavailable(f"audit log: cannot store a checkpoint ({type(exc).__name__})") from None

    def _synced(self) -> Tree:
        """The tree of every committed entry (read from the database since the last call)."""
        with self._tree_lock:
            new = self.store.audit_entries(self._tree_seq)
            if new:
                self._tree.append(merkle.leaf_hash(entry_bytes(e.to_dict())) for e in new)
                self._tree_seq = new[-1].seq
            return self._tree

    def head(self, since: int = 0) -> tuple[Checkpoint, list[str]]:
        """The newest checkpoint and, for a holder of the one of size ``since``, the proof that it extends it."""
        cp = self.latest() or self.checkpoint()
        assert cp is not None
        tree = self._synced()
        if not 0 < since < cp.size or tree.size < cp.size:
            return cp, []
        return cp, [p.hex() for p in tree.consistency(since, cp.size)]

    def prove(self, entries: list[AuditEntry], wanted: Callable[[AuditEntry], bool]) -> list[ProvenEntry]:
        """The wanted entries, each with its inclusion proof in a checkpoint covering them (made now if needed)."""
        cp = self.latest()
        if cp is None or cp.size < len(entries):
            cp = self.checkpoint()
            assert cp is not None
        tree = self._synced()
        out = []
        for i, e in enumerate(self.entries()[: min(cp.size, tree.size)]):
            if wanted(e):
                proof = tuple(p.hex() for p in tree.inclusion(i, cp.size))
                out.append(ProvenEntry(e, i, proof, cp))
        return out

    def verify(self, key: VerifyKey | None = None) -> Verification:
        """Check every entry against every checkpoint, and each checkpoint against the one before."""
        entries = [entry_bytes(e.to_dict()) for e in self.entries()]
        return verify_log(entries, self.checkpoints(), key or self.verify_key)


_Written = tuple[Checkpoint, str, int]
"""A checkpoint as its row was written: the checkpoint, its packed frontier, the ``seq`` of its last entry."""


def _pack(frontier: list[bytes]) -> str:
    return b"".join(frontier).hex()


def _unpack(text: str) -> list[bytes]:
    raw = bytes.fromhex(text)
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]


def start_checkpointer(log: AuditLog, interval_s: float = 300.0) -> threading.Event:
    """Checkpoint every ``interval_s`` seconds (when something was appended) in a daemon thread; set to stop.

    Among server processes sharing one database exactly one checkpoints on this timer: the holder of the checkpointer
    lease; the others try to take it over at each tick, so the checkpoints go on when its holder dies. (Checkpoints
    asked for explicitly still come from any process; the audit lock orders them.)
    """
    stop = threading.Event()

    def run() -> None:
        lease: Lease | None = None
        try:
            while not stop.wait(interval_s):
                # A failed tick is retried at the next one; verification reports the gap if it persists.
                with contextlib.suppress(AuditUnavailable, SQLAlchemyError):
                    if lease is None or not lease.alive():
                        lease = log.store.try_lease(CHECKPOINTER)
                    if lease is not None:
                        log.checkpoint(only_if_new=True)
        finally:
            if lease is not None:
                lease.release()

    threading.Thread(target=run, name="audit-checkpointer", daemon=True).start()
    return stop
