"""The ingest path's storage calls, on each backend: its lookups in one statement, a batch of manifests in one."""

from __future__ import annotations

from workprint.store.metadata import MetadataStore
from workprint.store.records import AuditEvent, Participant, SegmentRecord

PID = "a" * 32


def _rec(n: int) -> SegmentRecord:
    sid = f"{n:064x}"
    return SegmentRecord(sid, PID, "d" * 32, "s", n, 0, 1, 0, 1, ("keys",), "1", "r", 10, {"key": 1}, f"k/{sid}", 1)


def _store(db_url: str) -> MetadataStore:
    store = MetadataStore(db_url)
    store.add_participant(Participant(PID, "Ada", b"k" * 32, None, "k1", 1), AuditEvent("t", "participant.create", PID))
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO devices (id, participant_id, name, token_hash, created_at) "
            f"VALUES ('{'d' * 32}', '{PID}', 'laptop', '{'0' * 64}', 1)"
        )
    return store


def test_one_batch_reports_each_manifest_new_once_and_held_or_repeated_ones_not(db_url: str) -> None:
    store = _store(db_url)
    try:
        assert store._add_segments([_rec(1)]) == [True]
        assert store._add_segments([_rec(2), _rec(1), _rec(3), _rec(2)]) == [True, False, True, False]
        assert [r.seq for r in store.segments(PID)] == [1, 2, 3]
        assert store.segment(_rec(3).id) == _rec(3)  # JSON columns bound per row come back as they went in
    finally:
        store.close()


def test_ingest_state_tells_unknown_erased_and_held_apart(db_url: str) -> None:
    store = _store(db_url)
    try:
        with store.reading() as conn:
            assert store.ingest_state(PID, _rec(1).id, conn) == (False, False, None)
            assert store.ingest_state("b" * 32, _rec(1).id, conn) == (None, False, None)
        store.add_segment(_rec(1))
        with store.reading() as conn:
            assert store.ingest_state(PID, _rec(1).id, conn) == (False, True, None)
        store.erase_participant(PID, 5, [AuditEvent("t", "participant.erase", PID)])
        with store.reading() as conn:
            assert store.ingest_state(PID, _rec(1).id, conn) == (True, True, None)
    finally:
        store.close()
