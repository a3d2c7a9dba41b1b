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

from workprint.config import ServerSettings
from workprint.server.serve import build_api

HERE = Path(__file__).parent


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
    return {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **extra}


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
        env={**os.environ, "WORKPRINT_HOME": str(home), **env},
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


def stored_event_counts(settings: ServerSettings) -> Counter[int]:
    """How many times each event's ``t_ns`` appears across every segment the server holds (each one decrypted)."""
    api = build_api(settings)
    try:
        return Counter(e.t_ns for s in api.iter_segments("reliability-test") for e in s.events)
    finally:
        api.metadata.close()
