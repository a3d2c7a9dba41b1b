"""Blobs in S3-compatible object storage, through pyarrow's S3 filesystem (no extra client library).

URL form: ``s3://BUCKET[/PREFIX]?endpoint=http://127.0.0.1:8333&region=us-east-1``; credentials come from
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (or the query's ``access_key``/``secret_key`` for tests). An S3
PUT is atomic, so a blob is either wholly there or absent; ``put`` returns only after the server acknowledged it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pyarrow.fs as pafs

from workprint.errors import ConfigError, InsufficientStorage, NotFound


def s3_filesystem(url: str) -> tuple[pafs.S3FileSystem, str]:
    """Parse an ``s3://`` URL into a filesystem and the ``bucket/prefix`` root inside it."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"blob_url: expected s3://BUCKET[/PREFIX], got {url!r}")
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = sorted(set(q) - {"endpoint", "region", "access_key", "secret_key"})
    if unknown:
        raise ConfigError(f"blob_url: unknown parameter {unknown[0]!r} in {url!r}")
    endpoint = q.get("endpoint")
    fs = pafs.S3FileSystem(
        access_key=q.get("access_key") or os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=q.get("secret_key") or os.environ.get("AWS_SECRET_ACCESS_KEY"),
        endpoint_override=endpoint,
        scheme=urlsplit(endpoint).scheme if endpoint else "https",
        region=q.get("region", "us-east-1"),
        allow_bucket_creation=True,
        connect_timeout=5,
        request_timeout=30,
    )
    root = (parts.netloc + parts.path).rstrip("/")
    return fs, root


class S3BlobStore:
    """``BlobStore`` over an S3 bucket (tested against SeaweedFS's S3 server)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._fs, self._root = s3_filesystem(url)
        bucket = self._root.split("/", 1)[0]
        try:
            self._fs.create_dir(bucket)
        except OSError as exc:
            raise ConfigError(f"blob_url: cannot use bucket {bucket!r} at {url.split('?')[0]} ({exc})") from None

    def _path(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ConfigError(f"blob key: invalid {key!r}")
        return f"{self._root}/{key}"

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; returns once the object store acknowledged the whole object."""
        try:
            with self._fs.open_output_stream(self._path(key)) as out:
                out.write(data)
        except OSError as exc:
            raise InsufficientStorage(f"blob store: cannot write {key!r} ({exc})") from None

    def get(self, key: str) -> bytes:
        """Return the blob, or raise ``NotFound``."""
        try:
            with self._fs.open_input_stream(self._path(key)) as inp:
                return bytes(inp.read())
        except FileNotFoundError:
            raise NotFound(f"blob {key!r}: not found") from None

    def exists(self, key: str) -> bool:
        return bool(self._fs.get_file_info(self._path(key)).type == pafs.FileType.File)

    def delete(self, key: str) -> None:
        """Remove a blob; removing a missing one is not an error (erasure is idempotent)."""
        with contextlib.suppress(FileNotFoundError):
            self._fs.delete_file(self._path(key))

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under ``prefix``, in no particular order."""
        base = self._root if not prefix else self._path(prefix)
        try:
            infos = self._fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except FileNotFoundError:
            return
        for info in infos:
            if info.type == pafs.FileType.File:
                yield info.path[len(self._root) + 1 :]
