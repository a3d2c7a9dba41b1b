"""No consent, no capture — with real input on a real Xvfb through X11Capture and the privacy gate.

For each case (no consent, consent withdrawn, paused, expired consent, outdated notice) a canary is typed with
xdotool into a focused xterm, then consent is made valid again and a marker is typed. The marker arriving proves the
pipeline was live; the canary must be absent from everything the gate let through (searched in the encoded records).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import msgpack
import pytest

from workprint.capture.x11 import X11Capture
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import AgentSettings
from workprint.models import KeyEvent, Scope, to_record
from workprint.privacy.exclusion_step import ExclusionStep
from workprint.privacy.gate import Item, PrivacyGate
from workprint.privacy.notices import Notice
from workprint.privacy.state import record_consent, update_state
from workprint.privacy.watcher import Snapshot, StateWatcher

DAY = 86_400 * 1_000_000_000
SCOPES: tuple[Scope, ...] = ("keys", "mouse", "window_titles", "app_names")
WORKPRINT = str(Path(sys.executable).parent / "workprint")


class Pipeline:
    """X11Capture → PrivacyGate(watcher, exclusions) → a list, as the agent wires it."""

    def __init__(self, home: Path) -> None:
        self.watcher = StateWatcher(home, interval=0.02).start()
        self.gate = PrivacyGate(
            consented=self.watcher.consented, paused=self.watcher.paused, steps=[ExclusionStep(self.watcher.rules)]
        )
        self.out: list[Item] = []
        self.cond = threading.Condition()

    def sink(self, event: object, data: bytes | None) -> None:
        items = self.gate.admit(event, data)  # type: ignore[arg-type]
        with self.cond:
            self.out.extend(items)
            self.cond.notify_all()

    def typed(self) -> str:
        with self.cond:
            return "".join(e.text for e, _ in self.out if isinstance(e, KeyEvent) and e.press)

    def wait_typed(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while text not in self.typed():
                left = deadline - time.monotonic()
                assert left > 0, f"{text!r} never recorded; got {self.typed()[-60:]!r}"
                self.cond.wait(left)

    def blob(self) -> bytes:
        with self.cond:
            return b"".join(msgpack.packb(to_record(e)) + (d or b"") for e, d in self.out)

    def leaked(self, canary: str) -> bool:
        """Whether ``canary`` got through: as typed text (one key per record) or anywhere in the encoded records."""
        return canary in self.typed() or canary.encode() in self.blob()

    def wait_snapshot(self, pred: Callable[[Snapshot], bool], timeout: float = 1.0) -> float:
        """Wait until the watcher's snapshot satisfies ``pred``; returns how long it took (the bound is 1 s)."""
        t0 = time.monotonic()
        while not pred(self.watcher.snapshot):
            assert time.monotonic() - t0 < timeout, f"watcher did not follow within {timeout} s"
            time.sleep(0.005)
        return time.monotonic() - t0


@pytest.fixture(scope="module")
def desk() -> Iterator[tuple[VirtualDisplay, Callable[[str], None]]]:
    with VirtualDisplay(1024, 700) as vd:
        proc = subprocess.Popen(["xterm", "-T", "notes", "-geometry", "80x20+10+10", "-e", "cat"], env=vd.env)
        subprocess.run(["xdotool", "search", "--sync", "--name", "^notes$"], env=vd.env, check=True, timeout=15)
        wid = subprocess.run(
            ["xdotool", "search", "--name", "^notes$"], env=vd.env, capture_output=True, text=True, check=True
        ).stdout.split()[0]
        subprocess.run(["xdotool", "windowactivate", "--sync", wid], env=vd.env, check=True, timeout=15)

        def type_text(text: str) -> None:
            subprocess.run(["xdotool", "type", "--delay", "2", text], env=vd.env, check=True, timeout=30)

        yield vd, type_text
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture
def run(
    desk: tuple[VirtualDisplay, Callable[[str], None]], tmp_path: Path
) -> Iterator[tuple[Pipeline, Callable[[str], None], Path]]:
    vd, type_text = desk
    pipe = Pipeline(tmp_path)
    cap = X11Capture(vd.display, pipe.sink, AgentSettings(home=tmp_path, frame_format="jpeg"))
    cap.start()
    yield pipe, type_text, tmp_path
    cap.stop()
    pipe.watcher.stop()


