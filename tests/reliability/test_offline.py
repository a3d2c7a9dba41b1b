"""Offline for long, then back: the agent spools up to its cap, stops and says so, never drops what it acknowledged,
and drains at a bounded rate. The server's disk full or unwritable: 507, reads go on, the agent keeps its spool."""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx
import pytest
from reliability_helpers import WALL0, Device, consent_all, free_port, seal_segment, stored_event_counts

from clock_helpers import HISTORIC
from workprint.config import ServerSettings
from workprint.errors import SpoolFull
from workprint.models import FrameEvent, KeyEvent
from workprint.segment import segment_id
from workprint.server.serve import build_api, serve_in_thread, stop_server
from workprint.spool import Spool, SpoolIdentity
from workprint.transport import Backoff, HttpTransport, Uploader

CAP = 240_000
RATE = 200_000.0  # bytes per second while draining


def _disk_bytes(spool: Path) -> int:
    return sum(p.stat().st_size for p in spool.rglob("*") if p.is_file() and p.suffix in (".wpj", ".wps"))


def test_offline_agent_fills_its_cap_stops_without_dropping_then_drains_at_a_bounded_rate(tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path / "server", clock_tolerance_s=HISTORIC)
    api = build_api(settings)
    pid = api.create_participant("Ada")
    e = api.enroll(api.create_enrolment_code(pid), "laptop")
    consent_all(api, e.device_token)
    port = free_port()  # nothing listens here yet: the server is unreachable
    changes: list[bool] = []
    identity = SpoolIdentity(pid, e.device_id, "s1", e.public_key, "1", "test")
    spool = Spool.open(tmp_path / "spool", identity, max_bytes=20_000, max_total_bytes=CAP, on_full=changes.append)
    transport = HttpTransport(f"http://127.0.0.1:{port}", e.device_token, timeout=2)
    uploader = Uploader(spool, transport, backoff=Backoff(base_s=0.001, cap_s=0.002), max_bytes_per_s=RATE)
    rng = random.Random(7)
    acknowledged: list[int] = []
    i = 0
    with pytest.raises(SpoolFull, match=r"spool: full \(\d+ of 240000 bytes waiting for upload\)"):
        while True:  # hours offline, compressed: capture, seal and failing uploads until the cap stops capture
            t = 1_000_000 + i
            if i % 3 == 0:
                spool.append(FrameEvent(t, WALL0 + t, f"f{i}", 4, 3, "webp", "ab", 0), rng.randbytes(3000))
            else:
                spool.append(KeyEvent(t, WALL0 + t, True, 38, "a", "a"))
            acknowledged.append(i)
            i += 1
            if i % 10 == 0:
                spool.tick()
                time.sleep(0.003)
                uploader.run_once()
    assert spool.full and changes == [True]
    assert uploader.stats.failures >= 2 and uploader.stats.stored == 0 and not spool.rejected()
    assert CAP * 0.9 < spool.total_bytes() <= CAP and _disk_bytes(tmp_path / "spool") <= CAP
    with pytest.raises(SpoolFull):  # still full: refused, not silently dropped
        spool.append(KeyEvent(1, WALL0, True, 38, "a", "a"))
    spool.tick()

    server, thread, _ = serve_in_thread(api, port=port)  # the server is back
    try:
        backlog = sum(p.stat().st_size for p in spool.pending())
        biggest = max(p.stat().st_size for p in spool.pending())
        uploader.backoff.reset()
        t0 = time.monotonic()
        while spool.pending():
            uploader.run_once()
            time.sleep(max(0.001, min(0.05, uploader.wait_s())))
        elapsed = time.monotonic() - t0
        assert elapsed >= (backlog - biggest) / RATE * 0.95, f"drained {backlog} bytes in {elapsed:.2f} s"
        assert changes == [True, False] and not spool.full
        spool.append(KeyEvent(2_000_000, WALL0 + 2_000_000, True, 38, "a", "a"))  # recording can go on
        spool.seal()
        assert uploader.flush() == 1
    finally:
        stop_server(server, thread)
        transport.close()
        spool.close()
    counts = stored_event_counts(settings)
    assert max(counts.values()) == 1
    assert sorted(t - 1_000_000 for t in counts if t != 2_000_000) == acknowledged
    api.metadata.close()


def _server_with_device(home: Path, **settings_kw: int) -> tuple[ServerSettings, Device, str]:
    settings = ServerSettings(home=home, clock_tolerance_s=HISTORIC, **settings_kw)  # type: ignore[arg-type]
    api = build_api(settings)
    pid = api.create_participant("Ada")
    e = api.enroll(api.create_enrolment_code(pid), "laptop")
    consent_all(api, e.device_token)
    api.metadata.close()
    return settings, Device("", e.device_token, pid, e.device_id, e.public_key), e.device_token


@pytest.mark.parametrize("how", ["below the free-space floor", "blob directory unwritable"])
def test_a_full_server_disk_refuses_segments_with_507_keeps_serving_and_the_agent_keeps_its_spool(
    tmp_path: Path, how: str
) -> None:
    settings, dev, token = _server_with_device(tmp_path)
    api = build_api(settings)
    identity = SpoolIdentity(dev.participant, dev.device, "s1", dev.public_key, "1", "test")
    spool = Spool.open(tmp_path / "spool", identity)
    for k in range(3):
        spool.append(KeyEvent(5_000_000 + k, WALL0 + 5_000_000 + k, True, 38, "a", "a"))
        spool.seal()
    waiting = {segment_id(p.read_bytes())[:2] for p in spool.pending()}
    sid0, data0 = seal_segment(dev, 0)
    while sid0[:2] in waiting:  # the stored segment's blob directory must not be one the agent's would go to
        sid0, data0 = seal_segment(dev, 0)
    assert api.ingest(api.authenticate_device(token), sid0, data0) == "stored"
    if how == "below the free-space floor":
        # more than any disk has free
        api.settings = ServerSettings(home=tmp_path, min_free_bytes=1 << 62, clock_tolerance_s=HISTORIC)
    else:
        for n in range(256):  # every directory a new blob could go to is a file now: writes fail (ENOTDIR)
            d = Path(settings.resolved_blob_url()) / "segments" / f"{n:02x}"
            if not d.exists():
                d.write_bytes(b"")
    server, thread, url = serve_in_thread(api)
    try:
        with HttpTransport(url, token) as transport:
            pending = spool.pending()
            data = pending[0].read_bytes()
            result = transport.put_segment(segment_id(data), data)
            assert result.outcome == "retry" and "507" in result.reason and "insufficient_storage" in result.reason
            assert result.retry_after_s == (60 if how == "below the free-space floor" else None)
            uploader = Uploader(spool, transport)
            assert uploader.run_once() == 0
            assert spool.pending() == pending and not spool.rejected()  # kept, to be sent when there is room
        with httpx.Client(base_url=url, trust_env=False) as client:
            assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
        assert api.read_segment("reliability-test", sid0).events[0].t_ns == 1_000_000  # reads go on
        assert len(api.metadata.segments()) == 1
    finally:
        stop_server(server, thread)
        spool.close()
        api.metadata.close()
