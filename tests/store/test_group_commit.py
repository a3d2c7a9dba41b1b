"""Group commit: concurrent callers share batches, each gets its own result only after its batch ran."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from sqlalchemy.exc import IntegrityError

from workprint.store.group_commit import GroupCommit
from workprint.store.metadata import MetadataStore
from workprint.store.records import Participant, SegmentRecord


def _run_threads(n: int, fn: object) -> None:
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]  # type: ignore[arg-type]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)


def test_concurrent_items_share_batches_and_each_caller_gets_its_own_result() -> None:
    committed: set[int] = set()
    sizes: list[int] = []

    def batch(items: Sequence[int]) -> list[int]:
        time.sleep(0.02)  # a slow commit, so that callers pile up behind it
        sizes.append(len(items))
        committed.update(items)
        return [i * 10 for i in items]

    gc: GroupCommit[int, int] = GroupCommit(batch)
    results: dict[int, int] = {}

    def call(i: int) -> None:
        r = gc.submit(i)
        assert i in committed  # nobody returns before its batch ran
        results[i] = r

    _run_threads(32, call)
    assert results == {i: i * 10 for i in range(32)}
    assert sum(sizes) == 32 and len(sizes) < 32 and max(sizes) > 1


def test_a_failing_item_fails_only_its_own_caller() -> None:
    def batch(items: Sequence[int]) -> list[int]:
        time.sleep(0.01)
        if 7 in items:
            raise ValueError("item 7: refused")
        return list(items)

    gc: GroupCommit[int, int] = GroupCommit(batch)
    outcome: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            outcome[i] = gc.submit(i)
        except ValueError as e:
            outcome[i] = str(e)

    _run_threads(16, call)
    assert outcome == {i: ("item 7: refused" if i == 7 else i) for i in range(16)}


def _rec(sid: str, pid: str) -> SegmentRecord:
    return SegmentRecord(
        sid, pid, "d" * 32, "s", 0, 0, 1, 0, 1, ("keys",), "v1", "r1", 10, {"key": 1}, f"segments/{sid}", 1
    )


def test_concurrent_manifests_commit_together_and_a_duplicate_is_reported(db_url: str) -> None:
    store = MetadataStore(db_url)
    pid = "a" * 32
    from workprint.store.records import AuditEvent

    store.add_participant(Participant(pid, "Ada", b"k" * 32, None, "k1", 1), AuditEvent("t", "participant.create", pid))
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO devices (id, participant_id, name, token_hash, created_at) VALUES ('{'d' * 32}', '{pid}', "
            f"'laptop', '{'0' * 64}', 1)"
        )
    outcome: dict[int, bool] = {}

    def call(i: int) -> None:
        outcome[i] = store.add_segment(_rec(f"{i % 20:064x}", pid))  # 40 uploads of 20 segments

    _run_threads(40, call)
    assert sorted(outcome.values()).count(True) == 20
    assert len(store.segments(pid)) == 20
    assert store._segments.batches < 40
    with pytest.raises(IntegrityError):  # an unknown participant: that caller fails, alone
        store.add_segment(_rec("f" * 64, "b" * 32))
    assert store.add_segment(_rec("e" * 64, pid)) is True
    store.close()
