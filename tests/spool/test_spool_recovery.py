"""Nothing acknowledged is lost: torn tails are cut, killed agents' journals are sealed once, tmp files go."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from spool_helpers import all_events, frame, key, make_identity, open_all, sealed_paths

from workprint.models import WindowEvent
from workprint.spool import Spool, SpoolIdentity

HERE = Path(__file__).parent


def _journal_with(tmp: Path, identity: SpoolIdentity) -> tuple[bytes, int]:
    """A journal of three events; returns its bytes and where the last record starts."""
    spool = Spool.open(tmp, identity)
    spool.append(key(1))
    spool.append(frame(2), b"png-bytes")
    start_last = (tmp / "journal.wpj").stat().st_size
    spool.append(WindowEvent(1_000_003, 3, "xterm", "a title", 42, 0, 0, 640, 480, 1280, 800))
    spool.close()
    return (tmp / "journal.wpj").read_bytes(), start_last


def test_a_torn_last_record_is_cut_at_every_byte_offset(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    data, start_last = _journal_with(tmp_path / "orig", identity)
    for cut in range(start_last, len(data) + 1):
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / "journal.wpj").write_bytes(data[:cut])
        Spool.open(d, identity).close()
        assert not (d / "journal.wpj").exists()
        events = all_events(d, keypair[0])
        assert [e.t_ns for e in events] == (
            [1_000_001, 1_000_002, 1_000_003] if cut == len(data) else [1_000_001, 1_000_002]
        )


def test_a_bad_checksum_cuts_the_journal_there(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    data, _ = _journal_with(tmp_path / "orig", identity)
    broken = bytearray(data)
    broken[-3] ^= 0xFF
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "journal.wpj").write_bytes(bytes(broken))
    Spool.open(tmp_path / "b", identity).close()
    assert [e.t_ns for e in all_events(tmp_path / "b", keypair[0])] == [1_000_001, 1_000_002]


def test_a_recovered_journal_is_sealed_under_the_identity_it_was_written_with(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    _journal_with(tmp_path, identity)
    Spool.open(tmp_path, make_identity(keypair[1], session="next-session")).close()
    (seg,) = open_all(sealed_paths(tmp_path), keypair[0])
    assert seg.header.session == "s1"
    assert seg.frames == {"f2": b"png-bytes"}


def test_killed_between_sealing_and_deleting_the_journal_seals_it_only_once(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    spool = Spool.open(tmp_path, identity)
    spool.append(key(1))
    journal = (tmp_path / "journal.wpj").read_bytes()
    spool.seal()
    spool.close()
    (tmp_path / "journal.wpj").write_bytes(journal)  # as if killed before the unlink
    Spool.open(tmp_path, identity).close()
    assert not (tmp_path / "journal.wpj").exists()
    assert [e.t_ns for e in all_events(tmp_path, keypair[0])] == [1_000_001]


def test_leftover_tmp_files_are_removed_and_sealed_segments_kept(tmp_path: Path, identity: SpoolIdentity) -> None:
    spool = Spool.open(tmp_path, identity)
    spool.append(key(1))
    sealed = spool.seal()
    spool.close()
    assert sealed is not None
    (tmp_path / "sealed" / ".tmp-0123").write_bytes(b"half a segment")
    (tmp_path / ".tmp-state").write_bytes(b"{")
    before = sealed.read_bytes()
    spool = Spool.open(tmp_path, identity)
    assert spool.pending() == [sealed] and sealed.read_bytes() == before
    assert not list(tmp_path.glob("**/.tmp-*"))


def test_every_event_acknowledged_before_kill_9_is_sealed_exactly_once(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    seen: list[int] = []
    for run in range(4):
        d = tmp_path / f"run{run}"
        child = subprocess.Popen(
            [sys.executable, str(HERE / "appender_child.py"), str(d), keypair[1].hex(), "40000"],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # the child is appending
        assert first.strip() == b"0"
        time.sleep(rng.uniform(0.05, 0.6))
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read()
        child.wait()
        lines = (first + rest).split(b"\n")
        acknowledged = [int(x) for x in lines if x.strip().isdigit()]
        last = acknowledged[-1]
        Spool.open(d, identity).close()
        counts = Counter(e.t_ns - 1_000_000 for e in all_events(d, keypair[0]))
        assert max(counts.values()) == 1, "an event was sealed twice"
        stored = sorted(counts)
        # every acknowledged event is there; at most the one in flight beyond it
        assert stored[: last + 1] == list(range(last + 1))
        assert stored == list(range(len(stored))) and len(stored) <= last + 2
        seen.append(last)
        print(f"run {run}: acknowledged {last + 1}, stored {len(stored)}, segments {len(sealed_paths(d))}")
    assert min(seen) > 10


def test_rotated_but_unsealed_journals_are_sealed_in_order_at_open(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    spool = Spool.open(tmp_path, identity, max_bytes=300)
    for i in range(12):
        spool.append(key(i))
    closed = len(spool.closed_journals())
    assert closed >= 2 and (tmp_path / "journal.wpj").exists()
    spool.close()  # as if killed: nothing sealed yet
    Spool.open(tmp_path, identity).close()
    segs = open_all(sealed_paths(tmp_path), keypair[0])
    assert len(segs) == closed + 1
    assert [s.header.seq for s in segs] == sorted(s.header.seq for s in segs)
    assert [e.t_ns - 1_000_000 for s in segs for e in s.events] == list(range(12))
    assert not list(tmp_path.glob("*.wpj"))
