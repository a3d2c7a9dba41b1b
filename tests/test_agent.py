"""The agent as a participant runs it: ``workprint record`` in its own process on a real Xvfb, killed with -9."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from workprint.audit.witness import DEVICE_FILE, load_witnessed
from workprint.capture.xvfb import VirtualDisplay
from workprint.config import ServerSettings
from workprint.device import DeviceRecord
from workprint.models import ALL_SCOPES, KeyEvent
from workprint.privacy.state import record_consent
from workprint.server.api import ServerAPI
from workprint.server.serve import build_api, serve_in_thread, stop_server
from workprint.transport import enroll

WORKPRINT = [sys.executable, "-m", "workprint.cli"]


@dataclass
class Rig:
    api: ServerAPI
    url: str
    home: Path
    vd: VirtualDisplay

    def env(self, **extra: str) -> dict[str, str]:
        return {**self.vd.env, "WORKPRINT_HOME": str(self.home), **extra}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    api = build_api(ServerSettings(home=tmp_path / "server-home"))
    server, thread, url = serve_in_thread(api)
    home = tmp_path / "device"
    pid = api.create_participant("p")
    e = enroll(url, api.create_enrolment_code(pid), "laptop")
    DeviceRecord(url, e.participant_id, e.device_id, e.device_token, e.public_key, e.notice_version).save(
        home / "device.json"
    )
    record_consent(home, "grant", ALL_SCOPES, time.time_ns())
    with VirtualDisplay() as vd:
        term = subprocess.Popen(["xterm", "-T", "typing", "-e", "cat"], env=vd.env)
        try:
            yield Rig(api, url, home, vd)
        finally:
            term.kill()
            term.wait()
    stop_server(server, thread)


def _wait_recording(proc: subprocess.Popen[str], home: Path) -> None:
    deadline = time.monotonic() + 20
    while not list((home / "spool").glob("*.wpj")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "agent did not start recording"
        time.sleep(0.05)


def _sealed_ids(home: Path) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in (home / "spool" / "sealed").glob("*") if p.is_file()}


def test_kill_9_mid_session_loses_no_sealed_segment_and_uploads_none_twice(rig: Rig) -> None:
    env = rig.env(WORKPRINT_SEGMENT_MAX_S="1")
    agent = subprocess.Popen([*WORKPRINT, "record"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_recording(agent, rig.home)
    subprocess.run(["xdotool", "search", "--name", "typing", "windowactivate", "--sync"], env=rig.vd.env, check=True)
    typed = ""
    deadline = time.monotonic() + random.uniform(3.0, 5.0)
    n = 0
    while time.monotonic() < deadline:
        line = f"line{n} "
        subprocess.run(["xdotool", "type", "--delay", "15", line], env=rig.vd.env, check=True)
        subprocess.run(["xdotool", "key", "Return"], env=rig.vd.env, check=True)
        typed += line
        n += 1
    time.sleep(random.uniform(0.0, 1.0))
    agent.send_signal(signal.SIGKILL)
    agent.wait()

    waiting = _sealed_ids(rig.home)
    before = {r.id for r in rig.api.metadata.segments()}
    assert waiting or before, "nothing was sealed before the kill"

    restarted = subprocess.run(
        [*WORKPRINT, "record", "--duration", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert restarted.returncode == 0, restarted.stderr
    flushed = subprocess.run([*WORKPRINT, "upload"], env=env, capture_output=True, text=True, timeout=60)
    assert flushed.returncode == 0, flushed.stderr

    rows = rig.api.metadata.segments()
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids))
    assert len({(r.session, r.seq) for r in rows}) == len(rows), "a segment was stored twice under two ids"
    assert waiting <= set(ids), "a segment sealed before the kill never reached the server"
    assert before <= set(ids)
    assert not _sealed_ids(rig.home), "segments still waiting after the restart"

    killed = waiting | before  # sealed before the kill: their session is the killed one (session ids are random)
    first_session = next(r.session for r in rows if r.id in killed)
    text = "".join(
        e.text
        for s in rig.api.iter_segments("test")
        if s.header.session == first_session
        for e in s.events
        if isinstance(e, KeyEvent) and e.press and e.keysym != "Return"
    )
    assert text, "no typing of the killed session reached the server"
    assert typed.startswith(text), (typed[:80], text[:80])
    # The device holds the server to its audit log: it keeps the newest checkpoint it checked, and says so.
    held = load_witnessed(rig.home / DEVICE_FILE)
    assert held is not None and held.latest is not None and held.latest.size >= 1
    assert held.public_key == bytes(rig.api.audit_log.verify_key).hex()
    status = subprocess.run([*WORKPRINT, "status"], env=env, capture_output=True, text=True, timeout=60)
    assert "server audit log: OK" in status.stdout, status.stdout


def test_no_display_is_one_line_and_a_non_zero_exit(rig: Rig) -> None:
    env = rig.env()
    env.pop("DISPLAY")
    out = subprocess.run([*WORKPRINT, "record", "--duration", "1"], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["error: DISPLAY: not set"]


def test_unreachable_server_keeps_the_spool_and_says_so(rig: Rig, tmp_path: Path) -> None:
    env = rig.env()
    rec = subprocess.run([*WORKPRINT, "record", "--duration", "1"], env=env, capture_output=True, text=True)
    assert rec.returncode == 0, rec.stderr
    dev = DeviceRecord.load(rig.home / "device.json")
    DeviceRecord("http://127.0.0.1:9", dev.participant_id, dev.device_id, dev.device_token, dev.public_key).save(
        rig.home / "device.json"
    )
    subprocess.run([*WORKPRINT, "record", "--duration", "1"], env=env, capture_output=True, text=True, check=True)
    waiting = _sealed_ids(rig.home)
    assert waiting
    out = subprocess.run([*WORKPRINT, "upload"], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["error: server: cannot reach http://127.0.0.1:9 (connection refused)"]
    assert _sealed_ids(rig.home) == waiting


def test_not_enrolled_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "WORKPRINT_HOME": str(tmp_path)}
    out = subprocess.run([*WORKPRINT, "record"], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip().startswith("error: device: not enrolled")


def _dense_terminal(rig: Rig, title: str) -> subprocess.Popen[bytes]:
    """An xterm full of text (a long directory listing), then echoing what is typed: a text-heavy screen."""
    script = "ls -la /usr/lib /usr/bin /usr/share | head -300; exec cat"
    term = subprocess.Popen(["xterm", "-T", title, "-geometry", "160x48+0+0", "-e", "sh", "-c", script], env=rig.vd.env)
    deadline = time.monotonic() + 10
    while subprocess.run(["xdotool", "search", "--name", title], env=rig.vd.env, capture_output=True).returncode:
        assert time.monotonic() < deadline, "the terminal did not open"
        time.sleep(0.05)
    subprocess.run(["xdotool", "search", "--name", title, "windowactivate", "--sync"], env=rig.vd.env, check=True)
    return term


def _typed_text(rig: Rig) -> str:
    return "".join(
        e.text
        for s in rig.api.iter_segments("test")
        for e in s.events
        if isinstance(e, KeyEvent) and e.press and e.text and e.keysym not in ("Return", "Redacted")
    )


def test_sigint_during_typing_on_a_text_heavy_screen_stops_within_2_s_and_keeps_every_key(rig: Rig) -> None:
    term = _dense_terminal(rig, "dense")
    try:
        agent = subprocess.Popen([*WORKPRINT, "record"], env=rig.env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        _wait_recording(agent, rig.home)
        lines = [f"status report {n} for the quarterly review" for n in range(12)]
        for line in lines:  # each Return starts a new run: a frame, and a changed screen, per line
            subprocess.run(["xdotool", "type", "--delay", "12", line], env=rig.vd.env, check=True)
            subprocess.run(["xdotool", "key", "Return"], env=rig.vd.env, check=True)
        time.sleep(0.05)  # the last keys reach the recorder (RECORD delivers within milliseconds)
        t0 = time.monotonic()
        agent.send_signal(signal.SIGINT)
        _, err = agent.communicate(timeout=30)
        stopped = time.monotonic() - t0
    finally:
        term.kill()
        term.wait()
    assert agent.returncode == 0, err
    assert stopped <= 2.0, f"stop took {stopped:.2f} s"
    assert _typed_text(rig) == "".join(lines)  # every key typed before the signal, in order


def test_frames_beyond_the_backlog_cap_are_dropped_and_counted_never_keys_clicks_or_unredacted(rig: Rig) -> None:
    from workprint.agent import Agent
    from workprint.config import AgentSettings
    from workprint.models import ButtonEvent, FrameEvent
    from workprint.privacy.redact.image import ImageRedactor

    marker = b"redacted-by-the-slow-test-redactor"

    class SlowRedactor(ImageRedactor):
        """OCR made artificially slow (our own boundary): 0.4 s a frame, and a mark on what it returns."""

        def __call__(self, frame: FrameEvent, data: bytes, title: str, known: object = ()) -> bytes:
            time.sleep(0.4)
            return marker

    settings = AgentSettings(home=rig.home, frame_queue_max=3, frame_queue_max_s=2.0)
    agent = Agent(settings, DeviceRecord.load(rig.home / "device.json"), display=rig.vd.display, auto_pause=False)
    agent.images = SlowRedactor()
    term = _dense_terminal(rig, "clicks")
    agent.start()
    try:
        for n in range(30):  # 30 clicks at ~10/s, each with a frame: far more than 0.4 s of OCR each can follow
            x, y = 100 + (n % 10) * 60, 100 + (n // 10) * 80
            subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "1"], env=rig.vd.env, check=True)
            subprocess.run(["xdotool", "type", "--delay", "5", f"k{n} "], env=rig.vd.env, check=True)
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        agent.stop()
        term.kill()
        term.wait()
    assert agent.stats.frames_dropped_backlog > 0
    segments = list(rig.api.iter_segments("test"))
    events = [e for s in segments for e in s.events]
    presses = [e for e in events if isinstance(e, ButtonEvent) and e.press and e.button == 1]
    assert len(presses) == 30  # every click kept
    assert _typed_text(rig) == "".join(f"k{n} " for n in range(30))  # every key kept
    frames = [s.frames.get(e.frame_id) for s in segments for e in s.events if isinstance(e, FrameEvent)]
    assert frames and all(data == marker for data in frames)  # no frame was written without passing redaction
    assert len(frames) + agent.stats.frames_dropped_backlog + agent.redactor.frames_dropped >= 30
