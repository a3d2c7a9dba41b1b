"""Shared fixtures: metadata backends (``db_url`` runs a test on SQLite and on PostgreSQL) and a Vault-API server.

PostgreSQL tests use a database created for this pytest session (``wp_<random>``, dropped at the end) and a fresh
schema per test, so parallel sessions and tests never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
VAULT_TOKEN = "root-test-token"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a PostgreSQL database private to this session."""
    name = f"wp_{secrets.token_hex(6)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata URL with nothing in it yet, on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A PostgreSQL URL with nothing in it yet: a fresh schema of this session's database."""
    schema = f"t_{secrets.token_hex(6)}"
    engine = create_engine(pg_database)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{pg_database}?options=-csearch_path%3D{schema}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def vault_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenBao dev server (Vault API) with the transit engine enabled, for this pytest session."""
    bao = shutil.which("bao") or str(Path(sys.executable).parent / "bao")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("bao") / "log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [bao, "server", "-dev", f"-dev-root-token-id={VAULT_TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"],
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
        r = httpx.post(f"{url}/v1/sys/mounts/transit", json={"type": "transit"}, headers={"X-Vault-Token": VAULT_TOKEN})
        assert r.status_code in (200, 204), r.text
        yield url
    finally:
        proc.kill()
        proc.wait()
