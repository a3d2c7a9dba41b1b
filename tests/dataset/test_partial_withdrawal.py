"""Partial withdrawal: withdrawing one scope rebuilds the releases holding the participant keeping everything else
of theirs (same pseudonymous id, same actions) and leaves no byte of the withdrawn scope under the release location;
withdrawing every scope, or an erasure, still removes them entirely. On SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dataset_helpers import Tape
from nacl.signing import SigningKey
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from release_helpers import WALL0, header_for, on_wall_clock, session_tape
from test_purge import every_file_holding, steward_grant

from cli_helpers import run
from clock_helpers import HISTORIC
from workprint.config import ServerSettings
from workprint.dataset.consent import LedgerConsent
from workprint.dataset.purge import PurgeRequest, pending, purge_pending
from workprint.dataset.release import ReleaseOptions, build_release
from workprint.dataset.source import ServerSource
from workprint.models import ALL_SCOPES, FrameEvent, WindowEvent
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.privacy.receipts import make_receipt, sign_receipt
from workprint.segment import seal, segment_id
from workprint.server.api import ServerAPI
from workprint.server.consent import consent_of
from workprint.server.serve import build_api
from workprint.store.lineage_tables import LineageStore

FRAME_MARKER = b"zqxframemarkerjv"
ORACLE = "system:test-oracle"  # the test's own audited reads of the raw store
TITLE = "quarterly plan zqxtitlemarker"
OPTS = ReleaseOptions(k=1)


def marked_png(seed: int) -> bytes:
    """A real image whose bytes carry ``FRAME_MARKER`` (in a text chunk, so every copy of the frame holds it)."""
    info = PngInfo()
    info.add_text("comment", FRAME_MARKER.decode())
    out = io.BytesIO()
    Image.new("RGB", (16, 10), (seed * 50 % 256, 80, 120)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


class Participant:
    """A participant with one enrolled device that uploads sessions and later sends consent receipts."""

    def __init__(self, api: ServerAPI, name: str) -> None:
        self.api = api
        self.id = api.create_participant(name)
        enrol = api.enroll(api.create_enrolment_code(self.id), f"{name}-laptop")
        self.public_key = enrol.public_key
        self.device = api.authenticate_device(enrol.device_token)
        self.signing = SigningKey.generate()
        self.consent("grant", ALL_SCOPES, WALL0 - 10**9)

    def consent(self, action: str, scopes: tuple[str, ...], at_ns: int) -> None:
        receipt = make_receipt(DEFAULT_PROGRAM, action, scopes, self.id, at_ns)  # type: ignore[arg-type]
        consent_of(self.api).receive(self.device, sign_receipt(receipt, self.signing).to_dict())

    def upload(self, session: str, tape: Tape, frame_bytes: Any) -> None:
        cut = len(tape.events) // 2
        for i, part in enumerate((tape.events[:cut], tape.events[cut:])):
            ids = [e.frame_id for e in part if isinstance(e, FrameEvent)]
            frames = {f: frame_bytes(i * 10 + n) for n, f in enumerate(ids)}
            part = on_wall_clock(part)
            data = seal(header_for(self.id, session, i, part, device=self.device.id), part, frames, self.public_key)
            assert self.api.ingest(self.device, segment_id(data), data) == "stored"


def plain_png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 10), (seed * 30 % 256, 200, 10)).save(out, format="PNG")
    return out.getvalue()


def corpus(home: Path, db_url: str) -> tuple[ServerSource, LineageStore, Participant, Participant]:
    """Alice (marked frames, a marked window title) and Bob, each with one session, every scope granted."""
    api = build_api(ServerSettings(home=home, db_url=db_url, clock_tolerance_s=HISTORIC))
    alice, bob = Participant(api, "alice"), Participant(api, "bob")
    alice.upload("s1", session_tape(0, word="alicetyped", title=TITLE), marked_png)
    bob.upload("s1", session_tape(1, word="bobtyped", title="bob sheet"), plain_png)
    return ServerSource(api.settings, "steward:test", api=api), LineageStore(api.metadata.engine), alice, bob


def steps(release_dir: Path) -> list[dict[str, Any]]:
    """Every step row of a release version (its Parquet shards)."""
    rows: list[dict[str, Any]] = []
    for f in sorted((release_dir / "data").glob("train-*.parquet")):
        rows += pq.read_table(f).to_pylist()
    return rows


def by_participant(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["participant"], []).append(r)
    return out


def pseudonym_of(rows: list[dict[str, Any]], marker: str) -> str:
    """The pseudonymous id of the participant who typed ``marker``."""
    [pid] = {r["participant"] for r in rows if marker in (r["text"] or "")}
    return pid


def purge_cli(monkeypatch: pytest.MonkeyPatch, home: Path, db_url: str) -> int:
    monkeypatch.setenv("WORKPRINT_DB_URL", db_url)
    monkeypatch.setenv("WORKPRINT_CLOCK_TOLERANCE_S", str(int(HISTORIC)))
    monkeypatch.delenv("WORKPRINT_BLOB_URL", raising=False)
    return run(monkeypatch, "dataset", "purge-pending", "--server-home", str(home))


def test_withdrawing_screenshots_keeps_the_participants_actions_and_leaves_no_byte_of_their_frames(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    source, lineage, alice, bob = corpus(home, db_url)
    api = source.api
    raw_before = {pid: list(api.iter_segments(ORACLE, pid)) for pid in (alice.id, bob.id)}
    old_blobs = [home / "server" / "blobs" / r.blob_key for r in api.metadata.segments(alice.id)]
    assert all(b.exists() for b in old_blobs) and any(s.frames for s in raw_before[alice.id])
    out = home / "releases"
    build_release(source, out, "rel", options=OPTS, lineage=lineage)
    before = by_participant(steps(out / "rel" / "v0001"))
    alice_pid = pseudonym_of(steps(out / "rel" / "v0001"), "alicetyped")
    assert every_file_holding(out, FRAME_MARKER)  # the marker really is in the release files
    assert all(r["image"] is not None for r in before[alice_pid] if r["action"] == "click")

    alice.consent("withdraw", ("screenshots",), WALL0 + 10**12)
    [request] = consent_of(source.api).erasure_requests(alice.id)
    assert request.scopes == ("screenshots",) and request.done_at is None
    assert purge_cli(monkeypatch, home, db_url) == 0

    assert every_file_holding(out, FRAME_MARKER) == []
    assert not (out / "rel" / "v0001").exists()
    after = by_participant(steps(out / "rel" / "v0002"))
    assert set(after) == set(before)  # alice is still there, under the same pseudonymous id
    assert f"{alice.id}: purged rel v1; rebuilt rel v2 without screenshots (in time)" in " ".join(
        capsys.readouterr().out.split()
    )
    assert [(r["action"], r["code"], r["text"]) for r in after[alice_pid]] == [
        (r["action"], r["code"], r["text"]) for r in before[alice_pid]
    ]
    assert {r["image"] for r in after[alice_pid]} == {None}
    bob_pid = next(p for p in after if p != alice_pid)
    assert after[bob_pid] == before[bob_pid]  # everyone else is untouched, images included
    assert {r.participant_id for r in lineage.examples("rel", 2)} == {alice.id, bob.id}
    assert consent_of(source.api).erasure_requests(alice.id)[0].done_at is not None
    assert pending(lineage) == []

    # The raw store: alice's segments were sealed again without any frame, the old ciphertext is gone, bob's are
    # untouched, and every rewrite is in the audit log.
    raw_after = list(api.iter_segments(ORACLE, alice.id))
    assert len(raw_after) == len(raw_before[alice.id]) and not any(b.exists() for b in old_blobs)
    assert all(not s.frames and "screenshots" not in s.header.scopes for s in raw_after)
    assert not any(isinstance(e, FrameEvent) for s in raw_after for e in s.events)
    assert [e for s in raw_after for e in s.events if not isinstance(e, FrameEvent)] == [
        e for s in raw_before[alice.id] for e in s.events if not isinstance(e, FrameEvent)
    ]
    assert [s.header for s in api.iter_segments(ORACLE, bob.id)] == [s.header for s in raw_before[bob.id]]
    erased = [e for e in api.metadata.audit_entries() if e.action == "segment.erase_scopes"]
    assert len(erased) == len(raw_after) and {e.actor for e in erased} == {"steward:purge"}
    assert purge_cli(monkeypatch, home, db_url) == 0  # nothing left to do: nothing changes
    assert [s.header for s in api.iter_segments(ORACLE, alice.id)] == [s.header for s in raw_after]


def test_withdrawing_window_titles_blanks_only_that_participants_titles(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    source, lineage, alice, _bob = corpus(home, db_url)
    out = home / "releases"
    build_release(source, out, "rel", options=OPTS, lineage=lineage)
    alice_pid = pseudonym_of(steps(out / "rel" / "v0001"), "alicetyped")
    assert every_file_holding(out, TITLE.encode())

    alice.consent("withdraw", ("window_titles",), WALL0 + 10**12)
    assert purge_cli(monkeypatch, home, db_url) == 0

    assert every_file_holding(out, TITLE.encode()) == []
    after = by_participant(steps(out / "rel" / "v0002"))
    assert {r["title"] for r in after[alice_pid]} == {""}
    assert any(r["image"] is not None for r in after[alice_pid])  # her frames stay: she withdrew titles only
    assert {r["title"] for p, rows in after.items() if p != alice_pid for r in rows} == {"bob sheet"}
    assert "alicetyped" in "".join(r["text"] or "" for r in after[alice_pid])
    windows = [e for s in source.api.iter_segments(ORACLE, alice.id) for e in s.events if isinstance(e, WindowEvent)]
    assert windows and {(w.title, w.app) for w in windows} == {("", "gedit")}


def test_withdrawing_keys_drops_typed_text_but_keeps_clicks(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    source, lineage, _alice, bob = corpus(home, db_url)
    out = home / "releases"
    # Each episode has one click left without keys: keep one-action episodes so the clicks can be compared.
    single = ReleaseOptions(replace(OPTS.episodes, min_actions=1), k=1)
    build_release(source, out, "rel", options=single, lineage=lineage)
    bob_pid = pseudonym_of(steps(out / "rel" / "v0001"), "bobtyped")
    clicks = [r["code"] for r in by_participant(steps(out / "rel" / "v0001"))[bob_pid] if r["action"] == "click"]
    # No consent ledger at all (allow_all): the purge itself enforces the scopes it removes.
    results = purge_pending(lineage, source, withdrawals=[PurgeRequest(bob.id, time.time_ns(), frozenset({"keys"}))])
    assert [(r.participant_id, r.scopes, r.purged) for r in results] == [(bob.id, ("keys",), (("rel", 1),))]
    assert every_file_holding(out, b"bobtyped") == []
    after = by_participant(steps(out / "rel" / "v0002"))
    assert [r["action"] for r in after[bob_pid]] == ["click"] * len(clicks)
    assert [r["code"] for r in after[bob_pid]] == clicks


def test_withdrawing_every_scope_or_erasure_still_removes_the_participant_entirely(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    source, lineage, alice, bob = corpus(home, db_url)
    out = home / "releases"
    build_release(source, out, "rel", options=OPTS, lineage=lineage)
    alice.consent("withdraw", ("screenshots",), WALL0 + 10**12)
    alice.consent("withdraw", ALL_SCOPES, WALL0 + 2 * 10**12)  # two requests: the union is everything
    assert purge_cli(monkeypatch, home, db_url) == 0
    assert f"{alice.id}: purged rel v1; rebuilt rel v2 (in time)" in " ".join(capsys.readouterr().out.split())
    assert {r.participant_id for r in lineage.examples("rel", 2)} == {bob.id}
    assert every_file_holding(out, FRAME_MARKER) == [] and every_file_holding(out, b"alicetyped") == []
    assert all(r.done_at is not None for r in consent_of(source.api).erasure_requests(alice.id))
    assert source.api.metadata.segments(alice.id) == []  # every scope withdrawn: nothing recorded before is kept

    source.api.erase_participant(bob.id)
    [result] = purge_pending(lineage, source, consented=LedgerConsent(consent_of(source.api).ledger, time.time_ns()))
    assert (result.participant_id, result.full, result.purged) == (bob.id, True, (("rel", 2),))
    assert lineage.examples("rel", 3) == []


def test_a_withdrawn_scope_stays_unconsented_for_earlier_recordings_after_a_new_grant(
    tmp_path: Path, db_url: str
) -> None:
    home = tmp_path / "home"
    source, lineage, alice, _bob = corpus(home, db_url)
    alice.consent("withdraw", ("screenshots",), WALL0 + 10**12)
    alice.consent("grant", ("screenshots",), WALL0 + 2 * 10**12)  # granted again: covers new recordings only
    check = LedgerConsent(consent_of(source.api).ledger, time.time_ns())
    build_release(source, tmp_path / "out", "rel", options=OPTS, lineage=lineage, consented=check)
    assert every_file_holding(tmp_path / "out", FRAME_MARKER) == []
    assert check(alice.id, "screenshots", WALL0, WALL0 + 10**9, "1") is False
    assert check(alice.id, "keys", WALL0, WALL0 + 10**9, "1") is True
    assert check(alice.id, "screenshots", WALL0 + 3 * 10**12, WALL0 + 3 * 10**12 + 10**9, "1") is True


def test_a_stewards_grant_read_leaves_out_a_scope_withdrawn_since_even_before_the_purge(
    tmp_path: Path, db_url: str
) -> None:
    source, _lineage, alice, bob = corpus(tmp_path / "home", db_url)
    api = source.api
    _, grant_id, _, token = steward_grant(api)
    steward = api.identity.principal_from_api_token(token)
    recs = api.metadata.segments(alice.id)
    assert any(api.access.read_with_grant(steward, grant_id, r.id).frames for r in recs)
    alice.consent("withdraw", ("screenshots",), WALL0 + 10**12)
    read = [api.access.read_with_grant(steward, grant_id, r.id) for r in recs]
    assert all(not s.frames and "screenshots" not in s.header.scopes for s in read)
    assert not any(isinstance(e, FrameEvent) for s in read for e in s.events)
    assert any(e.KIND == "key" for s in read for e in s.events)  # her other scopes are still there
    bobs = [api.access.read_with_grant(steward, grant_id, r.id) for r in api.metadata.segments(bob.id)]
    assert any(s.frames for s in bobs)
    alice.consent("withdraw", ALL_SCOPES, WALL0 + 2 * 10**12)
    read = [api.access.read_with_grant(steward, grant_id, r.id) for r in recs]
    assert all(s.header.scopes == () and s.events == () and not s.frames for s in read)
