"""The S3 blob store against a real S3 server (SeaweedFS's ``weed server -s3``) that checks signatures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from s3_server import ACCESS, s3_url, weed
from workprint.errors import ConfigError, NotFound
from workprint.store.s3 import S3BlobStore, s3_filesystem


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with weed(tmp_path_factory.mktemp("weed")) as server:
        yield server.endpoint


def _store(endpoint: str, prefix: str = "blobs") -> S3BlobStore:
    return S3BlobStore(s3_url(endpoint, f"wptest/{prefix}"))


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
    bad._fs, bad._root = s3_filesystem(f"s3://wptest/blobs?endpoint={s3_endpoint}&access_key={ACCESS}&secret_key=wrong")
    with pytest.raises(OSError, match=r"ACCESS_DENIED|AccessDenied|SignatureDoesNotMatch"):
        bad.get("x/1")


def test_bad_urls_and_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="blob_url: expected s3://BUCKET"):
        S3BlobStore("http://bucket/x")
    with pytest.raises(ConfigError, match="blob_url: unknown parameter 'colour'"):
        S3BlobStore("s3://b/p?colour=red")
