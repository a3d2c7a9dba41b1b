"""/healthz, /readyz and /metrics: readiness follows the database, metrics count ingest, latency, bytes, errors,
audit appends and the spool backlog agents report, and name no participant, device or segment."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from reliability_helpers import Device, consent_all, seal_segment

from clock_helpers import HISTORIC
from workprint.config import ServerSettings
from workprint.server.serve import build_api, serve_in_thread, stop_server
from workprint.store.metadata import MetadataStore
from workprint.transport import HttpTransport


def _samples(text: str) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def test_metrics_count_ingest_and_backlog_without_naming_anyone_and_readyz_follows_the_database(
    tmp_path: Path,
) -> None:
    api = build_api(ServerSettings(home=tmp_path, clock_tolerance_s=HISTORIC))
    server, thread, url = serve_in_thread(api)
    try:
        with httpx.Client(base_url=url, trust_env=False) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/readyz").json() == {"status": "ready"}
            pid = api.create_participant("Ada")
            code = api.create_enrolment_code(pid)
            e = client.post("/v1/enroll", json={"code": code, "device_name": "laptop"}).json()
            consent_all(api, e["device_token"])
            dev = Device(url, e["device_token"], pid, e["device_id"], api.participant(pid).public_key)
            segments = [seal_segment(dev, n, frame_bytes=1000) for n in range(5)]
            with HttpTransport(url, dev.token) as transport:
                for n, (sid, data) in enumerate(segments):
                    transport.set_spool_pending(len(segments) - n)
                    assert transport.put_segment(sid, data).outcome == "stored"
                assert transport.put_segment(*segments[0]).outcome == "duplicate"
            bad = client.put(f"/v1/segments/{'0' * 64}", content=b"x", headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401
            text = client.get("/metrics").text
            m = _samples(text)
            assert m["workprint_http_requests_total{route=ingest,status=201}"] == 5
            assert m["workprint_ingest_segments_total{outcome=duplicate}"] == 1
            assert m["workprint_errors_total{kind=401,route=ingest}"] == 1
            assert m["workprint_ingest_seconds_count{}"] == 7
            assert m["workprint_ingest_bytes_total{}"] == sum(len(d) for _, d in segments)
            assert m["workprint_agent_spool_pending_segments_count{}"] == 6
            assert (
                m["workprint_agent_spool_pending_segments_sum{}"] == 5 + 4 + 3 + 2 + 1 + 1
            )  # the duplicate went with the last value
            assert m["workprint_audit_append_seconds_count{}"] >= 1  # the enrolment was audited
            for secret in (pid, dev.device, *(sid for sid, _ in segments), "Ada"):
                assert secret not in text
            assert not re.search(r"participant|device_id|segment_id", text)

            api.metadata = MetadataStore("postgresql+psycopg://nobody@127.0.0.1:1/none", create=False)
            r = client.get("/readyz")
            assert r.status_code == 503
            assert r.json()["error"]["message"] == "database: unreachable (OperationalError)"
            assert client.get("/healthz").status_code == 200
    finally:
        stop_server(server, thread)
