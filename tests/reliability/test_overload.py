"""More uploads than the server can take: it answers 503 with Retry-After instead of falling over, stays healthy,
and every refused segment goes through on retry; agents back off with jitter, never sooner than Retry-After."""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path

import httpx
from reliability_helpers import Device, consent_all, seal_segment

from clock_helpers import HISTORIC
from workprint.config import ServerSettings
from workprint.server.serve import build_api, serve_in_thread, stop_server
from workprint.transport import Backoff, HttpTransport


def test_ingest_over_capacity_answers_503_with_retry_after_and_recovers(tmp_path: Path) -> None:
    settings = ServerSettings(
        home=tmp_path, ingest_max_inflight=1, ingest_max_queue=2, ingest_queue_timeout_s=0.3, clock_tolerance_s=HISTORIC
    )
    api = build_api(settings)
    pid = api.create_participant("Ada")
    e = api.enroll(api.create_enrolment_code(pid), "laptop")
    consent_all(api, e.device_token)
    dev = Device("", e.device_token, pid, e.device_id, e.public_key)
    segments = [seal_segment(dev, n, frame_bytes=300_000) for n in range(30)]
    server, thread, url = serve_in_thread(api)
    answers: list[httpx.Response] = []
    start = threading.Barrier(len(segments))

    def upload(sid: str, data: bytes) -> None:
        with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
            start.wait()
            r = client.put(f"/v1/segments/{sid}", content=data, headers={"Authorization": f"Bearer {dev.token}"})
            answers.append(r)

    try:
        threads = [threading.Thread(target=upload, args=s) for s in segments]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = Counter(r.status_code for r in answers)
        assert set(statuses) <= {201, 503} and statuses[503] >= 5, statuses
        for r in answers:
            if r.status_code == 503:
                assert 2 <= int(r.headers["Retry-After"]) <= 120  # at least 2 s; spread, stretched by the pressure
                assert r.json()["error"]["code"] == "overloaded"
        with httpx.Client(base_url=url, trust_env=False) as client:
            assert client.get("/readyz").status_code == 200
            metrics = client.get("/metrics").text
        assert f'workprint_errors_total{{kind="503",route="ingest"}} {float(statuses[503])}' in metrics
        with HttpTransport(url, dev.token) as transport:  # the agents come back one by one: everything goes through
            results = [transport.put_segment(sid, data) for sid, data in segments]
        assert Counter(r.outcome for r in results) == {"stored": statuses[503], "duplicate": statuses[201]}
        assert len(api.metadata.segments()) == len(segments)
    finally:
        stop_server(server, thread)
        api.metadata.close()


def test_the_uploader_waits_at_least_retry_after_with_jitter_that_spreads_agents_apart() -> None:
    agents = [Backoff(base_s=0.5, cap_s=60.0, rng=random.Random(n)) for n in range(200)]
    for attempt in range(8):
        delays = [b.next_delay(retry_after_s=2.0) for b in agents]
        ceiling = min(60.0, 0.5 * 2**attempt)
        assert all(2.0 <= d <= max(2.0, ceiling) for d in delays)
        if ceiling >= 8:  # once the backoff exceeds Retry-After, the agents no longer come back together
            assert len({round(d, 3) for d in delays}) > 100
            assert max(delays) - min(delays) > ceiling / 2
    lone = Backoff(rng=random.Random(1))
    assert [lone.next_delay() <= 0.5 * 2**n for n in range(10)] == [True] * 10
