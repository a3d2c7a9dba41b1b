"""Lineage and erasure: every example is traced to its participant and segment; erasing someone rebuilds every
release that held them and leaves no byte of their typed data under the data directory or the blob store."""

from __future__ import annotations

from pathlib import Path

import pytest
from release_helpers import jsonl, server, session_tape, upload

from account_helpers import admins, staff
from cli_helpers import run
from clock_helpers import HISTORIC
from workprint.config import ServerSettings
from workprint.dataset.purge import pending, purge_pending
from workprint.dataset.release import ReleaseOptions, build_release
from workprint.dataset.source import ServerSource
from workprint.server.api import ServerAPI
from workprint.server.consent import consent_of
from workprint.store.lineage_tables import LineageStore

MARKER = "zqxmarkerjv"
OPTS = ReleaseOptions(k=1)


def every_file_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def corpus_on_server(home: Path) -> tuple[ServerSource, LineageStore, str, str]:
    api = server(home)
    alice = upload(api, "alice", [("s1", session_tape(0, word=MARKER)), ("s2", session_tape(1, word="plain"))])
    bob = upload(api, "bob", [("s1", session_tape(2, word="bobword"))])
    source = ServerSource(api.settings, "steward:test", api=api)
    return source, LineageStore(api.metadata.engine), alice, bob


def test_lineage_maps_every_example_to_participant_segment_and_notice(tmp_path: Path) -> None:
    source, lineage, alice, bob = corpus_on_server(tmp_path / "home")
    report = build_release(source, tmp_path / "home" / "releases", "rel", options=OPTS, lineage=lineage,
                           receipt_of=lambda p, n: f"receipt-{p[:4]}-{n}")  # fmt: skip
    rows = lineage.examples("rel", 1)
    task_ids = {e["task_id"] for e in jsonl(tmp_path / "home" / "releases" / "rel" / "v0001" / "agentnet.jsonl")}
    assert {r.example_id for r in rows} == task_ids and report.episodes == 6
    segs = {r.id: r.participant_id for r in source.api.metadata.segments()}
    assert all(segs[r.segment_id] == r.participant_id for r in rows)
    assert {r.participant_id for r in rows} == {alice, bob}
    assert {(r.consent_receipt, r.notice_version) for r in rows if r.participant_id == bob} == {
        (f"receipt-{bob[:4]}-1", "1")
    }
    reads = [e for e in source.api.metadata.audit_entries() if e.action == "segment.read"]
    assert len(reads) == 6 and {e.actor for e in reads} == {"steward:test"}
    granted = ServerSource(source.api.settings, "steward:test", api=source.api, grant_id="grant-7")
    build_release(granted, tmp_path / "g", "rel", options=OPTS)
    reads = [e for e in source.api.metadata.audit_entries() if e.action == "segment.read"]
    assert len(reads) == 12 and {e.detail.get("grant_id") for e in reads[6:]} == {"grant-7"}


