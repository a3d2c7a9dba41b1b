"""``workprint consent|pause|resume|status|exclude`` as a participant runs them, over the state file only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workprint.privacy.notices import DEFAULT_NOTICE
from workprint.privacy.state import load_state, state_path

WORKPRINT = str(Path(sys.executable).parent / "workprint")  # the installed console script


def wp(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WORKPRINT_HOME=str(home), COLUMNS="80")
    env.pop("DISPLAY", None)
    return subprocess.run([WORKPRINT, *args], env=env, capture_output=True, text=True, timeout=30)


def one_error_line(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_grant_prints_the_notice_and_records_a_signed_receipt(home: Path) -> None:
    p = wp(home, "consent", "grant", "keys", "mouse")
    assert p.returncode == 0, p.stderr
    assert DEFAULT_NOTICE.text.splitlines()[0] in p.stdout
    assert "granted keys, mouse under notice 1" in p.stdout
    state = load_state(home)
    assert state.consented(time.time_ns()) == {"keys", "mouse"}
    show = wp(home, "consent", "show")
    assert show.returncode == 0
    lines = {ln.split()[0]: ln for ln in show.stdout.splitlines() if ln.startswith("  ")}
    assert "granted (until" in lines["keys"] and "not consented (never granted)" in lines["screenshots"]


def test_unknown_scope_is_one_line_and_changes_nothing(home: Path) -> None:
    assert wp(home, "consent", "grant", "mouse").returncode == 0
    before = state_path(home).read_bytes()
    line = one_error_line(wp(home, "consent", "grant", "keys", "microphone"))
    assert "'microphone'" in line
    line = one_error_line(wp(home, "consent", "withdraw", "kees"))
    assert "'kees'" in line
    assert state_path(home).read_bytes() == before


def test_withdraw_all_stops_every_scope(home: Path) -> None:
    assert wp(home, "consent", "grant", "all").returncode == 0
    assert len(load_state(home).consented(time.time_ns())) == 5
    p = wp(home, "consent", "withdraw", "all")
    assert p.returncode == 0, p.stderr
    assert load_state(home).consented(time.time_ns()) == frozenset()
    status = wp(home, "status")
    assert status.stdout.splitlines()[0] == "not consented"
    assert "not consented (withdrawn)" in status.stdout


def test_pause_with_and_without_duration_then_resume(home: Path) -> None:
    wp(home, "consent", "grant", "keys")
    assert wp(home, "status").stdout.splitlines()[0] == "recording"
    p = wp(home, "pause", "1h30m")
    assert p.returncode == 0 and "paused until" in p.stdout
    pause = load_state(home).pause
    assert pause.until_ns is not None and pause.since_ns is not None
    assert pause.until_ns - pause.since_ns == 5400 * 1_000_000_000
    status = wp(home, "status").stdout
    assert status.startswith("paused (until ") and ("1h30m left" in status or "1h29m" in status)
    assert wp(home, "pause").returncode == 0
    assert load_state(home).pause.until_ns is None and load_state(home).pause.paused
    assert wp(home, "resume").returncode == 0
    assert not load_state(home).pause.paused
    assert wp(home, "status").stdout.splitlines()[0] == "recording"


@pytest.mark.parametrize("bad", ["30x", "0s", "1.5h"])
def test_malformed_duration_is_one_line_naming_it_and_state_unchanged(home: Path, bad: str) -> None:
    wp(home, "consent", "grant", "keys")
    before = state_path(home).read_bytes()
    line = one_error_line(wp(home, "pause", bad))
    assert repr(bad) in line and "duration" in line
    assert state_path(home).read_bytes() == before


def test_broken_exclusion_regex_is_refused_and_earlier_rules_kept(home: Path) -> None:
    assert wp(home, "exclude", "add", "site", "Bank of X").returncode == 0
    before = state_path(home).read_bytes()
    line = one_error_line(wp(home, "exclude", "add", "title", "([a-z"))
    assert "'([a-z'" in line
    assert state_path(home).read_bytes() == before
    listing = wp(home, "exclude", "list").stdout
    assert "personal  site 'Bank of X'" in listing and "default   app 'keepassxc'" in listing


def test_tampered_receipt_is_reported_and_nothing_is_recorded(home: Path) -> None:
    wp(home, "consent", "grant", "mouse")
    data = json.loads(state_path(home).read_text())
    data["receipts"][0]["services"][0]["purposes"][0]["piiCategory"] = ["keys", "mouse"]
    state_path(home).write_text(json.dumps(data))
    tampered = state_path(home).read_bytes()
    line = one_error_line(wp(home, "status"))
    assert "signature" in line
    one_error_line(wp(home, "consent", "grant", "keys"))
    assert state_path(home).read_bytes() == tampered
