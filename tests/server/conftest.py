"""Fixtures for the server tests: a ``ServerAPI`` over each metadata backend, its app and an enrolled device."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from server_helpers import FAST_HASHER, MAX_SEGMENT, Cast, Clock, cast, consent_all

from clock_helpers import HISTORIC
from workprint.config import ServerSettings
from workprint.server.api import Enrollment, ServerAPI
from workprint.server.app import create_app
from workprint.store.blobs import LocalBlobStore
from workprint.store.keys import MasterKeyFile
from workprint.store.metadata import MetadataStore


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api(db_url: str, tmp_path: Path, clock: Clock) -> Iterator[ServerAPI]:
    settings = ServerSettings(home=tmp_path, db_url=db_url, max_segment_bytes=MAX_SEGMENT, clock_tolerance_s=HISTORIC)
    store = MetadataStore(db_url)
    keys = MasterKeyFile(tmp_path / "master.key")
    api = ServerAPI(store, LocalBlobStore(tmp_path / "blobs"), keys, settings, clock=clock, password_hasher=FAST_HASHER)
    yield api
    store.close()


@pytest.fixture
def client(api: ServerAPI) -> Iterator[TestClient]:
    # https, so that the client sends the Secure session cookie back.
    with TestClient(create_app(api), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def enrolled(api: ServerAPI) -> Enrollment:
    pid = api.create_participant("Ada")
    e = api.enroll(api.create_enrolment_code(pid), "laptop")
    consent_all(api, e.device_token)
    return e


@pytest.fixture
def people(api: ServerAPI) -> Cast:
    return cast(api)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def provider() -> Iterator[str]:
    """The issuer URL of an OpenID provider running in its own process (nonce required)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "oidc_provider_mock", "-H", "127.0.0.1", "-p", str(port), "-n", "true"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "oidc-provider-mock did not start"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