def grant_now(home: Path) -> None:
    record_consent(home, "grant", SCOPES, time.time_ns())


def test_nothing_is_recorded_without_consent(run: tuple[Pipeline, Callable[[str], None], Path]) -> None:
    pipe, type_text, home = run
    type_text("qzcanaryNONE")
    grant_now(home)
    pipe.wait_snapshot(lambda s: "keys" in s.consented)
    type_text("okmark1")
    pipe.wait_typed("okmark1")
    assert not pipe.leaked("qzcanary")


def test_withdrawn_scope_stops_within_a_second(run: tuple[Pipeline, Callable[[str], None], Path]) -> None:
    pipe, type_text, home = run
    grant_now(home)
    pipe.wait_snapshot(lambda s: "keys" in s.consented)
    type_text("before1")
    pipe.wait_typed("before1")
    p = subprocess.run([WORKPRINT, "consent", "withdraw", "keys"], env=dict(os.environ, WORKPRINT_HOME=str(home)))
    assert p.returncode == 0
    latency = pipe.wait_snapshot(lambda s: "keys" not in s.consented)
    type_text("qzcanaryWITHDRAWN")
    grant_now(home)
    pipe.wait_snapshot(lambda s: "keys" in s.consented)
    type_text("okmark2")
    pipe.wait_typed("okmark2")
    assert not pipe.leaked("qzcanary")
    assert latency < 1.0


def test_paused_input_never_leaves_the_gate(run: tuple[Pipeline, Callable[[str], None], Path]) -> None:
    pipe, type_text, home = run
    grant_now(home)
    env = dict(os.environ, WORKPRINT_HOME=str(home))
    assert subprocess.run([WORKPRINT, "pause"], env=env, capture_output=True).returncode == 0
    pipe.wait_snapshot(lambda s: s.paused)
    dropped = pipe.gate.dropped
    type_text("qzcanaryPAUSED")
    assert subprocess.run([WORKPRINT, "resume"], env=env, capture_output=True).returncode == 0
    pipe.wait_snapshot(lambda s: not s.paused)
    type_text("okmark3")
    pipe.wait_typed("okmark3")
    assert not pipe.leaked("qzcanary")
    assert pipe.gate.dropped - dropped >= 2 * len("qzcanaryPAUSED")  # dropped at the gate, press and release


def test_expired_consent_records_nothing_until_confirmed(run: tuple[Pipeline, Callable[[str], None], Path]) -> None:
    pipe, type_text, home = run
    record_consent(home, "grant", SCOPES, time.time_ns() - 31 * DAY)  # given 31 days ago: past re-confirmation
    time.sleep(0.1)
    assert pipe.watcher.consented() == frozenset()
    type_text("qzcanaryEXPIRED")
    grant_now(home)
    pipe.wait_snapshot(lambda s: "keys" in s.consented)
    type_text("okmark4")
    pipe.wait_typed("okmark4")
    assert not pipe.leaked("qzcanary")


def test_outdated_notice_records_nothing_until_consent_is_renewed(
    run: tuple[Pipeline, Callable[[str], None], Path],
) -> None:
    pipe, type_text, home = run
    grant_now(home)
    pipe.wait_snapshot(lambda s: "keys" in s.consented)
    new_notice = Notice("2", "Screenshots are now kept for two years.")
    update_state(home, lambda s: replace(s, program=replace(s.program, notice=new_notice)))
    pipe.wait_snapshot(lambda s: s.notice_version == "2" and not s.consented)
    type_text("qzcanaryNOTICE")
    grant_now(home)
    pipe.wait_snapshot(lambda s: "keys" in s.consented)
    type_text("okmark5")
    pipe.wait_typed("okmark5")
    assert not pipe.leaked("qzcanary")
