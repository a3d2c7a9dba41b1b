"""How the service runs uvicorn: httptools' parser, and no access-log line per request unless asked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from workprint.config import ServerSettings
from workprint.errors import ConfigError
from workprint.server.serve import uvicorn_config


def test_uvicorn_config_parses_with_httptools_and_logs_no_requests_by_default() -> None:
    config = uvicorn_config(FastAPI(), "127.0.0.1", 0)
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    assert (config.loop, config.access_log) == ("asyncio", False)
    assert uvicorn_config(FastAPI(), "127.0.0.1", 0, access_log=True).access_log is True


@pytest.mark.parametrize(("raw", "expected"), [("", False), ("0", False), ("1", True)])
def test_access_log_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("WORKPRINT_ACCESS_LOG", raw)
    assert ServerSettings.from_env().access_log is expected
    monkeypatch.delenv("WORKPRINT_ACCESS_LOG")
    assert ServerSettings.from_env().access_log is False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_and_get(home: Path, *flags: str) -> str:
    """Run ``workprint server`` in its own process, make two requests (one a 404), stop it; its log output."""
    port = _free_port()
    args = [sys.executable, "-m", "workprint.cli", "server", "--host", "127.0.0.1", "--port", str(port), *flags]
    env = {**os.environ, "WORKPRINT_HOME": str(home)}
    env.pop("WORKPRINT_ACCESS_LOG", None)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/v1/healthz").status_code == 200
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ConfigError(f"server did not start: {proc.stdout.read() if proc.stdout else b''!r}") from None
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/no-such-page").status_code == 404
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    return output.decode()


def test_workprint_server_writes_no_access_log_unless_asked(tmp_path: Path) -> None:
    quiet = _serve_and_get(tmp_path)
    assert "Uvicorn running on" in quiet  # the server's own messages are still logged
    assert "GET /v1/healthz" not in quiet and "no-such-page" not in quiet
    logged = _serve_and_get(tmp_path, "--access-log")
    assert '"GET /v1/healthz HTTP/1.1" 200' in logged and '"GET /v1/no-such-page HTTP/1.1" 404' in logged
