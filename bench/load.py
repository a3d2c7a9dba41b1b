"""Load generator: simulated agents posting sealed segments to a ``workprint server`` in its own process.

    .venv/bin/python bench/load.py --db sqlite --agents 200 --seconds 20              # flat out
    .venv/bin/python bench/load.py --db sqlite --agents 200 --seconds 20 --rate 100   # paced, 100 segments/s
    .venv/bin/python bench/load.py --db postgresql --agents 200 --seconds 20 [--rate 100]

Loopback only, bounded in agents and time: it enrols ``--agents`` devices (one participant each, consent given),
starts the server on a free port, lets the agents upload for ``--seconds``, then kills the server and prints accepted
segments/s, events/s and MB/s, p50/p99 latency of accepted uploads, the share and p99 latency of refused ones, errors
by status and the server's RSS (start, end, max). Agents honour 429/503/507 ``Retry-After`` plus jitter, as the real
uploader does, and never wait past the end of the run.

- **flat out** (``--rate 0``): each agent uploads its next segment as soon as the last one is answered, like an agent
  draining a backlog after a long offline period.
- **paced** (``--rate R``): like real agents, each uploads one segment at a time, every ``agents / R`` seconds from a
  random phase (±10 % jitter). A real agent seals a segment at most every 60 s, so 200 agents at ``--rate 100`` (one
  segment every 2 s each) stand for ~6,000 busy participants.

Segment shape (defaults): a busy minute of one participant, sealed as the real agent seals it (``segment_max_s``
60 s): ``--events 1000`` input events (typing ~150 keys/min is 300 press/release events; mouse motion, coalesced to
20 Hz, adds up to 1,200 while the mouse moves) and ``--frames 4`` frames of ``--frame-kib 125`` KiB (frames are kept
only when the screen changed, mostly before actions; a whole 1280x800 desktop is ~211 KiB as JPEG q80, a changed
window less). That is 1,004 records and 517 KB sealed, ~515 bytes per event: the ratio of the two targets
(100,000 events/s and 50 MB/s), so one segment rate meets both. The fleet average is lighter in events
(DESIGN: ~1.6 events/s and ~5 KB/s per participant); ``--events 100 --frames 2 --frame-kib 160`` models that.

The generator shares the machine's two cores with the server, so it stays cheap: each agent encodes its payload once
and re-encrypts it under a fresh data key and header (next ``seq``) for every upload, exactly as ``segment.seal``
would (every upload is a distinct, decryptable segment; ~1.4 ms each), and talks HTTP/1.1 over its own keep-alive
connection with a minimal client (``Connection``): httpx's shared pool spent ~18 ms of CPU per request at 200
connections, more than the server.

Figures (2 cores shared with other work; medians of 3 runs of 20 s; load average at the time in the README):

| 200 agents (1,004 events, 517 KB each) | accepted events/s, MB/s | accepted p50 / p99 | refused, p99 | RSS max |
|---|---|---|---|---|
| flat out, SQLite | 104,900, 54.0 (runs 98k-120k) | 101 ms / 180 ms (runs 177-188) | 9.6 %, 819 ms | 184 MiB (206) |
| flat out, PostgreSQL | 87,700, 45.1 (runs 87k-88k) | 98 ms / 589 ms (runs 286-650) | 11.8 %, 782 ms | 188 MiB |
| paced, 100 segments/s, SQLite | 95,000, 48.9 | 72 ms / 214 ms (runs 156-219) | 5.5 %, 201 ms | 166 MiB |
| paced, 100 segments/s, PostgreSQL | 69,100, 35.6 | 64 ms / 220 ms (runs 197-303) | 11.2 %, 272 ms | 170 MiB |
| paced, 20/s, SQLite / PostgreSQL | 20,100, 10.3 | 25 / 23 ms, 106 / 169 ms (45-330 / 100-241) | 0 % | 160 MiB |

Load average 0.8-4.0 (other work on the same 2 cores, the project's test suite among it); the spread between runs
is wider than most differences. These are with httptools' parser, no access log and a latency budget of 0.2 s;
before them: flat out, SQLite p99 574 ms, PostgreSQL 77,000 events/s and p99 911 ms; paced 100/s, SQLite 47,000
events/s and p99 596 ms, PostgreSQL 60,100 and 429 ms; paced 20/s about the same (p99 130 / 86 ms). A blob put
(file and directory fsync) takes ~17 ms of a ~35 ms ingest under this load, but batching blob fsyncs in one thread
measured slower (8 threads of puts: 280-360 against 390-650 puts/s) than ext4's own merging of concurrent fsyncs.
Before admission control and this client (same machine, quiet): flat out SQLite 44,000 events/s, p99 13.9 s (every
agent queued up to 5 s); paced 20/s PostgreSQL p99 560 ms (twelve round trips per upload, now five or six).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.public import PublicKey, SealedBox
from nacl.signing import SigningKey
from sqlalchemy import create_engine, text

from workprint.config import ServerSettings
from workprint.models import ALL_SCOPES, FrameEvent, KeyEvent
from workprint.privacy.notices import DEFAULT_PROGRAM
from workprint.privacy.receipts import make_receipt, sign_receipt
from workprint.segment import ENC, MAGIC, SegmentHeader, count_kinds, encode_payload, segment_id
from workprint.server.consent import consent_of
from workprint.server.serve import build_api

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WALL0 = time.time_ns() - 60 * 10**9  # recent: the server takes consent from when it arrives (less 5 min) only
MAX_AGENTS = 2000
MAX_SECONDS = 3600


@dataclass(frozen=True)
class Agent:
    """One enrolled device and its participant's public key."""

    token: str
    participant: str
    device: str
    public_key: bytes


