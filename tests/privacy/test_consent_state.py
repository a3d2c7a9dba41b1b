"""The device's privacy state file and the watcher the agent follows it with."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from workprint.errors import ConfigError, ConsentError
from workprint.models import KeyEvent
from workprint.privacy.gate import PrivacyGate
from workprint.privacy.state import (
    DeviceState,
    load_state,
    record_consent,
    state_path,
    toggle_pause,
    update_state,
)
from workprint.privacy.watcher import Snapshot, StateWatcher, recording_status, withdrawn

S = 1_000_000_000
DAY = 86_400 * S


def test_missing_state_means_nothing_consented_and_not_paused(tmp_path: Path) -> None:
    state = load_state(tmp_path)
    assert state.consented(time.time_ns()) == frozenset()
    assert not state.pause.active(time.time_ns())


def test_grant_is_stored_signed_and_survives_reload(tmp_path: Path) -> None:
    now = time.time_ns()
    r = record_consent(tmp_path, "grant", ("keys", "mouse"), now)
    state = load_state(tmp_path)
    assert state.receipts == (r,)
    assert state.consented(now) == {"keys", "mouse"}
    assert (tmp_path / "consent_key").stat().st_mode & 0o777 == 0o600
    assert state_path(tmp_path).stat().st_mode & 0o777 == 0o600


def test_principal_comes_from_the_enrolment_record(tmp_path: Path) -> None:
    (tmp_path / "device.json").write_text(json.dumps({"participant_id": "p-123"}))
    r = record_consent(tmp_path, "grant", ("keys",), time.time_ns())
    assert r.principal_id == "p-123"


def test_hand_edited_receipt_makes_the_state_unreadable(tmp_path: Path) -> None:
    now = time.time_ns()
    record_consent(tmp_path, "grant", ("mouse",), now)
    path = state_path(tmp_path)
    data = json.loads(path.read_text())
    data["receipts"][0]["services"][0]["purposes"][0]["piiCategory"] = ["mouse", "keys"]
    path.write_text(json.dumps(data))
    with pytest.raises(ConsentError, match="signature"):
        load_state(tmp_path)
    before = path.read_bytes()
    with pytest.raises(ConsentError):
        record_consent(tmp_path, "grant", ("keys",), now)
    assert path.read_bytes() == before


def test_failed_change_leaves_the_file_unchanged(tmp_path: Path) -> None:
    update_state(tmp_path, lambda s: s.with_exclusion({"kind": "title", "value": "diary"}))
    before = state_path(tmp_path).read_bytes()
    with pytest.raises(ConfigError, match=r"'\(diary'"):
        update_state(tmp_path, lambda s: s.with_exclusion({"kind": "title", "value": "(diary"}))
    assert state_path(tmp_path).read_bytes() == before
    assert load_state(tmp_path).exclusion_rules().excluded("Gedit", "my diary")


def test_toggle_pause_pauses_then_resumes(tmp_path: Path) -> None:
    now = time.time_ns()
    assert toggle_pause(tmp_path, now).pause.active(now)
    assert not toggle_pause(tmp_path, now + S).pause.active(now + S)


def test_concurrent_writers_lose_no_receipt(tmp_path: Path) -> None:
    def grant_many() -> None:
        for _ in range(10):
            record_consent(tmp_path, "grant", ("keys",), time.time_ns())

    threads = [threading.Thread(target=grant_many) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(load_state(tmp_path).receipts) == 30


def test_watcher_follows_withdrawal_and_pause_within_a_fraction_of_a_second(tmp_path: Path) -> None:
    record_consent(tmp_path, "grant", ("keys", "mouse"), time.time_ns())
    changes: list[tuple[Snapshot, Snapshot, float]] = []
    seen = threading.Event()

    def on_change(old: Snapshot, new: Snapshot) -> None:
        changes.append((old, new, time.monotonic()))
        seen.set()

    watcher = StateWatcher(tmp_path, interval=0.02, on_change=on_change).start()
    try:
        gate = PrivacyGate(consented=watcher.consented, paused=watcher.paused)
        key = KeyEvent(1, 1, True, 38, "a", "a")
        assert gate.admit(key) == [(key, None)]
        seen.clear()
        t0 = time.monotonic()
        record_consent(tmp_path, "withdraw", ("keys",), time.time_ns())
        assert seen.wait(1.0)
        withdraw_latency = changes[-1][2] - t0
        assert changes[-1][0].consented == {"keys", "mouse"} and changes[-1][1].consented == {"mouse"}
        assert gate.admit(key) == []
        seen.clear()
        t0 = time.monotonic()
        update_state(tmp_path, lambda s: s.paused_for(time.time_ns(), None))
        assert seen.wait(1.0)
        pause_latency = changes[-1][2] - t0
        assert watcher.paused()
        assert withdraw_latency < 0.5 and pause_latency < 0.5, (withdraw_latency, pause_latency)
    finally:
        watcher.stop()


def test_watcher_ends_timed_pauses_and_expired_consent_without_file_changes(tmp_path: Path) -> None:
    t0 = time.time_ns()
    record_consent(tmp_path, "grant", ("keys",), t0)
    update_state(tmp_path, lambda s: s.paused_for(t0, 30))
    now = [t0]
    watcher = StateWatcher(tmp_path, clock=lambda: now[0])
    assert watcher.paused() and watcher.consented() == {"keys"}
    now[0] = t0 + 30 * S
    watcher.poll()
    assert not watcher.paused()
    now[0] = t0 + 30 * DAY
    watcher.poll()
    assert watcher.consented() == frozenset()


def test_watcher_fails_closed_on_a_broken_file_and_recovers(tmp_path: Path) -> None:
    record_consent(tmp_path, "grant", ("keys",), time.time_ns())
    update_state(tmp_path, lambda s: s.with_exclusion({"kind": "app", "value": "Gedit"}))
    good = state_path(tmp_path).read_text()
    watcher = StateWatcher(tmp_path)
    assert watcher.consented() == {"keys"}
    state_path(tmp_path).write_text("{ not json")
    snap = watcher.poll()
    assert snap.consented == frozenset() and snap.paused and "not valid JSON" in snap.error
    assert watcher.rules().excluded("Gedit", "x")  # exclusions never shrink on error
    state_path(tmp_path).write_text(good)
    assert watcher.poll().consented == {"keys"}


def test_recording_status_priorities() -> None:
    on = Snapshot(frozenset({"keys"}), False, None, "1")
    assert recording_status(on, False) == "recording"
    assert recording_status(on, True) == "excluded"
    assert recording_status(Snapshot(frozenset(), False, None, "1"), True) == "not_consented"
    assert recording_status(Snapshot(frozenset({"keys"}), True, None, "1"), True) == "paused"


def test_state_round_trips_through_json(tmp_path: Path) -> None:
    record_consent(tmp_path, "grant", ("screenshots",), time.time_ns())
    update_state(tmp_path, lambda s: s.paused_for(time.time_ns(), 60).with_exclusion({"kind": "private"}))
    state = load_state(tmp_path)
    assert isinstance(state, DeviceState)
    again = json.loads(json.dumps(state.to_dict()))
    assert again == json.loads(state_path(tmp_path).read_text())


def test_withdrawn_lists_scopes_that_stopped() -> None:
    old = Snapshot(frozenset({"keys", "mouse"}), False, None, "1")
    assert withdrawn(old, Snapshot(frozenset({"mouse"}), False, None, "1")) == {"keys"}
    assert withdrawn(old, Snapshot(frozenset({"keys", "mouse"}), True, None, "1")) == frozenset()


@pytest.mark.parametrize(
    "module",
    ["durations", "notices", "receipts", "consent", "pause", "exclusions", "exclusion_step", "state", "watcher"],
)
def test_public_api_is_listed_and_importable(module: str) -> None:
    import importlib

    mod = importlib.import_module(f"workprint.privacy.{module}")
    assert mod.__all__
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"


def test_watcher_reports_changes_only_and_survives_a_failing_hook(tmp_path: Path) -> None:
    record_consent(tmp_path, "grant", ("keys",), time.time_ns())
    calls: list[Snapshot] = []

    def hook(old: Snapshot, new: Snapshot) -> None:
        calls.append(new)
        raise RuntimeError("agent bug")

    watcher = StateWatcher(tmp_path, interval=0.01, on_change=hook).start()
    try:
        time.sleep(0.05)
        assert calls == []  # the first reading is not a change
        update_state(tmp_path, lambda s: s.paused_for(time.time_ns(), None))
        deadline = time.monotonic() + 1
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        update_state(tmp_path, lambda s: s.resumed())
        deadline = time.monotonic() + 1
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [c.paused for c in calls] == [True, False]
    finally:
        watcher.stop()
