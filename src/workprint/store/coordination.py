"""Coordination between server processes that share one metadata database (ingest replicas, CLI commands).

Two kinds of lock, both scoped to the database *and* its schema (so deployments or test schemas sharing one
PostgreSQL database never block each other):

- **Transaction locks** (``xact_lock``), held until the caller's write transaction commits or rolls back.
  ``AUDIT`` orders the audit log: a sequence number is assigned and committed while it is held, so the committed log
  is always a contiguous prefix and a checkpoint (which takes it too) never covers entry n+1 without entry n.
  ``KEYS`` lets participant creation (shared) exclude the last step of a key rotation (exclusive). On SQLite every
  write transaction already holds the database's single write lock (``BEGIN IMMEDIATE``), so these are no-ops there.
- **Leases** (``Lease``), held by a process until released or until it dies: PostgreSQL session advisory locks on a
  connection of their own (the server drops them when the connection ends, ``kill -9`` included), or ``flock`` on a
  file beside a SQLite database. They elect the one checkpointer among replicas and make key rotations take turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

__all__ = ["AUDIT", "CHECKPOINTER", "KEYS", "ROTATION", "Lease", "try_lease", "xact_lock"]

_CLASS = 0x7770  # the first half of every two-part advisory key: "wp"
AUDIT, KEYS, CHECKPOINTER, ROTATION = 1, 2, 3, 4
_NAMES = {AUDIT: "audit", KEYS: "keys", CHECKPOINTER: "checkpointer", ROTATION: "key-rotation"}
# hashtext() of the schema makes the key per schema; the class and lock number share the first int4.
_KEY = "(:k)::int4, hashtext(current_schema())"


def xact_lock(conn: Connection, lock: int, *, shared: bool = False) -> None:
    """Take ``lock`` until the end of ``conn``'s transaction (PostgreSQL; SQLite writers are serialised already)."""
    if conn.dialect.name != "postgresql":
        return
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    conn.execute(text(f"SELECT {fn}({_KEY})"), {"k": (_CLASS << 8) | lock})


class Lease:
    """A lock held by this process until ``release`` (or its death); ``alive`` says whether it still holds it."""

    def __init__(self, name: str, conn: Connection | None = None, fd: int | None = None, key: int = 0) -> None:
        self.name = name
        self._conn = conn
        self._fd = fd
        self._key = key

    def alive(self) -> bool:
        """False once the connection that holds the lock is gone (the database then released it)."""
        if self._conn is None:
            return self._fd is not None
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except Exception:  # any failure of the connection means the lock may be someone else's now
            self.release()
            return False

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                # Unlocked now (a session's end releases its locks only once the server has reaped it, a moment
                # later), then invalidated rather than returned to the pool, so nothing else holds it either.
                self._conn.execute(text(f"SELECT pg_advisory_unlock({_KEY})"), {"k": self._key})
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def try_lease(engine: Engine, lock: int) -> Lease | None:
    """Hold ``lock`` for this process if nobody else does; None when another process holds it."""
    name = _NAMES[lock]
    if engine.dialect.name == "postgresql":
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(text(f"SELECT pg_try_advisory_lock({_KEY})"), {"k": (_CLASS << 8) | lock}).scalar()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return None
        return Lease(name, conn=conn, key=(_CLASS << 8) | lock)
    database = engine.url.database
    if not database or database == ":memory:":
        return Lease(name, fd=os.open(os.devnull, os.O_RDONLY))  # one process owns an in-memory database
    path = Path(f"{database}.{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return Lease(name, fd=fd)
