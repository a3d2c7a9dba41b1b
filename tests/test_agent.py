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
