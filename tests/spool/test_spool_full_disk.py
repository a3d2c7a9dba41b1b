"""A full or read-only disk is one clear ``SpoolError``; nothing already spooled is lost."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from spool_helpers import all_events, frame, key, open_all, sealed_paths

from workprint.errors import SpoolError
from workprint.spool import Spool, SpoolIdentity


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB tmpfs (the tests run as root), unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_full_disk_is_one_clear_error_and_loses_nothing_acknowledged(
    small_disk: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    spool = Spool.open(small_disk, identity, max_bytes=60_000)
    acknowledged = 0
    with pytest.raises(SpoolError) as err:
        for i in range(10_000):
            spool.append(frame(i), bytes([i % 251]) * 20_000)
            acknowledged += 1
            spool.tick()
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("spool: cannot write ") and str(err.value).endswith("(No space left on device)")
    sealed_before = sealed_paths(small_disk)
    assert sealed_before, "the test should fill the disk after some segments were sealed"
    segs = open_all(sealed_before, keypair[0])  # sealed segments are intact
    # appending goes on failing the same way, and never damages what is there
    with pytest.raises(SpoolError, match=r"\(No space left on device\)$"):
        for i in range(acknowledged, acknowledged + 50):
            spool.append(frame(i), bytes([i % 251]) * 20_000)
            acknowledged += 1
            spool.tick()
    spool.close()
    # the uploader frees space; the next start seals the journal: every acknowledged event is there, once
    in_memory = [e for s in segs for e in s.events]
    for p in sealed_before:
        p.unlink()
    Spool.open(small_disk, identity).close()
    events = in_memory + all_events(small_disk, keypair[0])
    assert [e.t_ns - 1_000_000 for e in events] == list(range(acknowledged))


def test_read_only_disk_is_one_clear_error_at_open(small_disk: Path, identity: SpoolIdentity) -> None:
    spool = Spool.open(small_disk, identity)
    spool.append(key(1))
    sealed = spool.seal()
    spool.append(key(2))
    spool.close()
    assert sealed is not None
    data, journal = sealed.read_bytes(), (small_disk / "journal.wpj").read_bytes()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(SpoolError) as err:
        Spool.open(small_disk, identity)
    assert str(err.value) == f"spool: cannot use directory {small_disk} (Read-only file system)"
    assert sealed.read_bytes() == data and (small_disk / "journal.wpj").read_bytes() == journal