class SegmentMaker:
    """Distinct sealed segments of one agent: the payload is encoded once, each segment is a fresh encryption."""

    def __init__(self, agent: Agent, n_events: int, n_frames: int, frame_bytes: int, rng: random.Random) -> None:
        t0 = 1_000_000
        events: list[KeyEvent | FrameEvent] = [
            KeyEvent(t0 + k, WALL0 + t0 + k, k % 2 == 0, 38, "a", "a") for k in range(n_events)
        ]
        frames = {}
        for f in range(n_frames):
            t = t0 + n_events + f
            events.append(FrameEvent(t, WALL0 + t, f"f{f}", 1280, 800, "webp", "00", 0))
            frames[f"f{f}"] = rng.randbytes(frame_bytes)
        self.payload = encode_payload(events, frames)
        self.events = len(events)
        self.box = SealedBox(PublicKey(agent.public_key))
        self.header = SegmentHeader(
            participant=agent.participant, device=agent.device, session=secrets.token_hex(8), seq=0,
            t_start_ns=events[0].t_ns, t_end_ns=events[-1].t_ns, wall_start_ns=events[0].wall_ns,
            wall_end_ns=events[-1].wall_ns, scopes=("keys", "screenshots") if n_frames else ("keys",),
            notice_version="1", redactor_version="bench", counts=count_kinds(events),
        )  # fmt: skip
        self.seq = 0

    def next(self) -> tuple[str, bytes]:
        """(id, bytes) of the next segment (what ``segment.seal`` makes, without re-encoding the payload)."""
        key = AESGCM.generate_key(bit_length=256)
        header = replace(
            self.header, seq=self.seq, sealed_key=base64.b64encode(self.box.encrypt(key)).decode(), enc=ENC
        )
        self.seq += 1
        hbytes = header.to_bytes()
        nonce = os.urandom(12)
        data = (
            MAGIC + struct.pack(">I", len(hbytes)) + hbytes + nonce + AESGCM(key).encrypt(nonce, self.payload, hbytes)
        )
        return segment_id(data), data


def enrol(settings: ServerSettings, n: int) -> list[Agent]:
    """``n`` participants with one device each, every scope consented (as their agents would at enrolment)."""
    api = build_api(settings)
    agents = []
    try:
        for i in range(n):
            pid = api.create_participant(f"load-{i}")
            e = api.enroll(api.create_enrolment_code(pid), f"sim-{i}")
            device = api.authenticate_device(e.device_token)
            receipt = make_receipt(DEFAULT_PROGRAM, "grant", ALL_SCOPES, pid, WALL0 - 10**9)
            consent_of(api).receive(device, sign_receipt(receipt, SigningKey.generate()).to_dict())
            agents.append(Agent(e.device_token, pid, e.device_id, e.public_key))
    finally:
        api.metadata.close()
    return agents


