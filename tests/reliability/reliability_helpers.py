"""Helpers shared by the reliability tests (imported by name: pytest puts this directory on sys.path)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from clock_helpers import HISTORIC_ENV
from workprint.config import ServerSettings
from workprint.server.api import ServerAPI
from workprint.server.serve import build_api

HERE = Path(__file__).parent
WALL0 = 1_700_000_000_000_000_000  # every test event's wall time is after this; consent is given before it


@dataclass(frozen=True)
class Device:
    """An enrolled device of a running server."""

    url: str
    token: str
    participant: str
    device: str
    public_key: bytes


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that imports this directory's modules."""
    path = f"{HERE}{os.pathsep}{HERE.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    return {**os.environ, **HISTORIC_ENV, "PYTHONPATH": path, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int, db_url: str = "", **env: str) -> subprocess.Popen[bytes]:
    """``workprint server`` in its own process; returns once it answers /v1/healthz."""
    args = [sys.executable, "-m", "workprint.cli", "server", "--port", str(port)]
    if db_url:
        args += ["--db", db_url]
    proc = subprocess.Popen(
        args,
        env={**os.environ, **HISTORIC_ENV, "WORKPRINT_HOME": str(home), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    with httpx.Client(trust_env=False) as client:
        while True:
            try:
                if client.get(f"http://127.0.0.1:{port}/v1/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.03)


def consent_all(api: ServerAPI, device_token: str) -> None:
    """The device's participant consents to every scope from before ``WALL0`` (as the agent would at enrolment)."""
    from nacl.signing import SigningKey

    from workprint.models import ALL_SCOPES
    from workprint.privacy.notices import DEFAULT_PROGRAM
    from workprint.privacy.receipts import make_receipt, sign_receipt
    from workprint.server.consent import consent_of

    device = api.authenticate_device(device_token)
    receipt = make_receipt(DEFAULT_PROGRAM, "grant", ALL_SCOPES, device.participant_id, WALL0 - 10**9)
    consent_of(api).receive(device, sign_receipt(receipt, SigningKey.generate()).to_dict())


def stored_event_counts(settings: ServerSettings) -> Counter[int]:
    """How many times each event's ``t_ns`` appears across every segment the server holds (each one decrypted)."""
    api = build_api(settings)
    try:
        return Counter(e.t_ns for s in api.iter_segments("reliability-test") for e in s.events)
    finally:
        api.metadata.close()


def seal_segment(dev: Device, seq: int, n_events: int = 5, frame_bytes: int = 0) -> tuple[str, bytes]:
    """(id, sealed bytes) of a segment of ``dev`` whose events' ``t_ns`` encode ``seq`` (``seq * 1000 + k``)."""
    from workprint.models import FrameEvent, KeyEvent
    from workprint.segment import SegmentHeader, count_kinds, seal, segment_id

    t0 = 1_000_000 + seq * 1000
    w0 = WALL0 + t0
    events: list[KeyEvent | FrameEvent] = [KeyEvent(t0 + k, w0 + k, True, 38, "a", "a") for k in range(n_events)]
    frames = {}
    if frame_bytes:
        events.append(FrameEvent(t0 + n_events, w0 + n_events, f"f{seq}", 640, 400, "webp", "00", 0))
        frames[f"f{seq}"] = os.urandom(frame_bytes)
    header = SegmentHeader(
        participant=dev.participant, device=dev.device, session="load", seq=seq,
        t_start_ns=t0, t_end_ns=events[-1].t_ns, wall_start_ns=w0, wall_end_ns=events[-1].wall_ns,
        scopes=("keys", "screenshots") if frame_bytes else ("keys",), notice_version="1", redactor_version="test",
        counts=count_kinds(events),
    )  # fmt: skip
    data = seal(header, events, frames, dev.public_key)
    return segment_id(data), data
