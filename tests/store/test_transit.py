"""The Vault Transit key provider against a real Vault-API server (OpenBao's ``bao server -dev``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from workprint.errors import ConfigError
from workprint.segment import generate_keypair
from workprint.store.transit import VaultTransitKeys

TOKEN = "root-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def vault_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bao = shutil.which("bao") or str(Path(sys.executable).parent / "bao")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("bao") / "log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [bao, "server", "-dev", f"-dev-root-token-id={TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(log.parent)},
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/sys/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bao did not start: {log.read_text()[-500:]}")
            time.sleep(0.1)
        r = httpx.post(f"{url}/v1/sys/mounts/transit", json={"type": "transit"}, headers={"X-Vault-Token": TOKEN})
        assert r.status_code in (200, 204), r.text
        yield url
    finally:
        proc.kill()
        proc.wait()


def test_participant_key_round_trips_through_transit(vault_url: str) -> None:
    keys = VaultTransitKeys(vault_url, TOKEN, "wp-roundtrip")
    private, _ = generate_keypair()
    wrapped = keys.wrap(private)
    assert private not in wrapped and wrapped.startswith(b"vault:v1:")
    assert keys.unwrap(wrapped) == private


def test_rotation_rewraps_without_touching_the_secret(vault_url: str) -> None:
    keys = VaultTransitKeys(vault_url, TOKEN, "wp-rotate")
    private, _ = generate_keypair()
    old = keys.wrap(private)
    keys.rotate()
    new = keys.rewrap(old)
    assert new.startswith(b"vault:v2:")
    keys.retire_versions_before(2)
    assert keys.unwrap(new) == private
    with pytest.raises(ConfigError, match="vault: cannot unwrap"):
        keys.unwrap(old)


def test_a_wrong_token_is_one_clear_line(vault_url: str) -> None:
    with pytest.raises(ConfigError, match=f"vault: token refused by {vault_url}"):
        VaultTransitKeys(vault_url, "not-the-token")


def test_an_unreachable_vault_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match=r"vault: cannot reach http://127\.0\.0\.1:9"):
        VaultTransitKeys("http://127.0.0.1:9", TOKEN)
