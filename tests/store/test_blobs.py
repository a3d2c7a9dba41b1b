"""The local blob store: atomic durable puts, no escaping the root, keys listed without temporaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from workprint.errors import ConfigError, NotFound
from workprint.store.blobs import LocalBlobStore, open_blob_store


def test_put_get_exists_delete_round_trip(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "b")
    store.put("segments/ab/abc", b"one")
    store.put("segments/ab/abc", b"two")  # replacing is atomic too
    assert store.get("segments/ab/abc") == b"two" and store.exists("segments/ab/abc")
    store.put("other/x", b"3")
    assert list(store.keys()) == ["other/x", "segments/ab/abc"]
    assert list(store.keys("segments")) == ["segments/ab/abc"]
    store.delete("segments/ab/abc")
    store.delete("segments/ab/abc")  # idempotent
    assert not store.exists("segments/ab/abc")
    with pytest.raises(NotFound, match="blob 'segments/ab/abc': not found"):
        store.get("segments/ab/abc")


def test_a_put_leaves_no_temporary_files_and_private_modes(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "b")
    store.put("a/b", b"data")
    assert sorted(p.name for p in (tmp_path / "b" / "a").iterdir()) == ["b"]
    assert (tmp_path / "b" / "a" / "b").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/.tmp-x"])
def test_keys_that_could_escape_the_root_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=f"blob key: invalid {key!r}"):
        LocalBlobStore(tmp_path).put(key, b"x")


def test_open_blob_store_picks_a_local_directory_for_paths(tmp_path: Path) -> None:
    store = open_blob_store(str(tmp_path / "d"))
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "d"
