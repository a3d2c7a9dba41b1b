"""The spool's journal: acknowledgement on append, rotation, sequence numbers, queue, purge and status."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from spool_helpers import all_events, frame, key, make_identity, open_all, sealed_paths

from workprint.errors import ConfigError, SpoolError
from workprint.models import WindowEvent
from workprint.segment import read_header
from workprint.spool import Spool, SpoolIdentity, pending_count, read_status


class FakeClock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def test_append_writes_the_record_before_returning(tmp_path: Path, identity: SpoolIdentity) -> None:
    spool = Spool.open(tmp_path, identity)
    spool.append(key(1))
    size1 = (tmp_path / "journal.wpj").stat().st_size
    spool.append(key(2))
    assert (tmp_path / "journal.wpj").stat().st_size > size1 > 0
    assert spool.status().journal_events == 2
    spool.close()


def test_a_frames_bytes_are_stored_once_per_segment(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    spool = Spool.open(tmp_path, identity)
    img = b"x" * 10_000
    spool.append(frame(1, "same"), img)
    after_first = (tmp_path / "journal.wpj").stat().st_size
    spool.append(frame(2, "same"), img)
    assert (tmp_path / "journal.wpj").stat().st_size - after_first < 1_000
    path = spool.seal()
    assert path is not None
    (seg,) = open_all([path], keypair[0])
    assert seg.frames == {"same": img}
    assert len(seg.events) == 2


def test_bytes_beside_a_non_frame_event_are_refused(tmp_path: Path, identity: SpoolIdentity) -> None:
    spool = Spool.open(tmp_path, identity)
    with pytest.raises(ValueError, match=r"^data: only a frame event carries bytes, got key with 3 bytes$"):
        spool.append(key(1), b"abc")


def test_identity_needs_a_32_byte_public_key() -> None:
    with pytest.raises(ConfigError, match=r"^public_key: expected 32 raw bytes \(X25519\), got 5$"):
        make_identity(b"short")


def test_journal_older_than_max_age_is_rotated_on_append_and_sealed_on_tick(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    clock = FakeClock()
    spool = Spool.open(tmp_path, identity, max_age_s=60, clock=clock)
    spool.append(key(1))
    clock.now = 59_999_999_999
    assert spool.tick() is None
    sealed = spool.tick(60_000_000_000)
    assert sealed is not None and sealed_paths(tmp_path) == [sealed]
    assert spool.tick(10**15) is None  # nothing open, nothing to seal
    spool.append(key(2))
    clock.now += 60_000_000_000
    spool.append(key(3))  # the old journal is rotated out first (cheap), the new event opens the next one
    assert len(spool.closed_journals()) == 1 and len(sealed_paths(tmp_path)) == 1
    spool.tick()  # sealing happens here, on the ticker's thread, not in append
    assert spool.closed_journals() == [] and len(sealed_paths(tmp_path)) == 2
    spool.seal()
    assert [len(s.events) for s in open_all(sealed_paths(tmp_path), keypair[0])] == [1, 1, 1]


def test_journal_bigger_than_max_bytes_is_sealed(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    spool = Spool.open(tmp_path, identity, max_bytes=50_000)
    for i in range(20):
        spool.append(frame(i), bytes([i]) * 10_000)
    assert len(spool.closed_journals()) >= 3  # rotated by size on append
    spool.seal()
    assert spool.closed_journals() == []
    segs = open_all(sealed_paths(tmp_path), keypair[0])
    assert len(segs) >= 4
    assert [e.t_ns for s in segs for e in s.events] == [frame(i).t_ns for i in range(20)]
    for s in segs:
        assert len(s.frames) * 10_000 <= 50_000


def test_sequence_numbers_increase_across_restarts_and_uploads(tmp_path: Path, identity: SpoolIdentity) -> None:
    seqs = []
    for round_ in range(3):
        spool = Spool.open(tmp_path, identity)
        for i in range(2):
            spool.append(key(round_ * 10 + i))
            path = spool.seal()
            assert path is not None
            seqs.append(read_header(path.read_bytes())[0].seq)
            spool.mark_uploaded(path)
        spool.close()
    assert seqs == sorted(seqs) and len(set(seqs)) == 6
    assert spool.pending() == []


def test_pending_is_in_order_and_rejected_segments_keep_their_reason(tmp_path: Path, identity: SpoolIdentity) -> None:
    spool = Spool.open(tmp_path, identity)
    paths = []
    for i in range(3):
        spool.append(key(i))
        p = spool.seal()
        assert p is not None
        paths.append(p)
    assert spool.pending() == paths
    moved = spool.mark_rejected(paths[1], "server: segment refused (scope: not consented)")
    assert spool.pending() == [paths[0], paths[2]]
    assert spool.rejected() == [moved]
    assert moved.read_bytes()
    assert (moved.parent / (moved.name + ".reason")).read_text() == "server: segment refused (scope: not consented)\n"
    spool.mark_uploaded(paths[0])
    st = spool.status()
    assert (st.pending_segments, st.rejected_segments, st.pending_bytes) == (1, 1, paths[2].stat().st_size)
    with pytest.raises(ValueError, match="path: not a sealed segment of this spool"):
        spool.mark_uploaded(tmp_path / "state.json")


def test_purge_without_scopes_deletes_all_unsent_data(tmp_path: Path, identity: SpoolIdentity) -> None:
    spool = Spool.open(tmp_path, identity)
    for i in range(3):
        spool.append(key(i))
        spool.seal()
    spool.mark_rejected(spool.pending()[0], "nope")
    spool.append(key(9))
    result = spool.purge()
    assert (result.segments_deleted, result.events_dropped) == (3, 1)
    assert not (tmp_path / "journal.wpj").exists()
    assert list((tmp_path / "sealed").iterdir()) == [] and list((tmp_path / "rejected").iterdir()) == []


def test_purge_of_scopes_drops_only_those_events(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    spool = Spool.open(tmp_path, identity)
    spool.append(key(1))
    keys_only = spool.seal()  # declares keys only
    spool.append(frame(2), b"img")
    spool.seal()  # declares screenshots
    win = WindowEvent(5, 5, "xterm", "secret title", 1, 0, 0, 10, 10, 100, 100)
    spool.append(key(3))
    spool.append(frame(4), b"img2")
    spool.append(win)
    result = spool.purge({"screenshots", "window_titles"})
    assert (result.segments_deleted, result.events_dropped) == (1, 2)
    segs = open_all(sealed_paths(tmp_path), keypair[0])
    assert sealed_paths(tmp_path)[0] == keys_only
    assert [list(s.events) for s in segs] == [[key(1)], [key(3)]]
    assert all("screenshots" not in s.header.scopes and not s.frames for s in segs)
    assert all_events(tmp_path, keypair[0]) == [key(1), key(3)]


def test_a_second_process_cannot_open_the_same_spool(tmp_path: Path, identity: SpoolIdentity) -> None:
    spool = Spool.open(tmp_path, identity)
    code = (
        "import sys; from pathlib import Path; from workprint.spool import Spool, SpoolIdentity\n"
        "from workprint.errors import SpoolError\n"
        "ident = SpoolIdentity('p','d','s', b'k'*32, '1', 'r')\n"
        "try:\n    Spool.open(Path(sys.argv[1]), ident)\nexcept SpoolError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"spool: {tmp_path} is in use by another workprint process"
    spool.close()
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout == ""


def test_a_directory_that_cannot_be_created_is_one_clear_error(tmp_path: Path, identity: SpoolIdentity) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SpoolError) as err:
        Spool.open(tmp_path / "afile" / "spool", identity)
    assert str(err.value) == f"spool: cannot use directory {tmp_path / 'afile' / 'spool'} (Not a directory)"


def test_appends_from_many_threads_each_land_exactly_once(
    tmp_path: Path, identity: SpoolIdentity, keypair: tuple[bytes, bytes]
) -> None:
    spool = Spool.open(tmp_path, identity, max_bytes=4_000)

    def work(base: int) -> None:
        for i in range(200):
            spool.append(key(base + i))

    threads = [threading.Thread(target=work, args=(n * 1000,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spool.seal()
    got = sorted(e.t_ns - 1_000_000 for e in all_events(tmp_path, keypair[0]))
    assert got == sorted(n * 1000 + i for n in range(4) for i in range(200))
    assert len(sealed_paths(tmp_path)) > 5


def test_status_can_be_read_from_disk_while_the_spool_is_open(tmp_path: Path, identity: SpoolIdentity) -> None:
    spool = Spool.open(tmp_path, identity)
    spool.append(key(1))
    spool.seal()
    spool.append(key(2))
    st = read_status(tmp_path)
    assert (st.pending_segments, st.journal_events, st.rejected_segments) == (1, -1, 0)
    assert st.journal_bytes == (tmp_path / "journal.wpj").stat().st_size > 0
    assert spool.status().journal_events == 1
    assert pending_count(tmp_path) == 1 and pending_count(tmp_path / "nothing-here") == 0


def test_public_api_is_listed() -> None:
    import workprint.spool as mod

    assert sorted(mod.__all__) == sorted(
        ["MiB", "PurgeResult", "SegmentQueueDir", "Spool", "SpoolIdentity", "SpoolStatus", "pending_count"]
        + ["read_status"]
    )
    assert all(hasattr(mod, name) for name in mod.__all__)
