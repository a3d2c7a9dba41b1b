"""The shards' own tar writer produces exactly the bytes ``tarfile`` writes for the same members."""

from __future__ import annotations

import io
import random
import tarfile

from workprint.dataset.shards import _tar_add, _tar_bytes


def _tarfile_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_tar_writer_matches_tarfile_byte_for_byte_for_any_sizes_and_name_lengths() -> None:
    rng = random.Random(3)
    sizes = [0, 1, 511, 512, 513, 10239, 10240, 70000]
    for trial in range(150):
        members = []
        for i in range(rng.randrange(0, 25)):
            # Up to 100 bytes the name field holds it; longer names (with a '/') take the USTAR prefix field.
            name = "d/" * rng.randrange(0, 45) + "x" * rng.randrange(1, 60) + f"_{i:04d}.json"
            members.append((name, rng.randbytes(rng.choice([*sizes, rng.randrange(3000)]))))
        mine: list[bytes] = []
        for name, data in members:
            _tar_add(mine, name, data)
        assert _tar_bytes(mine) == _tarfile_bytes(members), trial


def test_tar_writer_output_reads_back_with_tarfile() -> None:
    mine: list[bytes] = []
    _tar_add(mine, "abc_0000.json", b'{"a": 1}')
    _tar_add(mine, "abc_0000.webp", b"\x00" * 700)
    with tarfile.open(fileobj=io.BytesIO(_tar_bytes(mine))) as tar:
        assert [(m.name, m.size, m.mode, m.mtime) for m in tar] == [
            ("abc_0000.json", 8, 0o644, 0), ("abc_0000.webp", 700, 0o644, 0)
        ]  # fmt: skip
        assert tar.extractfile("abc_0000.json").read() == b'{"a": 1}'  # type: ignore[union-attr]
