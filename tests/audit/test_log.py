"""The audit log in the real database: checkpoints, proofs, and ``workprint audit verify`` catching an attacker who
drops the append-only triggers and edits rows directly (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

from workprint.audit.checkpoint import entry_bytes
from workprint.audit.log import AuditLog, start_checkpointer
from workprint.audit.signing import load_signing_key
from workprint.cli.main import _register, app
from workprint.store import tables
from workprint.store.metadata import MetadataStore
from workprint.store.records import AuditEvent

_register([])


@pytest.fixture
def log(db_url: str, tmp_path: Path) -> Iterator[AuditLog]:
    store = MetadataStore(db_url)
    log = AuditLog(store, load_signing_key(tmp_path / "server" / "audit-signing.key"))
    for i in range(12):
        log.append(AuditEvent(f"user:{i % 3}", "segment.read", f"segment:{i:064x}", {"participant_id": f"p{i % 2}"}))
        if i in (3, 7, 11):
            log.checkpoint()
    yield log
    store.close()


def _verify(log: AuditLog, tmp_path: Path) -> tuple[int, str]:
    key = str(tmp_path / "server" / "audit-signing.key")
    r = CliRunner().invoke(app, ["audit", "verify", "--db", log.store.url, "--key", key])
    return r.exit_code, r.output.strip()


def _as_attacker(log: AuditLog, change: Callable[[Connection], object]) -> None:
    dialect = log.store.backend
    with log.store.engine.begin() as conn:
        for table in tables.APPEND_ONLY_TABLES:
            for statement in tables.drop_append_only_statements(dialect, table):
                conn.exec_driver_sql(statement)
        change(conn)


def test_an_untouched_log_verifies_with_one_line(log: AuditLog, tmp_path: Path) -> None:
    assert _verify(log, tmp_path) == (0, "audit log: OK, 12 entries, 15 checkpoints consistent")


def test_the_database_refuses_edits_to_entries_and_checkpoints(log: AuditLog) -> None:
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_checkpoints"):
        with pytest.raises(Exception, match="append-only"), log.store.engine.begin() as conn:
            conn.execute(text(statement))


TAMPERING: dict[str, Callable[[Connection], object]] = {
    "flipped bit": lambda c: c.execute(text("UPDATE audit_log SET actor = 'user:3' WHERE seq = 2")),
    "deleted entry": lambda c: c.execute(text("DELETE FROM audit_log WHERE seq = 5")),
    "inserted entry": lambda c: (
        c.execute(text("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 5")),
        c.execute(text("UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100")),
        c.execute(
            text(
                "INSERT INTO audit_log (seq, at, actor, action, subject, detail) "
                "VALUES (5, 1, 'user:0', 'login.success', 'user:0', '{}')"
            )
        ),
    ),
    "swapped pair": lambda c: (
        c.execute(text("UPDATE audit_log SET subject = 'tmp' WHERE seq = 3")),
        c.execute(text(f"UPDATE audit_log SET subject = 'segment:{2:064x}' WHERE seq = 4")),
        c.execute(text(f"UPDATE audit_log SET subject = 'segment:{3:064x}' WHERE seq = 3")),
    ),
    "rolled-back checkpoint": lambda c: c.execute(
        text(
            "INSERT INTO audit_checkpoints (size, root, at_ns, signature) "
            "SELECT size, root, at_ns, signature FROM audit_checkpoints WHERE size = 8"
        )
    ),
}


@pytest.mark.parametrize("attack", list(TAMPERING))
def test_verify_fails_after_tampering_in_the_database(log: AuditLog, tmp_path: Path, attack: str) -> None:
    _as_attacker(log, TAMPERING[attack])
    status, line = _verify(log, tmp_path)
    assert status == 1 and line.startswith("audit log: FAILED"), (attack, line)
    assert "\n" not in line
    assert not log.verify().ok


def test_every_append_is_covered_by_a_signed_checkpoint_when_it_returns(log: AuditLog) -> None:
    for i in range(5):
        seq = log.append(AuditEvent("user:1", "login.success", f"user:{i}"))
        latest = log.latest()
        assert latest is not None and latest.size == len(log.entries()) and seq == log.entries()[-1].seq
    assert log.verify().ok


def test_a_log_without_checkpoints_fails_verification(db_url: str, tmp_path: Path) -> None:
    store = MetadataStore(db_url)  # no AuditLog installed: nothing signs (a store used without the server)
    store.append_audit(AuditEvent("user:1", "login.success", "user:1"), 1)
    load_signing_key(tmp_path / "server" / "audit-signing.key")
    r = CliRunner().invoke(
        app, ["audit", "verify", "--db", store.url, "--key", str(tmp_path / "server" / "audit-signing.key")]
    )
    assert (r.exit_code, r.output.strip()) == (
        1,
        "audit log: FAILED, 1 entries but no checkpoint to verify them against",
    )
    store.close()


def test_entries_after_the_newest_checkpoint_fail_verification(log: AuditLog, db_url: str) -> None:
    bare = MetadataStore(db_url, create=False)  # appends that nobody signed: what a forged tail looks like
    bare.append_audit(AuditEvent("user:1", "login.success", "user:1"), 1)
    bare.close()
    assert any("not covered by any signed checkpoint" in p for p in log.verify().problems)


def test_inclusion_proofs_verify_against_the_latest_checkpoint(log: AuditLog) -> None:
    proven = log.prove(log.entries(), lambda e: e.detail.get("participant_id") == "p1")
    assert [p.index for p in proven] == [1, 3, 5, 7, 9, 11]
    assert all(p.checkpoint.size == 12 and p.verifies(log.verify_key) for p in proven)
    assert entry_bytes(proven[0].entry.to_dict()) != entry_bytes(proven[1].entry.to_dict())


def test_the_checkpointer_signs_new_entries_in_the_background(log: AuditLog, db_url: str) -> None:
    bare = MetadataStore(db_url, create=False)  # an appender without a signer (a store used outside the server)
    bare.append_audit(AuditEvent("user:1", "login.success", "user:1"), 1)
    bare.close()
    stop = start_checkpointer(log, interval_s=0.05)
    try:
        for _ in range(100):
            latest = log.latest()
            if latest is not None and latest.size == 13:
                break
            stop.wait(0.05)
    finally:
        stop.set()
    latest = log.latest()
    assert latest is not None and latest.size == 13
    assert log.checkpoint(only_if_new=True) is None
