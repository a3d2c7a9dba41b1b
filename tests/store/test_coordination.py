"""Server processes sharing one database: the audit log keeps one order (entries commit in sequence order, each
checkpoint extends the last), exactly one process holds the checkpointer lease, and it passes on when that process
dies. Each test runs on SQLite and on PostgreSQL, with a separate store (its own connection pool) per "replica"."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time

from nacl.signing import SigningKey
from sqlalchemy.engine import Connection

from workprint.audit.log import AuditLog
from workprint.store.coordination import CHECKPOINTER, ROTATION
from workprint.store.metadata import MetadataStore, append_audit
from workprint.store.records import AuditEvent


def _event(n: int) -> AuditEvent:
    return AuditEvent("test", "segment.read", f"segment:{n}")


def test_an_entry_committed_late_is_never_skipped_by_a_checkpoint(db_url: str) -> None:
    """Replica A assigns entry n and commits slowly; replica B appends n+1 and a checkpoint is taken meanwhile.
    Without ordering, B's entry commits first, the checkpoint covers it without A's, and verify fails forever."""
    a, b, c = MetadataStore(db_url), MetadataStore(db_url), MetadataStore(db_url)
    key = SigningKey.generate()
    appended, release = threading.Event(), threading.Event()
    seqs: dict[str, int] = {}

    def slow(conn: Connection) -> None:
        seqs["a"] = append_audit(conn, _event(1), 1)
        appended.set()
        release.wait(10)  # A holds its transaction open after assigning its sequence number

    ta = threading.Thread(target=a.write, args=(slow,))
    ta.start()
    assert appended.wait(10)
    tb = threading.Thread(target=lambda: seqs.__setitem__("b", b.append_audit(_event(2), 2)))
    tc = threading.Thread(target=lambda: AuditLog(c, key).checkpoint())
    tb.start()
    tb.join(0.5)  # B now waits for A (without ordering it has committed)
    tc.start()
    tc.join(0.5)  # and so does the checkpoint (without ordering it has covered B's entry alone)
    release.set()
    for t in (ta, tb, tc):
        t.join(30)
    log = AuditLog(a, key)
    log.checkpoint()
    result = log.verify()
    assert result.ok, result.problems
    assert seqs["a"] < seqs["b"] and [e.seq for e in a.audit_entries()] == sorted(seqs.values())
    for s in (a, b, c):
        s.close()


def test_checkpoints_from_several_replicas_at_once_each_extend_the_last(db_url: str) -> None:
    stores = [MetadataStore(db_url) for _ in range(3)]
    key = SigningKey.generate()
    logs = [AuditLog(s, key) for s in stores]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for n in range(15):
                logs[i].append(_event(i * 100 + n))
                logs[i].checkpoint()
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    cps = logs[0].checkpoints()
    assert len(cps) == 90  # one signed with each append, one asked for
    assert cps[-1].size == 45
    assert [c.size for c in cps] == sorted(c.size for c in cps)
    assert all(x.at_ns < y.at_ns for x, y in itertools.pairwise(cps))
    result = logs[0].verify()
    assert result.ok, result.problems
    for s in stores:
        s.close()


def test_one_process_holds_a_lease_until_it_releases_it(db_url: str) -> None:
    a, b = MetadataStore(db_url), MetadataStore(db_url)
    lease = a.try_lease(CHECKPOINTER)
    assert lease is not None and lease.alive()
    assert b.try_lease(CHECKPOINTER) is None
    other = b.try_lease(ROTATION)  # leases are independent of each other
    assert other is not None
    lease.release()
    taken = b.try_lease(CHECKPOINTER)
    assert taken is not None and a.try_lease(CHECKPOINTER) is None
    taken.release()
    other.release()
    a.close()
    b.close()


def test_the_lease_passes_on_when_its_holder_is_killed(db_url: str) -> None:
    code = (
        "import sys, time\n"
        "from workprint.store.metadata import MetadataStore\n"
        "from workprint.store.coordination import CHECKPOINTER\n"
        "lease = MetadataStore(sys.argv[1], create=False).try_lease(CHECKPOINTER)\n"
        "print('held' if lease else 'refused', flush=True)\n"
        "time.sleep(60)\n"
    )
    store = MetadataStore(db_url)
    proc = subprocess.Popen([sys.executable, "-c", code, db_url], stdout=subprocess.PIPE, env=os.environ.copy())
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
        assert store.try_lease(CHECKPOINTER) is None
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    lease = store.try_lease(CHECKPOINTER)
    while lease is None and time.monotonic() < deadline:  # the database notices the dead session
        time.sleep(0.05)
        lease = store.try_lease(CHECKPOINTER)
    assert lease is not None
    lease.release()
    store.close()
