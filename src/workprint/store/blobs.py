"""Where segment ciphertext lives: the ``BlobStore`` interface and its local-directory implementation.

``put`` is atomic and durable: the bytes go to a temporary file in the target directory, are fsynced, renamed into
place and the directory is fsynced, so after ``put`` returns the blob survives a crash, and a crash during ``put``
leaves either the old state or the whole blob, never a torn one. ``store.s3.S3BlobStore`` is the scale-out
implementation of the same interface; ``open_blob_store`` picks one by URL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from workprint.errors import ConfigError, InsufficientStorage, NotFound

__all__ = ["BlobStore", "LocalBlobStore", "open_blob_store"]


class BlobStore(Protocol):
    """Bytes by key. Keys are relative ``/``-separated paths without ``..``."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` atomically and durably under ``key`` (replacing any blob there)."""
        ...

    def get(self, key: str) -> bytes:
        """The blob's bytes; raises ``NotFound``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; a missing blob is not an error."""
        ...

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under ``key``."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under ``prefix``."""
        ...


def check_key(key: str) -> str:
    """Refuse keys that could escape the store's root."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") or p.startswith(".tmp-") for p in parts):
        raise ConfigError(f"blob key: invalid {key!r}")
    return key


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _missing_dirs(root: Path, key: str) -> list[Path]:
    out, cur = [], root
    for part in key.split("/")[:-1]:
        cur = cur / part
        if not cur.exists():
            out.append(cur)
    return out


class LocalBlobStore:
    """``BlobStore`` in a local directory (created mode 0700)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.root = Path(directory)
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(f"blob directory: cannot create {str(self.root)!r} ({exc.strerror})") from None

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = path.parent / f".tmp-{path.name}-{secrets.token_hex(6)}"
        try:
            created = _missing_dirs(self.root, key)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
            for d in created:  # new directories must be durable entries of their parents too
                _fsync_dir(d.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise InsufficientStorage(f"blob store: cannot write {key!r} ({exc.strerror})") from None

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {key!r}: not found") from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            _fsync_dir(path.parent)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str = "") -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()


def open_blob_store(url: str) -> BlobStore:
    """``s3://…`` selects ``S3BlobStore``; anything else is a local directory."""
    if url.startswith("s3://"):
        from workprint.store.s3 import S3BlobStore

        return S3BlobStore(url)
    return LocalBlobStore(url.removeprefix("file://"))