def test_erasure_rebuilds_the_release_and_leaves_no_byte_of_the_marker(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source, lineage, alice, bob = corpus_on_server(home)
    out = home / "releases"
    build_release(source, out, "rel", options=OPTS, lineage=lineage)
    build_release(source, out, "other", options=OPTS, lineage=lineage)
    assert every_file_holding(out, MARKER.encode())  # the marker is really in the releases
    source.api.erase_participant(alice)
    assert [r.participant_id for r in pending(lineage)] == [alice]
    results = purge_pending(lineage, source)
    assert [(r.participant_id, r.overdue) for r in results] == [(alice, False)]
    assert results[0].purged == (("other", 1), ("rel", 1))
    assert [(x.release_id, x.version, x.participants) for x in results[0].rebuilt] == [("other", 2, 1), ("rel", 2, 1)]
    assert every_file_holding(tmp_path, MARKER.encode()) == []
    assert not (out / "rel" / "v0001").exists()
    assert {r.participant_id for r in lineage.examples("rel", 2)} == {bob}
    assert [r.status for r in lineage.releases_of("rel")] == ["purged", "active"]
    assert pending(lineage) == []


def test_a_withdrawal_request_is_purged_and_late_ones_are_flagged(tmp_path: Path) -> None:
    source, lineage, _alice, bob = corpus_on_server(tmp_path / "home")
    build_release(source, tmp_path / "rel", "rel", options=OPTS, lineage=lineage)
    lineage.request_purge(bob, 0)
    results = purge_pending(lineage, source, deadline_ns=10, clock=lambda: 1_000)
    assert [(r.participant_id, r.overdue) for r in results] == [(bob, True)]
    eps = jsonl(tmp_path / "rel" / "rel" / "v0002" / "agentnet.jsonl")
    assert "bobword" not in str(eps) and len(eps) == 4


def steward_grant(api: ServerAPI) -> list[str]:
    """Two stewards: one asks for a program grant, the other approves it; the requester's token reads under it."""
    admin, admin2 = admins(api)
    a, b = (staff(api, admin, admin2, n, ["steward"]) for n in ("steward-a", "steward-b"))
    g = api.access.request_grant(a, "Build the r1 release for the agent team", "program")
    api.access.approve_grant(b, g.id)
    return ["--grant", g.id, "--token", api.identity.create_api_token(a, "build")]


def test_cli_builds_a_release_then_purge_pending_processes_an_erasure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    source, _lineage, alice, _bob = corpus_on_server(home)
    monkeypatch.delenv("WORKPRINT_DB_URL", raising=False)
    monkeypatch.delenv("WORKPRINT_BLOB_URL", raising=False)
    monkeypatch.setenv("WORKPRINT_CLOCK_TOLERANCE_S", str(int(HISTORIC)))  # the corpus is dated in the past
    grant = steward_grant(source.api)
    assert run(monkeypatch, "dataset", "build", "--release", "r1", "--server-home", str(home), "--k", "1", *grant) == 0
    out = capsys.readouterr().out
    assert f"release: {home / 'releases' / 'r1' / 'v0001'}" in out and "episodes" in out
    source.api.erase_participant(alice)
    assert run(monkeypatch, "dataset", "purge-pending", "--server-home", str(home)) == 0
    out = capsys.readouterr().out
    assert f"{alice}: purged r1 v1; rebuilt r1 v2 (in time)" in " ".join(out.split())
    assert every_file_holding(home, MARKER.encode()) == []
    assert ServerSettings(home=home).server_dir.exists()


def test_cli_build_exits_non_zero_naming_a_corrupt_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    source, _, alice, _ = corpus_on_server(home)
    bad = source.api.metadata.segments(alice)[0]
    blob = home / "server" / "blobs" / bad.blob_key
    blob.write_bytes(blob.read_bytes()[:-40])  # truncated on disk
    grant = steward_grant(source.api)
    code = run(monkeypatch, "dataset", "build", "--release", "r1", "--server-home", str(home), "--k", "1", *grant)
    captured = capsys.readouterr()
    assert code == 2
    why = "quarantined (stored blob does not match its hash"
    assert f"skipped segment {bad.id}: Unprocessable: segment {bad.id}: {why}" in " ".join(captured.err.split())
    assert "episodes" in captured.out


def test_the_consent_ledger_decides_at_build_time_withdrawn_screenshots_give_no_frames(tmp_path: Path) -> None:
    import time

    from workprint.dataset.consent import LedgerConsent
    from workprint.server.consent import consent_of

    api = server(tmp_path / "home")
    alice = upload(api, "alice", [("s1", session_tape(0))], withdraw=("screenshots",))
    bob = upload(api, "bob", [("s1", session_tape(1))])
    carol = upload(api, "carol", [("s1", session_tape(2))], withdraw=("keys", "mouse", "screenshots", "window_titles",
                                                                      "app_names"))  # fmt: skip
    source = ServerSource(api.settings, "steward:test", api=api)
    lineage = LineageStore(api.metadata.engine)
    check = LedgerConsent(consent_of(api).ledger, time.time_ns())
    report = build_release(source, tmp_path / "out", "rel", options=OPTS, lineage=lineage, consented=check)
    eps = jsonl(tmp_path / "out" / "rel" / "v0001" / "agentnet.jsonl")
    by_participant = {r.example_id: r.participant_id for r in lineage.examples("rel", 1)}
    images = {by_participant[e["task_id"]]: {s["image"] for s in e["traj"]} for e in eps}
    assert set(images) == {alice, bob} and report.participants == 2
    assert images[alice] == {None} and None not in images[bob]
    assert carol not in by_participant.values()


def test_cli_build_refuses_without_a_grant_and_under_an_unapproved_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    source, _, _, _ = corpus_on_server(home)
    base = ["dataset", "build", "--release", "r1", "--server-home", str(home)]
    assert run(monkeypatch, *base) == 1
    assert "--grant: raw data is read only under a grant approved by a second steward" in capsys.readouterr().err
    grant = steward_grant(source.api)
    pending_grant = source.api.access.request_grant(
        source.api.identity.principal_from_api_token(grant[3]), "Another release nobody approved", "program"
    )
    reads = len([e for e in source.api.metadata.audit_entries() if e.action == "segment.read"])
    assert run(monkeypatch, *base, "--grant", pending_grant.id, "--token", grant[3]) == 1
    assert "not approved, expired or revoked" in " ".join(capsys.readouterr().err.split())
    assert len([e for e in source.api.metadata.audit_entries() if e.action == "segment.read"]) == reads
    assert not (home / "releases" / "r1").exists()


def test_purge_pending_carries_out_the_servers_withdrawal_erasure_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    api = server(home)
    upload(api, "alice", [("s1", session_tape(0, word="plain"))])
    bob = upload(api, "bob", [("s1", session_tape(2, word="bobword"))], withdraw=("keys",))
    source = ServerSource(api.settings, "steward:test", api=api)
    lineage = LineageStore(api.metadata.engine)
    build_release(source, home / "releases", "rel", options=OPTS, lineage=lineage)  # built before the purge ran
    assert every_file_holding(home / "releases", b"bobword")
    [request] = consent_of(api).erasure_requests(bob)
    assert request.done_at is None
    monkeypatch.delenv("WORKPRINT_DB_URL", raising=False)
    monkeypatch.delenv("WORKPRINT_BLOB_URL", raising=False)
    assert run(monkeypatch, "dataset", "purge-pending", "--server-home", str(home)) == 0
    assert f"{bob}: purged rel v1; rebuilt rel v2 without keys (in time)" in " ".join(capsys.readouterr().out.split())
    assert every_file_holding(home / "releases", b"bobword") == []
    assert consent_of(api).erasure_requests(bob)[0].done_at is not None
