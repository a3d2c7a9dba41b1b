"""The S3 blob store against a real S3 server (SeaweedFS's ``weed server -s3``) that checks signatures."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workprint.errors import ConfigError, NotFound
from workprint.store.s3 import S3BlobStore

ACCESS, SECRET = "wp-test-key", "wp-test-secret"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("weed")
    creds = {"accessKey": ACCESS, "secretKey": SECRET}
    actions = ["Admin", "Read", "Write", "List", "Tagging"]
    (d / "s3.json").write_text(json.dumps({"identities": [{"name": "wp", "credentials": [creds], "actions": actions}]}))
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    master, volume, filer, s3, grpc1, grpc2, grpc3, grpc4 = _free_ports(8)
    args = [weed, "server", f"-dir={d}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-master.port={master}",
            f"-master.port.grpc={grpc1}", f"-volume.port={volume}", f"-volume.port.grpc={grpc2}",
            f"-filer.port={filer}", f"-filer.port.grpc={grpc3}", "-s3", f"-s3.port={s3}",
            f"-s3.config={d / 's3.json'}", f"-s3.port.grpc={grpc4}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false"]  # fmt: skip
    with (d / "log").open("w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                S3BlobStore(f"s3://probe?endpoint={endpoint}&access_key={ACCESS}&secret_key={SECRET}")
                break
            except ConfigError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield endpoint
    finally:
        proc.kill()  # weed ignores SIGTERM
        proc.wait()


def _store(endpoint: str, prefix: str = "blobs", secret: str = SECRET) -> S3BlobStore:
    return S3BlobStore(f"s3://wptest/{prefix}?endpoint={endpoint}&access_key={ACCESS}&secret_key={secret}")


def test_put_get_list_delete(s3_endpoint: str) -> None:
    store = _store(s3_endpoint)
    store.put("p1/seg-a", b"\x00ciphertext\xff")
    store.put("p1/seg-b", b"more")
    store.put("p2/seg-c", b"other")
    assert store.get("p1/seg-a") == b"\x00ciphertext\xff"
    assert sorted(store.keys("p1")) == ["p1/seg-a", "p1/seg-b"]
    assert store.exists("p2/seg-c")
    store.delete("p1/seg-a")
    store.delete("p1/seg-a")  # idempotent
    assert not store.exists("p1/seg-a")
    with pytest.raises(NotFound, match="blob 'p1/seg-a': not found"):
        store.get("p1/seg-a")


def test_wrong_secret_is_refused_by_the_server(s3_endpoint: str) -> None:
    _store(s3_endpoint).put("x/1", b"1")
    bad = S3BlobStore.__new__(S3BlobStore)
    from workprint.store.s3 import s3_filesystem

    bad._fs, bad._root = s3_filesystem(f"s3://wptest/blobs?endpoint={s3_endpoint}&access_key={ACCESS}&secret_key=wrong")
    with pytest.raises(OSError, match=r"ACCESS_DENIED|AccessDenied|SignatureDoesNotMatch"):
        bad.get("x/1")


def test_bad_urls_and_keys_are_named() -> None:
    with pytest.raises(ConfigError, match="blob_url: expected s3://BUCKET"):
        S3BlobStore("http://bucket/x")
    with pytest.raises(ConfigError, match="blob_url: unknown parameter 'colour'"):
        S3BlobStore("s3://b/p?colour=red")
