"""An insider with database and disk access rewrites the audit log; checkpoints held outside the server catch it.

Each attack is played as the insider would: drop the append-only triggers, change rows, let the server go on
signing (or re-sign everything with a new key). The server's own ``audit verify`` may then pass; a device's saved
checkpoint (``advance``, as the agent runs it at each sync), ``workprint audit witness`` and ``audit verify
--against`` must not. SQLite and PostgreSQL; the HTTP path runs a real server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy import text
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

from workprint.audit.log import AuditLog
from workprint.audit.signing import load_signing_key
from workprint.audit.witness import (
    DEVICE_FILE,
    PROBLEM_FILE,
    Witnessed,
    advance,
    check_on_device,
    device_problem,
    load_witnessed,
    save_witnessed,
)
from workprint.cli.main import _register, app
from workprint.config import ServerSettings
from workprint.errors import AuditMismatch, AuditUnavailable
from workprint.store import tables
from workprint.store.metadata import MetadataStore
from workprint.store.records import AuditEvent
from workprint.transport.http import fetch_audit_head

_register([])


@dataclass
class Server:
    store: MetadataStore
    log: AuditLog
    key_file: Path

    def append(self, n: int, actor: str = "user:7") -> None:
        for i in range(n):
            self.log.append(AuditEvent(actor, "segment.read", f"segment:{i:064x}", {"participant_id": "p1"}))


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    store = MetadataStore(db_url)
    key_file = tmp_path / "server" / "audit-signing.key"
    s = Server(store, AuditLog(store, load_signing_key(key_file)), key_file)
    s.append(10)
    yield s
    store.close()


def _witness(s: Server, held: Witnessed | None = None) -> Witnessed:
    """What a device or witness does at each look: the newest head and a proof from the one it holds."""
    since = held.latest.size if held is not None and held.latest is not None else 0
    cp, proof = s.log.head(since)
    return advance(held, bytes(s.log.verify_key).hex(), cp, [bytes.fromhex(p) for p in proof])


def _as_insider(s: Server, change: Callable[[Connection], object]) -> None:
    with s.store.engine.begin() as conn:
        for table in tables.APPEND_ONLY_TABLES:
            for statement in tables.drop_append_only_statements(s.store.backend, table):
                conn.exec_driver_sql(statement)
        change(conn)


def _max_seq(s: Server) -> int:
    return s.log.entries()[-1].seq


def _verify(s: Server, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["audit", "verify", "--db", s.store.url, *args])
    # An expected error (bad input) reaches the CLI's entry point, which prints it as one line and exits 1.
    return r.exit_code, (r.output or str(r.exception or "")).strip()


def _fresh(s: Server) -> AuditLog:
    """The server after a restart (no in-memory tree from before the tampering)."""
    return AuditLog(s.store, load_signing_key(s.key_file))


def test_an_honest_log_extends_every_held_checkpoint(server: Server, tmp_path: Path) -> None:
    held = _witness(server)
    server.append(7)
    held = _witness(server, held)
    server.append(1)
    held = _witness(server, held)
    assert [c.size for c in held.checkpoints] == [10, 17, 18]
    save_witnessed(tmp_path / "w.json", held)
    code, line = _verify(server, "--against", str(tmp_path / "w.json"))
    assert code == 0 and "extends the 3 witnessed" in line, line


def _delete_tail(s: Server) -> None:
    # The newest three entries and every checkpoint covering any of them: the rest is a valid, shorter log.
    last, size = _max_seq(s), len(s.log.entries())
    _as_insider(s, lambda c: (
        c.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": last - 3}),
        c.execute(text("DELETE FROM audit_checkpoints WHERE size > :n"), {"n": size - 3}),
    ))  # fmt: skip


def _edit_tail(s: Server) -> None:
    # Rewrite the newest entry (someone else read the segment), drop the checkpoint that signed it, let the server
    # sign the edited entry with its next append.
    last = _max_seq(s)
    size = len(s.log.entries())
    _as_insider(s, lambda c: (
        c.execute(text("UPDATE audit_log SET actor = 'user:99' WHERE seq = :s"), {"s": last}),
        c.execute(text("DELETE FROM audit_checkpoints WHERE size >= :n"), {"n": size}),
    ))  # fmt: skip
    s.log = _fresh(s)
    s.append(1)


def _drop_newest_checkpoint(s: Server) -> None:
    # The newest checkpoint and the entries after the one before it.
    cps = s.log.checkpoints()
    before = cps[-2].size
    keep_seq = s.log.entries()[before - 1].seq
    _as_insider(s, lambda c: (
        c.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": keep_seq}),
        c.execute(text("DELETE FROM audit_checkpoints WHERE size > :n"), {"n": before}),
    ))  # fmt: skip


def _resign_with_new_key(s: Server) -> None:
    # Disk access: edit an old entry, delete every checkpoint, replace the key file and re-sign from scratch.
    victim = s.log.entries()[2].seq
    _as_insider(s, lambda c: (
        c.execute(text("UPDATE audit_log SET actor = 'user:99' WHERE seq = :s"), {"s": victim}),
        c.execute(text("DELETE FROM audit_checkpoints")),
    ))  # fmt: skip
    s.key_file.unlink()
    s.log = AuditLog(s.store, load_signing_key(s.key_file))  # a new key, created because the file is gone
    s.log.checkpoint()


def _fork(s: Server) -> None:
    # Another history from entry 5 on, longer than the one witnessed, signed with the real key.
    keep = s.log.entries()[4].seq
    _as_insider(s, lambda c: (
        c.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": keep}),
        c.execute(text("DELETE FROM audit_checkpoints WHERE size > 5")),
    ))  # fmt: skip
    s.log = _fresh(s)
    s.append(12, actor="user:3")


ATTACKS: dict[str, Callable[[Server], None]] = {
    "delete the tail": _delete_tail,
    "edit the tail": _edit_tail,
    "drop the newest checkpoint": _drop_newest_checkpoint,
    "re-sign with a new key": _resign_with_new_key,
    "fork": _fork,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_rewritten_log_is_caught_by_checkpoints_held_outside(server: Server, tmp_path: Path, attack: str) -> None:
    held = _witness(server)
    server.append(3)
    held = _witness(server, held)  # the device/witness holds size 13
    save_witnessed(tmp_path / "w.json", held)

    ATTACKS[attack](server)

    with pytest.raises(AuditMismatch) as caught:
        _witness(server, held)
    assert "\n" not in str(caught.value)
    code, line = _verify(server, "--against", str(tmp_path / "w.json"))
    assert code == 1 and line.startswith("audit log: FAILED") and "\n" not in line, (attack, line)
    # What the attack was for: without a held checkpoint the server's own check may well pass.
    if attack == "re-sign with a new key":
        assert _verify(server, "--key", str(server.key_file))[0] == 0


def test_every_entry_is_in_a_signed_checkpoint_before_the_append_returns(server: Server) -> None:
    for _ in range(3):
        server.append(1)
        cp, _ = server.log.head()
        assert cp.size == len(server.log.entries())


def test_a_fresh_server_proves_consistency_from_any_held_size(server: Server) -> None:
    server.append(20)
    log = _fresh(server)
    for since in (1, 2, 7, 16, 29):
        cp, proof = log.head(since)
        assert cp.size == 30 and (proof != [] or since == 30)
        old = Witnessed(bytes(log.verify_key).hex(), (log.checkpoints()[since - 1],))
        assert old.latest is not None and old.latest.size == since
        advance(old, old.public_key, cp, [bytes.fromhex(p) for p in proof])


def test_a_bad_checkpoint_file_is_one_line_naming_the_field(server: Server, tmp_path: Path) -> None:
    bad = tmp_path / "w.json"
    bad.write_text(json.dumps({"public_key": "zz", "checkpoints": []}))
    code, line = _verify(server, "--against", str(bad))
    assert code == 1 and "public_key" in line and "\n" not in line, line
    code, line = _verify(server, "--against", str(tmp_path / "missing.json"))
    assert code == 2 and "no such file" in line


# -- over HTTP: a real server, the witness command and the device's check ------------------------------------------


def test_witness_and_device_catch_a_rollback_over_http(db_url: str, tmp_path: Path) -> None:
    from workprint.server.serve import build_api, serve_in_thread, stop_server

    api = build_api(ServerSettings(home=tmp_path / "srv", db_url=db_url))
    server, thread, url = serve_in_thread(api)
    device_home = tmp_path / "device"
    device_home.mkdir()
    witness_file = tmp_path / "auditor" / "witness.json"
    key = bytes(api.audit_log.verify_key).hex()
    runner = CliRunner()
    try:
        for n in range(6):
            api.audit_log.append(AuditEvent("user:1", "segment.read", f"segment:{n:064x}"))
        assert check_on_device(device_home, lambda since: fetch_audit_head(url, since)) == ""
        r = runner.invoke(app, ["audit", "witness", "--server", url, "--file", str(witness_file), "--key", key])
        assert r.exit_code == 0 and "audit witness: OK" in r.output, r.output
        api.audit_log.append(AuditEvent("user:1", "segment.read", "segment:" + "f" * 64))
        assert check_on_device(device_home, lambda since: fetch_audit_head(url, since)) == ""
        r = runner.invoke(app, ["audit", "witness", "--server", url, "--file", str(witness_file)])
        assert r.exit_code == 0, r.output
        held = load_witnessed(witness_file)
        assert held is not None and [c.size for c in held.checkpoints] == [6, 7]
        device_held = load_witnessed(device_home / DEVICE_FILE)
        assert device_held is not None and len(device_held.checkpoints) == 1

        # The insider drops the newest entry and its checkpoint; the server restarts and goes on.
        store = api.metadata
        last = api.audit_log.entries()[-1].seq
        with store.engine.begin() as conn:
            for table in tables.APPEND_ONLY_TABLES:
                for statement in tables.drop_append_only_statements(store.backend, table):
                    conn.exec_driver_sql(statement)
            conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": last})
            conn.execute(text("DELETE FROM audit_checkpoints WHERE size >= 7"))
        api.audit_log = AuditLog(store, load_signing_key(tmp_path / "srv" / "server" / "audit-signing.key"))

        problem = check_on_device(device_home, lambda since: fetch_audit_head(url, since))
        assert "rolled back from size 7 to 6" in problem and (device_home / PROBLEM_FILE).exists()
        assert device_problem(device_home) == problem  # kept: the agent holds uploads back until someone looks
        r = runner.invoke(app, ["audit", "witness", "--server", url, "--file", str(witness_file)])
        assert r.exit_code == 1 and r.output.startswith("audit witness: FAILED, audit log: rolled back"), r.output
        held_after = load_witnessed(witness_file)
        assert held_after == held  # a failed look changes nothing held
    finally:
        stop_server(server, thread)
        api.metadata.close()


def test_the_witness_refuses_a_key_other_than_the_one_given(db_url: str, tmp_path: Path) -> None:
    from workprint.server.serve import build_api, serve_in_thread, stop_server

    api = build_api(ServerSettings(home=tmp_path / "srv", db_url=db_url))
    server, thread, url = serve_in_thread(api)
    try:
        other = bytes(SigningKey.generate().verify_key).hex()
        r = CliRunner().invoke(
            app, ["audit", "witness", "--server", url, "--file", str(tmp_path / "w.json"), "--key", other]
        )
        assert r.exit_code == 1 and "not the --key given" in r.output and not (tmp_path / "w.json").exists()
    finally:
        stop_server(server, thread)
        api.metadata.close()


# -- the running server refuses to sign over a history edited under it ----------------------------------------------


def test_the_server_will_not_sign_over_a_log_rewritten_under_it(server: Server) -> None:
    victim = server.log.entries()[2].seq
    _as_insider(server, lambda c: (
        c.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": victim}),
        c.execute(text("DELETE FROM audit_checkpoints")),
    ))  # fmt: skip
    before = len(server.log.entries())
    with pytest.raises(AuditUnavailable, match="but this server signed size 10"):
        server.append(1)  # e.g. the next failed login: refused, with nothing signed over the edit
    assert len(server.log.entries()) == before and server.log.checkpoints() == []


def test_the_server_will_not_extend_a_checkpoint_that_is_not_its_own(server: Server) -> None:
    forged = SigningKey.generate().sign(b"x").signature.hex()
    _as_insider(server, lambda c: c.execute(text(
        "INSERT INTO audit_checkpoints (size, root, at_ns, signature, last_seq, frontier) "
        "SELECT size, root, at_ns + 1, :sig, last_seq, frontier FROM audit_checkpoints WHERE size = 10"
    ), {"sig": forged}))  # fmt: skip
    fresh = _fresh(server)  # even a process with no memory of the log checks the newest checkpoint's signature
    with pytest.raises(AuditUnavailable, match="is not ours"):
        fresh.append(AuditEvent("user:1", "login.failure", "user:1"))


def test_the_server_will_not_extend_a_frontier_that_does_not_give_its_root(server: Server) -> None:
    _as_insider(server, lambda c: c.execute(text(
        "UPDATE audit_checkpoints SET frontier = :f WHERE size = 10"), {"f": "00" * 64}))  # fmt: skip
    with pytest.raises(AuditUnavailable, match="do not give its root"):
        _fresh(server).append(AuditEvent("user:1", "login.failure", "user:1"))
