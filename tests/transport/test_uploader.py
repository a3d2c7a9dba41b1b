"""The uploader sends in order, deletes only after acknowledgement, keeps refused segments, backs off with jitter."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from workprint.errors import SpoolError, TransportError
from workprint.models import KeyEvent
from workprint.segment import generate_keypair, open_sealed, segment_id
from workprint.spool import Spool, SpoolIdentity
from workprint.transport import Backoff, Transport, Uploader, UploadResult

SK, PK = generate_keypair()


class FakeServer:
    """Our own ``Transport`` boundary: stores by id; ``script`` overrides the next answers (the store still happens
    for an entry ``("lost", ...)``: the server kept it but the acknowledgement was lost)."""

    def __init__(self, script: list[UploadResult | str] | None = None) -> None:
        self.stored: dict[str, bytes] = {}
        self.calls: list[str] = []
        self.script = list(script or [])

    def put_segment(self, segment_id_: str, data: bytes) -> UploadResult:
        assert segment_id(data) == segment_id_
        self.calls.append(segment_id_)
        if self.script:
            step = self.script.pop(0)
            if step == "lost":
                self.stored[segment_id_] = data
                return UploadResult.retry("server: cannot reach http://x (timed out)")
            assert isinstance(step, UploadResult)
            return step
        if segment_id_ in self.stored:
            return UploadResult.duplicate()
        self.stored[segment_id_] = data
        return UploadResult.stored()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _spool(tmp_path: Path, n: int) -> tuple[Spool, list[Path]]:
    ident = SpoolIdentity("p1", "d1", "s1", PK, "1", "r")
    spool = Spool.open(tmp_path, ident)
    paths = []
    for i in range(n):
        spool.append(KeyEvent(i + 1, i + 1, True, 38, "a", "a"))
        p = spool.seal()
        assert p is not None
        paths.append(p)
    return spool, paths


def test_fake_server_is_a_transport() -> None:
    t: Transport = FakeServer()
    assert t.put_segment(segment_id(b"x"), b"x").acknowledged


def test_segments_go_in_order_and_are_deleted_after_acknowledgement(tmp_path: Path) -> None:
    spool, paths = _spool(tmp_path, 3)
    ids = [segment_id(p.read_bytes()) for p in paths]
    server = FakeServer()
    up = Uploader(spool, server)
    assert up.run_once() == 3
    assert server.calls == ids
    assert spool.pending() == []
    assert [open_sealed(server.stored[i], SK).events[0].t_ns for i in ids] == [1, 2, 3]
    assert (up.stats.stored, up.stats.duplicates) == (3, 0)


def test_a_transient_failure_stops_the_round_keeps_the_rest_and_backs_off(tmp_path: Path) -> None:
    spool, paths = _spool(tmp_path, 3)
    clock = Clock()
    server = FakeServer([UploadResult.stored(), UploadResult.retry("server: HTTP 503", retry_after_s=5.0)])
    up = Uploader(spool, server, clock=clock, backoff=Backoff(rng=random.Random(1)))
    assert up.run_once() == 1
    assert spool.pending() == paths[1:]
    assert up.stats.last_error == "server: HTTP 503"
    assert up.wait_s() >= 5.0  # Retry-After is honoured
    calls = len(server.calls)
    assert up.run_once() == 0 and len(server.calls) == calls  # backing off: no request
    clock.now += up.wait_s()
    assert up.run_once() == 2
    assert spool.pending() == []


def test_a_refused_segment_is_moved_aside_with_its_reason_and_the_queue_goes_on(tmp_path: Path) -> None:
    spool, paths = _spool(tmp_path, 3)
    reason = "server: segment 0123 refused (scope_not_consented: keys)"
    server = FakeServer([UploadResult.stored(), UploadResult.rejected(reason)])
    up = Uploader(spool, server)
    assert up.run_once() == 2
    assert spool.pending() == []
    (moved,) = spool.rejected()
    assert moved.name == paths[1].name and moved.read_bytes()
    assert (moved.parent / (moved.name + ".reason")).read_text() == reason + "\n"
    assert up.stats.rejected == 1


def test_a_lost_acknowledgement_is_retried_as_a_duplicate_not_a_second_copy(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, 2)
    server = FakeServer(["lost"])
    clock = Clock()
    up = Uploader(spool, server, clock=clock)
    assert up.run_once() == 0
    assert len(spool.pending()) == 2
    clock.now += 120
    assert up.run_once() == 2
    assert len(server.stored) == 2 and up.stats.duplicates == 1 and spool.pending() == []


def test_flush_raises_one_line_and_the_spool_keeps_everything(tmp_path: Path) -> None:
    spool, paths = _spool(tmp_path, 2)
    line = "server: cannot reach http://127.0.0.1:9 (connection refused)"
    up = Uploader(spool, FakeServer([UploadResult.retry(line)]))
    with pytest.raises(TransportError) as err:
        up.flush()
    assert str(err.value) == line
    assert spool.pending() == paths


def test_backoff_is_full_jitter_under_a_doubling_ceiling() -> None:
    b = Backoff(base_s=0.5, cap_s=8.0, rng=random.Random(7))
    draws = [b.next_delay() for _ in range(10)]
    ceilings = [min(8.0, 0.5 * 2**n) for n in range(10)]
    assert all(0 <= d <= c for d, c in zip(draws, ceilings, strict=True))
    assert len(set(draws)) == 10  # jittered, not fixed
    spread = [Backoff(base_s=1, cap_s=1, rng=random.Random(s)).next_delay() for s in range(200)]
    assert min(spread) < 0.1 and max(spread) > 0.9  # the whole interval is used
    b.reset()
    assert b.next_delay() <= 0.5
    assert b.next_delay(retry_after_s=30) >= 30


def test_run_uploads_in_the_background_until_stopped(tmp_path: Path) -> None:
    spool, _ = _spool(tmp_path, 1)
    server = FakeServer()
    up = Uploader(spool, server)
    stop = threading.Event()
    t = threading.Thread(target=up.run, args=(stop,), kwargs={"interval_s": 0.02})
    t.start()
    spool.append(KeyEvent(50, 50, True, 38, "a", "a"))
    spool.seal()
    for _ in range(200):
        if len(server.stored) == 2:
            break
        stop.wait(0.01)
    stop.set()
    t.join(timeout=5)
    assert not t.is_alive()
    assert len(server.stored) == 2 and spool.pending() == []


def test_public_api_is_listed() -> None:
    import workprint.transport as mod

    assert sorted(mod.__all__) == sorted(
        [
            "Backoff",
            "Enrollment",
            "HttpTransport",
            "Outcome",
            "ReportsSpoolLag",
            "SegmentQueue",
            "Transport",
            "UploadResult",
        ]
        + ["UploadStats", "Uploader", "enroll", "upload_pending"]
    )
    assert all(hasattr(mod, name) for name in mod.__all__)


class BrokenQueue:
    """A spool whose disk fails when a refused segment is moved aside."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls = 0

    def pending(self) -> list[Path]:
        self.calls += 1
        return [self.path]

    def mark_uploaded(self, path: Path) -> None:
        raise AssertionError("never acknowledged")

    def mark_rejected(self, path: Path, reason: str) -> Path:
        raise SpoolError(f"spool: cannot move {path} (No space left on device)")


def test_run_survives_a_spool_error_and_reports_it(tmp_path: Path) -> None:
    seg = tmp_path / "000000000001-0000000000000000.wps"
    seg.write_bytes(b"data")
    queue = BrokenQueue(seg)
    up = Uploader(queue, FakeServer([UploadResult.rejected("no")] * 100), backoff=Backoff(base_s=0.001, cap_s=0.001))
    stop = threading.Event()
    t = threading.Thread(target=up.run, args=(stop,), kwargs={"interval_s": 0.005})
    t.start()
    for _ in range(200):
        if queue.calls >= 3:
            break
        stop.wait(0.01)
    stop.set()
    t.join(timeout=5)
    assert queue.calls >= 3 and not t.is_alive()
    assert up.stats.last_error == f"spool: cannot move {seg} (No space left on device)"
    assert seg.read_bytes() == b"data"
