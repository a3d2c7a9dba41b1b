"""Benchmark: sealed segments, events and bytes per second accepted by one collection-server process.

Run: ``.venv/bin/python bench/ingest.py [--backend sqlite|postgresql|both] [--segments 300] [--events 2000]
[--frame-kb 512] [--clients 16] [--runs 3]``.

One real uvicorn process serves the app (``--serve`` mode of this file, so the benchmark can lift the per-device
rate limit), on loopback. The clients run in another process: they enrol devices, upload consent receipts, seal
every segment up front (encryption on: AES-256-GCM body, data key sealed to the participant's X25519 key; frames
are random bytes, so nothing compresses), then upload them from ``--clients`` threads while the clock runs. Each
PUT is acknowledged only once the blob is fsynced and its manifest committed, so the figures are durable throughput.
Prints per-run figures and the medians as JSON; p50/p99 are per-request latencies.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

HISTORIC_S = 10 * 365 * 86400.0  # the bench's segments are dated 2023; the server takes consent from when it arrives


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(home: str, db_url: str, port: int) -> None:
    """The server process: the real app, default limits except the per-device rate (one device sends a backlog)."""
    import uvicorn

    from workprint.config import ServerSettings
    from workprint.server.app import create_app
    from workprint.server.ratelimit import RateLimits
    from workprint.server.serve import build_api

    api = build_api(ServerSettings(home=Path(home), db_url=db_url, clock_tolerance_s=HISTORIC_S))
    limits = RateLimits(device_rate=1e6, device_burst=10**6)
    uvicorn.run(create_app(api, limits=limits), host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def _prepare(home: Path, db_url: str, devices: int) -> list[tuple[str, str, str, bytes]]:
    """Participants with enrolment codes, made directly on the store: (participant, code) pairs, via the admin path."""
    from workprint.config import ServerSettings
    from workprint.server.serve import build_api

    api = build_api(ServerSettings(home=home, db_url=db_url))
    out = []
    for i in range(devices):
        pid = api.create_participant(f"bench-{i}")
        out.append((pid, api.create_enrolment_code(pid), "", api.participant(pid).public_key))
    api.metadata.close()
    return out


def _segments(n: int, events: int, frame_kb: int, who: list[dict[str, Any]]) -> list[tuple[int, str, bytes]]:
    """``n`` sealed segments spread over the devices: (device index, id, bytes)."""
    from workprint.models import ALL_SCOPES, FrameEvent, KeyEvent, MotionEvent
    from workprint.segment import SegmentHeader, count_kinds, seal, segment_id

    wall0 = time.time_ns() - 3_600 * 10**9
    out = []
    for i in range(n):
        d = i % len(who)
        evs: list[Any] = []
        t = i * 60_000_000_000
        frames: dict[str, bytes] = {}
        n_frames = 4 if frame_kb else 0
        for j in range(events):
            t += 10_000_000
            if j % 3 == 0:
                evs.append(KeyEvent(t, wall0 + t, j % 2 == 0, 38, "a", "a"))
            else:
                evs.append(MotionEvent(t, wall0 + t, ((t, j % 1280, j % 800),)))
        for f in range(n_frames):
            fid = f"f{i}-{f}"
            data = os.urandom(frame_kb * 1024 // n_frames)
            frames[fid] = data
            t += 1
            evs.append(FrameEvent(t, wall0 + t, fid, 1280, 800, "jpeg", "0" * 64, t))
        header = SegmentHeader(
            participant=who[d]["participant_id"], device=who[d]["device_id"], session=f"s{d}", seq=i // len(who),
            t_start_ns=evs[0].t_ns, t_end_ns=evs[-1].t_ns, wall_start_ns=evs[0].wall_ns, wall_end_ns=evs[-1].wall_ns,
            scopes=ALL_SCOPES, notice_version="1", redactor_version="bench", counts=count_kinds(evs),
        )  # fmt: skip
        data = seal(header, evs, frames, who[d]["public_key"])
        out.append((d, segment_id(data), data))
    return out


def _enrol_and_consent(url: str, codes: list[tuple[str, str, str, bytes]]) -> list[dict[str, Any]]:
    from nacl.signing import SigningKey

    from workprint.models import ALL_SCOPES
    from workprint.privacy.notices import DEFAULT_PROGRAM
    from workprint.privacy.receipts import make_receipt, sign_receipt

    who = []
    for pid, code, _, public_key in codes:
        r = httpx.post(f"{url}/v1/enroll", json={"code": code, "device_name": "bench"}, timeout=30)
        r.raise_for_status()
        body = r.json()
        receipt = make_receipt(DEFAULT_PROGRAM, "grant", ALL_SCOPES, pid, time.time_ns() - 2 * 3_600 * 10**9)
        auth = {"Authorization": f"Bearer {body['device_token']}"}
        c = httpx.post(f"{url}/v1/consents", json=sign_receipt(receipt, SigningKey.generate()).to_dict(), headers=auth)
        c.raise_for_status()
        who.append({"participant_id": pid, "device_id": body["device_id"], "token": body["device_token"],
                    "public_key": public_key})  # fmt: skip
    return who


def _upload(url: str, who: list[dict[str, Any]], segs: list[tuple[int, str, bytes]], clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    queue = list(reversed(segs))

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    d, sid, data = queue.pop()
                t0 = time.perf_counter()
                r = client.put(f"{url}/v1/segments/{sid}", content=data,
                               headers={"Authorization": f"Bearer {who[d]['token']}"})  # fmt: skip
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if r.status_code != 201:
                        errors.append(f"{r.status_code} {r.text[:120]}")

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    return {"wall_s": wall, "latencies": latencies, "errors": errors}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with TemporaryDirectory(prefix="wp-bench-") as tmp:
        home = Path(tmp)
        db_url = f"sqlite:///{home / 'server' / 'workprint.db'}"
        if backend == "postgresql":
            schema = f"bench_{secrets.token_hex(4)}"
            from sqlalchemy import create_engine, text

            eng = create_engine(PG_URL)
            with eng.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            eng.dispose()
            db_url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        codes = _prepare(home, db_url, args.devices)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(home), db_url, str(port)])
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/v1/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("server did not start")
                time.sleep(0.1)
            who = _enrol_and_consent(url, codes)
            segs = _segments(args.segments, args.events, args.frame_kb, who)
            cpu0, mine0 = _cpu_s(proc.pid), time.process_time()
            result = _upload(url, who, segs, args.clients)
            result["server_cpu_s"], result["client_cpu_s"] = _cpu_s(proc.pid) - cpu0, time.process_time() - mine0
        finally:
            proc.terminate()
            proc.wait(10)
            if backend == "postgresql":
                eng = create_engine(PG_URL)
                with eng.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                eng.dispose()
    n = len(segs)
    total_bytes = sum(len(s[2]) for s in segs)
    events = n * (args.events + (4 if args.frame_kb else 0))
    lat = result["latencies"]
    return {
        "backend": backend, "segments": n, "errors": len(result["errors"]),
        "first_error": (result["errors"] or [""])[0],
        "segments_per_s": n / result["wall_s"], "events_per_s": events / result["wall_s"],
        "mb_per_s": total_bytes / 1e6 / result["wall_s"], "segment_kb": total_bytes / n / 1024,
        "server_cpu_pct": 100 * result["server_cpu_s"] / result["wall_s"],
        "client_cpu_pct": 100 * result["client_cpu_s"] / result["wall_s"],
        "p50_ms": 1000 * lat[len(lat) // 2], "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--segments", type=int, default=300)
    p.add_argument("--events", type=int, default=2000, help="input events per segment (plus 4 frame events)")
    p.add_argument("--frame-kb", type=int, default=512, help="frame bytes per segment, in KiB")
    p.add_argument("--devices", type=int, default=8)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    summary = {}
    for backend in backends:
        runs = [run_once(backend, args) for _ in range(args.runs)]
        for r in runs:
            print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
        keys = ("segments_per_s", "events_per_s", "mb_per_s", "p50_ms", "p99_ms")
        summary[backend] = {k: round(statistics.median(r[k] for r in runs), 1) for k in keys}
        summary[backend]["errors"] = sum(r["errors"] for r in runs)
    print(json.dumps({"median": summary}, indent=2))


if __name__ == "__main__":
    main()
