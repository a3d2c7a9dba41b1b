"""All release file access through one place: a local directory or an ``s3://`` URL, via ``pyarrow.fs``.

``Root`` is picklable (it carries its URL, not a live filesystem), so Ray workers reopen it. Every write goes
through ``put``, which returns the sha256 of what it wrote, so manifests never read files back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs


def is_url(location: str) -> bool:
    """True for ``s3://`` locations."""
    return location.startswith("s3://")


class Root:
    """A directory tree at ``location`` (a local path or ``s3://BUCKET/PREFIX?endpoint=...``)."""

    def __init__(self, location: str | Path) -> None:
        self.location = str(location)
        self._fs: pafs.FileSystem | None = None
        self._base = ""
        self._made: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        return {"location": self.location}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["location"])  # type: ignore[misc]

    def _open(self) -> tuple[pafs.FileSystem, str]:
        if self._fs is None:
            if is_url(self.location):
                from workprint.store.s3 import s3_filesystem

                fs, base = s3_filesystem(self.location)
                with contextlib.suppress(OSError):
                    fs.create_dir(base.split("/", 1)[0])
                self._fs, self._base = fs, base
            else:
                self._fs, self._base = pafs.LocalFileSystem(), str(Path(self.location).resolve())
        return self._fs, self._base

    def child(self, rel: str) -> Root:
        """The root ``rel`` below this one."""
        if is_url(self.location):
            head, _, query = self.location.partition("?")
            return Root(f"{head.rstrip('/')}/{rel}" + (f"?{query}" if query else ""))
        return Root(Path(self.location) / rel)

    def path(self, rel: str) -> str:
        """The filesystem path of ``rel``."""
        _, base = self._open()
        return f"{base}/{rel}" if rel else base

    def put(self, rel: str, data: bytes) -> str:
        """Write ``data`` to ``rel`` (parents created); returns its sha256."""
        return self.put_stream(rel, (data,))

    def put_stream(self, rel: str, chunks: Iterable[bytes]) -> str:
        """Write the concatenated ``chunks`` to ``rel`` without holding them all; returns the sha256."""
        fs, _ = self._open()
        target = self.path(rel)
        parent = target.rsplit("/", 1)[0]
        if parent not in self._made:
            # Once per directory and writer (on S3 each call is a request): a shard puts every image into one.
            fs.create_dir(parent, recursive=True)
            self._made.add(parent)
        digest = hashlib.sha256()
        local = isinstance(fs, pafs.LocalFileSystem)
        # Unique per writer: two workers may write the same content-named image at once.
        tmp = f"{target}.{os.getpid()}.{secrets.token_hex(4)}.tmp" if local else target
        try:
            stream = fs.open_output_stream(tmp)
        except FileNotFoundError:  # the directory was removed since (another writer's ``delete``)
            fs.create_dir(parent, recursive=True)
            stream = fs.open_output_stream(tmp)
        with stream as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
        if local:
            fs.move(tmp, target)
        return digest.hexdigest()

    def get(self, rel: str) -> bytes:
        """The bytes of ``rel``."""
        fs, _ = self._open()
        with fs.open_input_stream(self.path(rel)) as inp:
            return bytes(inp.read())

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` is a file or directory."""
        fs, _ = self._open()
        return bool(fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound)

    def files(self, rel: str = "") -> Iterator[str]:
        """Every file below ``rel``, relative to this root, sorted."""
        fs, base = self._open()
        sel = pafs.FileSelector(self.path(rel), recursive=True, allow_not_found=True)
        names = [i.path[len(base) + 1 :] for i in fs.get_file_info(sel) if i.type == pafs.FileType.File]
        yield from sorted(names)

    def dirs(self, rel: str = "") -> list[str]:
        """The immediate subdirectories of ``rel`` (names only), sorted."""
        fs, _ = self._open()
        sel = pafs.FileSelector(self.path(rel), recursive=False, allow_not_found=True)
        return sorted(i.base_name for i in fs.get_file_info(sel) if i.type == pafs.FileType.Directory)

    def delete(self, rel: str) -> None:
        """Remove the tree at ``rel`` (every file under it); a missing tree is not an error."""
        fs, _ = self._open()
        self._made.clear()
        for name in list(self.files(rel)):
            with contextlib.suppress(FileNotFoundError):
                fs.delete_file(self.path(name))
        with contextlib.suppress(FileNotFoundError, OSError):
            fs.delete_dir(self.path(rel))


__all__ = ["Root", "is_url"]