@contextmanager
def database(kind: str) -> Iterator[str]:
    """``""`` (SQLite under the server home) or a throw-away PostgreSQL database, dropped afterwards."""
    if kind == "sqlite":
        yield ""
        return
    name = f"wp_bench_{secrets.token_hex(5)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int, db_url: str) -> subprocess.Popen[bytes]:
    """``workprint server`` on 127.0.0.1:``port``; returns once it is ready."""
    args = [sys.executable, "-m", "workprint.cli", "server", "--host", "127.0.0.1", "--port", str(port)]
    if db_url:
        args += ["--db", db_url]
    env = {**os.environ, "WORKPRINT_HOME": str(home)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    with httpx.Client(trust_env=False) as c:
        while True:
            with suppress(httpx.HTTPError):
                if c.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return proc
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("load: the server did not start")
            time.sleep(0.05)


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Connection:
    """One agent's keep-alive HTTP/1.1 connection: a minimal client, because httpx's shared pool spends time
    proportional to its connections on every request, and at 200 agents that cost more CPU than the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def put(self, path: str, token: str, body: bytes, timeout_s: float = 60.0) -> tuple[int, dict[str, str]]:
        """(status, lower-cased headers) of ``PUT path``. A kept-alive connection the server closed meanwhile (its
        idle timeout is 5 s, shorter than a backoff) is reopened and the request sent again, as HTTP clients do."""
        reused = self.writer is not None
        try:
            return await asyncio.wait_for(self._put(path, token, body), timeout_s)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.close()
            if not reused:
                raise
        except BaseException:
            self.close()
            raise
        try:
            return await asyncio.wait_for(self._put(path, token, body), timeout_s)
        except BaseException:
            self.close()
            raise

    async def _put(self, path: str, token: str, body: bytes) -> tuple[int, dict[str, str]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"PUT {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.writelines([head.encode(), body])
        await self.writer.drain()
        line = await self.reader.readline()
        if not line:
            raise ConnectionResetError("connection closed before the response")
        status = int(line.split(b" ", 2)[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _pct(values: list[float], p: float) -> float:
    lat = sorted(values)
    return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else float("nan")


@dataclass
class Result:
    """What the agents saw."""

    seconds: float = 0.0
    accepted_segments: int = 0
    accepted_events: int = 0
    accepted_bytes: int = 0
    latencies: list[float] = field(default_factory=list)  # accepted uploads (201 stored, 200 duplicate)
    refused_latencies: list[float] = field(default_factory=list)  # everything else
    statuses: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, int]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        requests = len(self.latencies) + len(self.refused_latencies)
        errors = {k: v for k, v in sorted(self.statuses.items()) if k not in ("201", "200")}
        mib = [round(r / 2**20, 1) for _, r in self.rss] or [0.0]
        return {
            "seconds": round(self.seconds, 1),
            "accepted_segments_per_s": round(self.accepted_segments / self.seconds, 1),
            "accepted_events_per_s": round(self.accepted_events / self.seconds),
            "accepted_MB_per_s": round(self.accepted_bytes / self.seconds / 1e6, 1),
            "accepted_p50_ms": _pct(self.latencies, 0.50),
            "accepted_p99_ms": _pct(self.latencies, 0.99),
            "requests": requests,
            "refused_share": round(len(self.refused_latencies) / requests, 3) if requests else 0.0,
            "refused_p99_ms": _pct(self.refused_latencies, 0.99),
            "errors": errors,
            "server_rss_MiB_start_end_max": [mib[0], mib[-1], max(mib)],
        }


async def run_agents(
    url: str | list[str],
    makers: list[SegmentMaker],
    tokens: list[str],
    seconds: float,
    *,
    rate: float = 0.0,
    server_pid: int | list[int] = 0,
    rss_every_s: float = 1.0,
    on_rss: Callable[[float, int], None] | None = None,
) -> Result:
    """Every agent uploads until ``seconds`` have passed.

    ``rate`` 0: back to back (each agent's next upload starts when its previous one is answered). ``rate`` > 0:
    paced like real agents, ``rate`` segments/s in total: each agent uploads one segment every
    ``len(makers) / rate`` seconds from a random phase (±10 % jitter), and starts late ones at once, as an agent
    with a backlog does. Refusals (429/503/507) are retried after ``Retry-After`` plus jitter, as ``transport.Backoff``
    does; a retry takes the place of the agent's next scheduled upload.

    Several ``url``s (replicas): agent ``i`` talks to ``url[i % n]``, as a load balancer spreading connections would;
    the RSS reported is the replicas' sum.
    """
    res = Result()
    start = time.monotonic()
    end = start + seconds
    urls = [url] if isinstance(url, str) else url
    pids = [server_pid] if isinstance(server_pid, int) else server_pid
    pids = [p for p in pids if p]
    period = len(makers) / rate if rate > 0 else 0.0

    def total_rss() -> int:
        return sum(rss_bytes(p) for p in pids)

    async def agent(i: int, maker: SegmentMaker, token: str) -> None:
        rng = random.Random()
        host, _, port = urls[i % len(urls)].removeprefix("http://").partition(":")
        conn = Connection(host, int(port))
        due = start + rng.uniform(0, period)
        try:
            while True:
                if period:
                    if due >= end:
                        return
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    due += period * rng.uniform(0.9, 1.1)
                if time.monotonic() >= end:
                    return
                sid, data = maker.next()
                retry_after = 0.0
                t0 = time.perf_counter()
                try:
                    status_code, headers = await conn.put(f"/v1/segments/{sid}", token, data)
                    status = str(status_code)
                    if status_code in (429, 503, 507):
                        retry_after = float(headers.get("retry-after", "1"))
                except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError) as exc:
                    status = type(exc).__name__
                    retry_after = 0.5
                elapsed = time.perf_counter() - t0
                res.statuses[status] += 1
                if status in ("201", "200"):
                    res.latencies.append(elapsed)
                    res.accepted_segments += 1
                    res.accepted_events += maker.events
                    res.accepted_bytes += len(data)
                else:
                    res.refused_latencies.append(elapsed)
                if retry_after:  # jitter, as transport.Backoff; the run's clock stops at ``end`` all the same
                    wait = retry_after + rng.uniform(0, retry_after)
                    await asyncio.sleep(min(wait, max(0.0, end - time.monotonic())))
        finally:
            conn.close()

    async def sample_rss() -> None:
        while time.monotonic() < end:
            if pids:
                value = total_rss()
                res.rss.append((time.monotonic() - start, value))
                if on_rss is not None:
                    on_rss(time.monotonic() - start, value)
            await asyncio.sleep(rss_every_s)

    sampler = asyncio.create_task(sample_rss())
    await asyncio.gather(*(agent(i, m, t) for i, (m, t) in enumerate(zip(makers, tokens, strict=True))))
    res.seconds = time.monotonic() - start
    await sampler
    if pids:
        res.rss.append((res.seconds, total_rss()))
    return res


@contextmanager
def bench_server(db: str, agents: int) -> Iterator[tuple[str, subprocess.Popen[bytes], list[Agent]]]:
    """A fresh server home and database, ``agents`` enrolled devices and the server running; cleaned up after."""
    with bench_replicas(db, agents, 1) as (urls, procs, agents_):
        yield urls[0], procs[0], agents_


@contextmanager
def bench_replicas(
    db: str, agents: int, replicas: int
) -> Iterator[tuple[list[str], list[subprocess.Popen[bytes]], list[Agent]]]:
    """Like ``bench_server`` with ``replicas`` server processes on one home (keys, blobs) and one database."""
    home = Path(tempfile.mkdtemp(prefix="wp-load-"))
    try:
        with database(db) as db_url:
            agents_ = enrol(ServerSettings(home=home, db_url=db_url), agents)
            procs: list[subprocess.Popen[bytes]] = []
            urls = []
            try:
                for _ in range(replicas):
                    port = free_port()
                    procs.append(start_server(home, port, db_url))
                    urls.append(f"http://127.0.0.1:{port}")
                yield urls, procs, agents_
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def makers_for(agents: list[Agent], args: argparse.Namespace) -> list[SegmentMaker]:
    rng = random.Random(1)
    return [SegmentMaker(a, args.events, args.frames, args.frame_kib * 1024, rng) for a in agents]


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared with ``soak.py``."""
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--agents", type=int, default=200, help="simulated agents, each its own device and connection")
    p.add_argument("--events", type=int, default=1000, help="input events (key events) per segment")
    p.add_argument("--frames", type=int, default=4, help="frames per segment")
    p.add_argument("--frame-kib", type=int, default=125, help="size of each frame")


def check(args: argparse.Namespace) -> None:
    if not 1 <= args.agents <= MAX_AGENTS:
        raise SystemExit(f"--agents: expected 1 to {MAX_AGENTS}, got {args.agents}")
    if not 0 < getattr(args, "seconds", 1) <= MAX_SECONDS:
        raise SystemExit(f"--seconds: expected 0 < s <= {MAX_SECONDS}, got {args.seconds}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common(p)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rate", type=float, default=0.0, help="total segments/s (0: as fast as the server answers)")
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    p.add_argument("--replicas", type=int, default=1,
                   help="N > 1: run one server, then N on the same database and home, and compare")  # fmt: skip
    args = p.parse_args()
    check(args)
    if not 1 <= args.replicas <= 4:
        raise SystemExit(f"--replicas: expected 1 to 4, got {args.replicas}")
    runs = []
    for n in sorted({1, args.replicas}):
        with bench_replicas(args.db, args.agents, n) as (urls, procs, agents):
            makers = makers_for(agents, args)
            seg_bytes = len(makers[0].next()[1])
            pids = [p.pid for p in procs]
            tokens = [a.token for a in agents]
            result = asyncio.run(run_agents(urls, makers, tokens, args.seconds, rate=args.rate, server_pid=pids))
        out = {"db": args.db, "replicas": n, "agents": args.agents, "events_per_segment": makers[0].events,
               "segment_bytes": seg_bytes, **result.summary()}  # fmt: skip
        runs.append(out)
        print(json.dumps(out) if args.json else "\n".join(f"{k:>30}: {v}" for k, v in out.items()), flush=True)
    if len(runs) == 2 and not args.json:
        one, many = runs
        for key in ("accepted_events_per_s", "accepted_p99_ms"):
            if isinstance(one.get(key), (int, float)) and one[key]:
                print(f"{key + ' ratio':>30}: {many[key] / one[key]:.2f} ({args.replicas} replicas / 1)")


if __name__ == "__main__":
    main()
