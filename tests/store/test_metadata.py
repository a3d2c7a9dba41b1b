"""The metadata store on both backends: SQLite pragmas, single-use codes under races, idempotent manifests."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from workprint.errors import ConfigError
from workprint.store.metadata import MetadataStore
from workprint.store.records import AuditEvent, Participant, SegmentRecord


def _participant(store: MetadataStore, pid: str = "p1") -> None:
    store.add_participant(
        Participant(pid, "Ada", b"k" * 32, b"w", "test", 1), AuditEvent("t", "participant.create", pid)
    )


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
    store.close()


def test_a_device_for_a_missing_participant_violates_a_foreign_key(db_url: str) -> None:
    store = MetadataStore(db_url)
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        store.add_enrolment_code("h", "nobody", 10, 1, "t")
    store.close()


def test_a_code_enrols_exactly_one_device_when_raced(db_url: str) -> None:
    store = MetadataStore(db_url)
    _participant(store)
    store.add_enrolment_code("code-hash", "p1", expires_at=10**18, now=1, actor="t")
    results: list[object] = []

    def attempt(i: int) -> None:
        results.append(store.enroll_device("code-hash", f"d{i}", "laptop", f"token-{i}", now=2))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(r is not None for r in results) == 1
    store.close()


def test_a_segment_manifest_is_added_once(db_url: str) -> None:
    store = MetadataStore(db_url)
    _participant(store)
    store.add_enrolment_code("c", "p1", 10**18, 1, "t")
    device = store.enroll_device("c", "d1", "laptop", "th", 2)
    assert device is not None
    rec = SegmentRecord("f" * 64, "p1", "d1", "s", 0, 1, 2, 3, 4, ("keys",), "1", "r", 10, {"key": 1}, "k", 5)
    assert store.add_segment(rec) is True
    assert store.add_segment(rec) is False
    assert store.segment("f" * 64) == rec
    assert store.segments() == [rec]
    store.close()


def test_an_unknown_database_url_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match="db_url: expected sqlite:/// or postgresql\\+psycopg://, got 'mysql'"):
        MetadataStore("mysql://x/y")
    with pytest.raises(ConfigError, match="db_url: not a database URL: 'nonsense'"):
        MetadataStore("nonsense")


def test_the_audit_log_refuses_updates_and_deletes_in_the_database(db_url: str) -> None:
    store = MetadataStore(db_url)
    _participant(store)
    MetadataStore(db_url).close()  # creating the schema again is harmless
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="audit_log is append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    assert [e.actor for e in store.audit_entries()] == ["t"]
    store.close()
